import { RBAC_GROUP, type Binding, type RbacRole } from '../admission/types.ts';
import { gatherFacts, type Directory } from '../directory/port.ts';
import type { Decision } from '../policy/decision.ts';
import { evaluate, type Review } from '../policy/engine.ts';
import { UNKNOWN_ROLES, roleKey, type Facts, type RoleFacts } from '../policy/facts.ts';
import type { Policy } from '../policy/model.ts';
import { factsNeeded } from '../policy/needs.ts';
import { withAggregatedRules } from '../policy/privileges.ts';
import { RoleIndex } from '../policy/role-index.ts';

/** Which object a result is about: `namespace` is "" for cluster-scoped objects. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface CheckedObject {
  /** Where the object came from: a file (and document), or `cluster` for audit. */
  readonly source: string;
  readonly object: ObjectRef;
  /** Set when the object is a RoleBinding or ClusterRoleBinding. */
  readonly binding?: Binding;
  /** Set when the object is a Role or ClusterRole (an aggregated ClusterRole with its rules filled in). */
  readonly role?: RbacRole;
  readonly decision: Decision;
}

/** One RBAC object to judge, with where it came from. */
export type RbacEntry = { readonly source: string; readonly binding: Binding } | { readonly source: string; readonly role: RbacRole };

export interface JudgeOptions {
  /** Named in notes about roles (`the input`, `the cluster`). */
  readonly rolesSource: string;
  /**
   * True when the entries are everything there is (a whole cluster): a roleRef to a role not among them names a role
   * that does not exist, and every binding that holds a role is among them and judged for what it grants, so a role
   * is not judged again through its bindings (that exists to stop a change widening a role under its bindings; what
   * exists has no change, and the finding belongs to the binding, once). False for manifests, which rarely hold the
   * cluster's default roles: there a role is judged against the input's bindings of it, as at admission.
   */
  readonly complete: boolean;
  /** Bounds the directory lookups (one batched lookup of every distinct group of every entry). */
  readonly deadline?: AbortSignal;
  /** The time the entries are judged at (ms since the epoch), for allow-list entries that expire; default now. */
  readonly now?: number;
}

/**
 * Judges RBAC objects with the same engine as the webhook, each as a CREATE: every distinct group of every entry is
 * looked up once, in one batched lookup. Bindings' roleRefs resolve against the roles among the entries (aggregated
 * ClusterRoles filled in from the ClusterRoles their selectors pick there), and each role is judged against the
 * bindings among the entries that reference it. Entries with no roles at all resolve nothing: bindings are then
 * judged on their roles' names.
 */
export async function judgeRbac(
  entries: readonly RbacEntry[],
  policy: Policy,
  directory: Directory | undefined,
  options: JudgeOptions,
): Promise<CheckedObject[]> {
  const filled = withAggregatedRules(entries.flatMap((entry) => ('role' in entry ? [entry.role] : [])));
  let next = 0;
  const resolved = entries.map((entry): RbacEntry => ('role' in entry ? { source: entry.source, role: filled[next++]! } : entry));
  const roleIndex = new RoleIndex();
  for (const entry of resolved) {
    if ('role' in entry) roleIndex.setRole(entry.role);
    else roleIndex.setBinding(entry.binding);
  }
  const declared = new Map(entries.flatMap((entry) => ('role' in entry ? [[roleKey(entry.role), entry.role] as const] : [])));
  const reviews = resolved.map(reviewOf);
  const needs = reviews.map((review) => factsNeeded(review, policy));
  const groupIds = [...new Set(needs.flatMap((need) => need.groupIds))];
  const directoryFacts = await gatherFacts({ groupIds }, directory, options.deadline);
  const haveRoles = filled.length > 0;
  // Not gathered for a whole cluster's roles, which would each copy the lists of their bindings only to drop them.
  const wholeClusterRoleFacts: RoleFacts = { source: options.rolesSource, complete: true, roles: new Map(), bindings: new Map(), aggregators: [] };
  const now = options.now ?? Date.now();
  return resolved.map((entry, index) => {
    const roles = !haveRoles
      ? UNKNOWN_ROLES
      : !('role' in entry)
        ? roleIndex.factsFor(needs[index]!, options.rolesSource, options.complete)
        : options.complete
          ? wholeClusterRoleFacts
          : withDeclaredAggregators(roleIndex.factsFor(needs[index]!, options.rolesSource, false), declared);
    const facts: Facts = { ...directoryFacts, roles, now };
    const decision = evaluate(reviews[index]!, policy, facts);
    return 'role' in entry
      ? { source: entry.source, object: refOf(entry.role), role: entry.role, decision }
      : { source: entry.source, object: refOf(entry.binding), binding: entry.binding, decision };
  });
}

/**
 * A role entry of manifests is judged with the aggregating roles as the input declares them, not as filled from the
 * input, which already holds the role under review: what they declare themselves is what was there before it. (A whole
 * cluster's roles are judged with nothing through bindings or aggregation: no change, the bindings carry the findings.)
 */
function withDeclaredAggregators(roles: RoleFacts, declared: ReadonlyMap<string, RbacRole>): RoleFacts {
  return roles.aggregators ? { ...roles, aggregators: roles.aggregators.map((aggregator) => declared.get(roleKey(aggregator)) ?? aggregator) } : roles;
}

function reviewOf(entry: RbacEntry): Review {
  return 'role' in entry
    ? { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: entry.role.kind }, role: entry.role }
    : { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: entry.binding.kind }, binding: entry.binding };
}

function refOf(object: ObjectRef): ObjectRef {
  return { kind: object.kind, namespace: object.namespace, name: object.name };
}
