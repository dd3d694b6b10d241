import type { Binding, RbacRole, RoleKind } from '../admission/types.ts';

/**
 * What the edge found out for the pure engine: what the directory said about each Entra group a review names, and
 * what the roles its bindings name grant. Gathered at the edge, read by the pure engine.
 */

export type GroupFact =
  | { readonly state: 'found'; readonly displayName: string; readonly securityEnabled: boolean; readonly stale?: { readonly reason: string } }
  | { readonly state: 'not-found' }
  /** `remedy`: what to do, when it is not "retry" (a directory that is not configured at all). */
  | { readonly state: 'unavailable'; readonly reason: string; readonly remedy?: string };

export interface DirectoryFacts {
  /** Where the answers came from (`snapshot groups.yaml`, `Microsoft Graph`), or undefined when no directory is configured. */
  readonly source: string | undefined;
  readonly groups: ReadonlyMap<string, GroupFact>;
}

export const NO_DIRECTORY: DirectoryFacts = { source: undefined, groups: new Map() };

/** A group the edge did not look up counts as unavailable: the engine never guesses that a group exists. */
export function groupFact(facts: DirectoryFacts, id: string): GroupFact {
  return facts.groups.get(id) ?? { state: 'unavailable', reason: 'the group was not looked up' };
}

/** A role as a roleRef names it: a ClusterRole has namespace "". */
export interface RoleId {
  readonly kind: RoleKind;
  readonly namespace: string;
  readonly name: string;
}

/**
 * What the cluster (the role cache) or the input (`check`) says about the roles a review names: the roles a binding's
 * roleRef resolves to and, for a Role or ClusterRole under review, the bindings that reference it.
 */
export interface RoleFacts {
  /**
   * Where the answers came from (`the role cache`, `the input`), or undefined when roles are unknown: then bindings
   * are judged on their roleRef's name, as without a cache, and a role under review on its own rules only.
   */
  readonly source: string | undefined;
  /** Why roles are unknown although a source is configured (e.g. the cache has not synced yet); becomes a note. */
  readonly unknownBecause?: string;
  /**
   * True when a role absent from `roles` does not exist (the cluster); false when it may exist outside the answers
   * (`check` reads only its input, and the cluster's default roles are rarely in it).
   */
  readonly complete: boolean;
  /** The roles asked for that exist, by roleKey(); for an aggregated ClusterRole with its rules filled in. */
  readonly roles: ReadonlyMap<string, RbacRole>;
  /** For each role asked about, by roleKey(): every binding whose roleRef names it. */
  readonly bindings: ReadonlyMap<string, readonly Binding[]>;
  /**
   * The ClusterRoles whose aggregationRule selects the labels asked about (needs.aggregatorsOf): the roles a labelled
   * ClusterRole under review widens once the controller manager copies its rules. Their bindings are in `bindings`.
   */
  readonly aggregators?: readonly RbacRole[];
}

/** Every fact the engine reads: the directory's answers about groups, and the roles' facts when there are any. */
export interface Facts extends DirectoryFacts {
  readonly roles?: RoleFacts;
  /**
   * The time of the review (ms since the epoch), for allow-list entries that expire. Without it such an entry is taken
   * as expired: a break-glass grant never outlives its window because a front door forgot the clock.
   */
  readonly now?: number;
}

export const UNKNOWN_ROLES: RoleFacts = { source: undefined, complete: false, roles: new Map(), bindings: new Map() };

export function roleKey(role: RoleId): string {
  return `${role.kind}/${role.kind === 'ClusterRole' ? '' : role.namespace}/${role.name}`;
}

/** The role a binding's roleRef names, or undefined for a roleRef the API server would reject. */
export function roleIdOf(binding: Binding): RoleId | undefined {
  const { kind, name } = binding.roleRef;
  if (kind === 'ClusterRole') return { kind, namespace: '', name };
  if (kind === 'Role' && binding.kind === 'RoleBinding') return { kind, namespace: binding.namespace, name };
  return undefined;
}

export type RoleResolution =
  | { readonly state: 'found'; readonly role: RbacRole }
  /** Facts are known (source set) and the role is not among them. */
  | { readonly state: 'missing'; readonly source: string; readonly complete: boolean }
  | { readonly state: 'unknown' };

/** What a binding's roleRef resolves to. A role the facts do not hold while facts are known is missing, never guessed. */
export function resolveRole(binding: Binding, facts: Facts): RoleResolution {
  const roles = facts.roles ?? UNKNOWN_ROLES;
  const id = roleIdOf(binding);
  if (!id || roles.source === undefined) return { state: 'unknown' };
  const role = roles.roles.get(roleKey(id));
  return role ? { state: 'found', role } : { state: 'missing', source: roles.source, complete: roles.complete };
}
