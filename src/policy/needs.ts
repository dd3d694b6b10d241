import type { Binding, RbacRole } from '../admission/types.ts';
import { roleIdOf, type RoleId } from './facts.ts';
import { compiledPolicy } from './compiled-policy.ts';
import type { Policy } from './model.ts';
import { subjectsOf } from './subject-traits.ts';
import { withoutTimeBoxed } from './time-boxed.ts';

export interface FactsNeeded {
  /** Entra object IDs (lower-case GUIDs only) to look up in the directory, each once. */
  readonly groupIds: readonly string[];
  /** Roles whose rules the engine reads: what a binding's roleRef names. */
  readonly roles?: readonly RoleId[];
  /** Roles whose bindings the engine reads: a Role or ClusterRole under review is judged against every binding of it. */
  readonly bindingsOf?: readonly RoleId[];
  /** A labelled ClusterRole under review: the ClusterRoles that aggregate it, and their bindings, are read too. */
  readonly aggregatorsOf?: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
}

/** What the engine can judge: a binding, or a Role or ClusterRole, each with what it was before an UPDATE. */
export interface ReviewedObject {
  readonly operation: string;
  readonly binding?: Binding;
  readonly role?: RbacRole;
}

/**
 * What the engine will need to know about a review, so the edge fetches exactly that and nothing else. Asked of the
 * policy without its time-boxed entries: the engine judges with and without them, and whether they have expired is
 * the clock's to say.
 */
export function factsNeeded(review: ReviewedObject, policy: Policy): FactsNeeded {
  return needsUnder(review, withoutTimeBoxed(policy));
}

/**
 * The Entra group IDs among a binding's subjects that a directory is asked about, whatever the binding's namespace
 * (preflight and `directory export` want them all): as factsNeeded asks, without the break-glass entries, so a group
 * they exempt now is known when they lapse.
 */
export function groupIdsOf(binding: Binding, policy: Policy): readonly string[] {
  return subjectsOf(binding.subjects, withoutTimeBoxed(policy)).entraGroupIds;
}

function needsUnder(review: ReviewedObject, policy: Policy): FactsNeeded {
  if (review.operation !== 'CREATE' && review.operation !== 'UPDATE') return { groupIds: [] };
  const { binding, role } = review;
  const { readsRoles, allowNamespaces } = compiledPolicy(policy);
  if (role) {
    if (!readsRoles || (role.kind === 'Role' && allowNamespaces.has(role.namespace))) return { groupIds: [] };
    const labelled = role.kind === 'ClusterRole' && Object.keys(role.labels).length > 0;
    return {
      groupIds: [],
      bindingsOf: [{ kind: role.kind, namespace: role.namespace, name: role.name }],
      ...(labelled ? { aggregatorsOf: { name: role.name, labels: role.labels } } : {}),
    };
  }
  if (!binding) return { groupIds: [] };
  if (binding.kind === 'RoleBinding' && allowNamespaces.has(binding.namespace)) return { groupIds: [] };
  const roleId = readsRoles ? roleIdOf(binding) : undefined;
  return {
    groupIds: policy.directory.verify ? subjectsOf(binding.subjects, policy).entraGroupIds : [],
    ...(roleId ? { roles: [roleId] } : {}),
  };
}
