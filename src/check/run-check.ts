import { isBindingKind, readBinding } from '../admission/binding.ts';
import { isRoleKind, readRole } from '../admission/role.ts';
import { RBAC_GROUP, type Binding, type RbacRole } from '../admission/types.ts';
import { gatherFacts, type Directory } from '../directory/port.ts';
import type { Decision } from '../policy/decision.ts';
import { evaluate, type Review } from '../policy/engine.ts';
import { UNKNOWN_ROLES, type Facts } from '../policy/facts.ts';
import type { Policy } from '../policy/model.ts';
import { factsNeeded } from '../policy/needs.ts';
import { withAggregatedRules } from '../policy/privileges.ts';
import { RoleIndex } from '../policy/role-index.ts';
import type { ManifestObject } from './manifests.ts';

/** Which object a result is about: `namespace` is "" for cluster-scoped objects. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface CheckedObject {
  readonly source: string;
  readonly object: ObjectRef;
  /** Set when the object is a RoleBinding or ClusterRoleBinding. */
  readonly binding?: Binding;
  /** Set when the object is a Role or ClusterRole (an aggregated ClusterRole with its rules filled in from the input). */
  readonly role?: RbacRole;
  readonly decision: Decision;
}

export interface CheckOutcome {
  readonly checked: readonly CheckedObject[];
  /** Objects that are not RBAC bindings or roles: counted, not judged. */
  readonly skipped: number;
}

/** Named in notes about roles a binding references that the input does not hold. */
export const INPUT_ROLES_SOURCE = 'the input';

type Entry = { readonly source: string; readonly binding: Binding } | { readonly source: string; readonly role: RbacRole };

/**
 * Judges manifests with the same engine as the webhook: each binding and role as a CREATE, groups looked up all at
 * once. Bindings' roleRefs resolve against the roles in the input (aggregated ClusterRoles filled in from the
 * ClusterRoles their selectors pick there), and each role is judged against the bindings in the input that reference
 * it. An input with no roles at all resolves nothing: its bindings are judged on their roles' names, as before.
 */
export async function checkManifests(
  objects: readonly ManifestObject[],
  policy: Policy,
  directory: Directory | undefined,
  defaultNamespace: string,
): Promise<CheckOutcome> {
  const read = objects.flatMap(({ source, object }): Entry[] => {
    if (!isRbac(object)) return [];
    if (isBindingKind(object['kind'])) {
      const binding = readBinding(object, source);
      return [{ source, binding: binding.kind === 'RoleBinding' && !binding.namespace ? { ...binding, namespace: defaultNamespace } : binding }];
    }
    const role = readRole(object, source);
    return [{ source, role: role.kind === 'Role' && !role.namespace ? { ...role, namespace: defaultNamespace } : role }];
  });
  const filled = withAggregatedRules(read.flatMap((entry) => ('role' in entry ? [entry.role] : [])));
  let next = 0;
  const entries = read.map((entry): Entry => ('role' in entry ? { source: entry.source, role: filled[next++]! } : entry));

  const roleIndex = new RoleIndex();
  for (const entry of entries) {
    if ('role' in entry) roleIndex.setRole(entry.role);
    else roleIndex.setBinding(entry.binding);
  }
  const reviews = entries.map(
    (entry): Review =>
      'role' in entry
        ? { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: entry.role.kind }, role: entry.role }
        : { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: entry.binding.kind }, binding: entry.binding },
  );
  const needs = reviews.map((review) => factsNeeded(review, policy));
  const groupIds = [...new Set(needs.flatMap((need) => need.groupIds))];
  const directoryFacts = await gatherFacts({ groupIds }, directory);
  const haveRoles = filled.length > 0;
  return {
    checked: entries.map((entry, index) => {
      const roles = haveRoles ? roleIndex.factsFor(needs[index]!, INPUT_ROLES_SOURCE, false) : UNKNOWN_ROLES;
      const facts: Facts = { ...directoryFacts, roles };
      const decision = evaluate(reviews[index]!, policy, facts);
      return 'role' in entry
        ? { source: entry.source, object: refOf(entry.role), role: entry.role, decision }
        : { source: entry.source, object: refOf(entry.binding), binding: entry.binding, decision };
    }),
    skipped: objects.length - entries.length,
  };
}

function refOf(object: ObjectRef): ObjectRef {
  return { kind: object.kind, namespace: object.namespace, name: object.name };
}

function isRbac(object: Record<string, unknown>): boolean {
  const apiVersion = object['apiVersion'];
  const kind = object['kind'];
  return typeof apiVersion === 'string' && apiVersion.startsWith(`${RBAC_GROUP}/`) && (isBindingKind(kind) || isRoleKind(kind));
}
