import { RBAC_GROUP, type Binding, type RbacRole } from '../../admission/types.ts';
import { evaluate } from '../../policy/engine.ts';
import { roleKey, type Facts } from '../../policy/facts.ts';
import type { Policy } from '../../policy/model.ts';
import { grantsEverything } from '../../policy/privileges.ts';
import { grantsClusterAdmin } from '../../policy/rules/cluster-admin.ts';
import { describeBinding } from '../../policy/subjects.ts';
import { fail, pass, verdict, warn, type CheckResult, type Finding } from '../check.ts';
import type { PreflightFacts } from '../facts.ts';
import { NO_ADMIN_GROUPS_FIX } from './admin-groups.ts';

const ID = 'admin-binding';
const TITLE = 'cluster-admin granted to an admin group';

/** Named in the fix: AKS makes this binding from --aad-admin-group-object-ids. */
const AKS_BINDING = 'aks-cluster-admin-binding-aad';

/**
 * Check 2: a ClusterRoleBinding grants cluster-admin, or a ClusterRole as strong (every verb on every resource), to
 * an admin group, and the webhook itself would let that binding in (judged by the engine, as a CREATE in enforce mode).
 */
export function checkAdminBinding(facts: PreflightFacts): CheckResult {
  const { policy } = facts;
  if (policy.adminGroups.length === 0) return verdict(ID, TITLE, [fail('the policy lists no adminGroups, so no binding can grant cluster-admin to one', NO_ADMIN_GROUPS_FIX)]);
  const bindings = adminGroupBindings(facts.rbac.bindings, facts.rbac.roles, policy);
  if (bindings.length === 0) {
    return verdict(ID, TITLE, [
      fail(
        `no ClusterRoleBinding grants cluster-admin (or a ClusterRole with every verb on every resource) to an admin group (${policy.adminGroups.join(', ')})`,
        `on AKS: az aks update -g RG -n CLUSTER --aad-admin-group-object-ids ${policy.adminGroups[0]} (AKS creates ClusterRoleBinding ${AKS_BINDING}); ` +
          `elsewhere: kubectl create clusterrolebinding entra-cluster-admins --clusterrole=cluster-admin --group=${policy.adminGroups[0]}.`,
      ),
    ]);
  }
  const judged = bindings.map((binding) => ({ binding, ...judge(binding, facts) }));
  const anyAllowed = judged.some((entry) => entry.allowed);
  return verdict(
    ID,
    TITLE,
    judged.map(({ binding, allowed, denials }): Finding => {
      const grant = `${describeBinding(binding)} grants ClusterRole ${binding.roleRef.name} to ${adminGroupsOf(binding, policy).map((id) => `Group ${id}`).join(', ')}`;
      if (allowed) return pass(`${grant}; the webhook would allow it`);
      const detail = `${grant}, but the webhook would deny it in enforce mode: ${denials.join('; ')}`;
      const fix = `fix ${describeBinding(binding)} as the denial says, so that the admin group's access survives enforcement.`;
      return anyAllowed ? warn(detail, fix) : fail(detail, fix);
    }),
    facts.directory.source === undefined ? ['groups were not checked in Entra ID (no directory): see admin-groups'] : [],
  );
}

/** The ClusterRoleBindings that grant cluster-admin (or as much) to an admin group. */
export function adminGroupBindings(bindings: readonly Binding[], roles: readonly RbacRole[], policy: Policy): Binding[] {
  return clusterAdminBindings(bindings, roles, policy).filter((binding) => adminGroupsOf(binding, policy).length > 0);
}

/** The ClusterRoleBindings whose ClusterRole is cluster-admin (by the policy's clusterAdminRoles) or grants as much. */
function clusterAdminBindings(bindings: readonly Binding[], roles: readonly RbacRole[], policy: Policy): Binding[] {
  const clusterRoles = new Map(roles.filter((role) => role.kind === 'ClusterRole').map((role) => [role.name, role]));
  return bindings.filter((binding) => {
    if (binding.kind !== 'ClusterRoleBinding') return false;
    if (grantsClusterAdmin(binding, policy)) return true;
    const role = binding.roleRef.kind === 'ClusterRole' ? clusterRoles.get(binding.roleRef.name) : undefined;
    return role !== undefined && grantsEverything(role.rules);
  });
}

/** The admin groups among the binding's subjects. */
function adminGroupsOf(binding: Binding, policy: Policy): string[] {
  return binding.subjects.filter((subject) => subject.kind === 'Group' && policy.adminGroups.includes(subject.name)).map((subject) => subject.name);
}

function judge(binding: Binding, facts: PreflightFacts): { allowed: boolean; denials: string[] } {
  const engineFacts: Facts = {
    source: facts.directory.source,
    groups: facts.directory.groups,
    roles: { source: 'the cluster', complete: true, roles: new Map(facts.rbac.roles.map((role) => [roleKey(role), role])), bindings: new Map() },
    now: facts.now,
  };
  const decision = evaluate(
    { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: 'ClusterRoleBinding' }, binding },
    { ...facts.policy, mode: 'enforce' },
    engineFacts,
  );
  return { allowed: decision.allowed, denials: decision.violations.filter((violation) => violation.action === 'deny').map((violation) => violation.message) };
}
