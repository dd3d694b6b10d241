import type { Binding, Subject } from '../../admission/types.ts';
import type { Policy } from '../model.ts';
import { grantsEverything } from '../privileges.ts';
import { describeBinding, describeSubject, isGroup, sameSubject, subjectRef } from '../subjects.ts';
import { boundRole, describeRole, type Rule, type RuleContext } from './rule.ts';

const EVERYTHING = 'everything (all verbs on all resources in all API groups)';

/**
 * cluster-admin held by anyone but the admin groups and listed subjects: a ClusterRole the policy names in
 * clusterAdminRoles, or any ClusterRole whose rules grant everything, however it is called.
 */
export const clusterAdmin: Rule = {
  id: 'cluster-admin',
  defaultAction: 'deny',
  readsRole: true,
  check: (context) => {
    const why = clusterAdminBecause(context);
    if (!why) return [];
    const { binding, policy } = context;
    return binding.subjects
      .filter((subject) => !mayHoldClusterAdmin(subject, policy))
      .map((subject) => ({ subject, message: context.changedRole ? roleMessage(context, subject, why) : bindingMessage(binding, subject, why) }));
  },
};

/** A namespaced Role that happens to be called cluster-admin is not the ClusterRole. */
export function grantsClusterAdmin(binding: Binding, policy: Policy): boolean {
  return binding.roleRef.kind === 'ClusterRole' && policy.clusterAdminRoles.includes(binding.roleRef.name);
}

/**
 * Why the binding grants cluster-admin: its ClusterRole is listed in clusterAdminRoles, or it grants everything.
 * A namespaced Role never does: whatever it grants stays in its namespace (the escalation rule judges it).
 */
export function clusterAdminBecause(context: RuleContext): 'listed' | 'everything' | undefined {
  if (grantsClusterAdmin(context.binding, context.policy)) return 'listed';
  const resolved = boundRole(context);
  if (resolved.state !== 'found' || resolved.role.kind !== 'ClusterRole') return undefined;
  return grantsEverything(resolved.role.rules) ? 'everything' : undefined;
}

export function mayHoldClusterAdmin(subject: Subject, policy: Policy): boolean {
  if (isGroup(subject) && policy.adminGroups.includes(subject.name)) return true;
  return policy.allow.clusterAdminSubjects.some((allowed) => sameSubject(allowed, subjectRef(subject)));
}

function bindingMessage(binding: Binding, subject: Subject, why: 'listed' | 'everything'): string {
  const role = `${binding.roleRef.name}${scope(binding)}`;
  return why === 'listed'
    ? `${describeBinding(binding)} grants ${role} to ${describeSubject(subject)} [cluster-admin]: ` +
        `${ONLY_ADMIN_GROUPS}; ${alternative(binding)}`
    : `${describeBinding(binding)} grants ${role} to ${describeSubject(subject)} [cluster-admin]: ` +
        `ClusterRole ${binding.roleRef.name} grants ${EVERYTHING}, which is cluster-admin under another name, and ${ONLY_ADMIN_GROUPS}; ` +
        alternative(binding);
}

function roleMessage(context: RuleContext, subject: Subject, why: 'listed' | 'everything'): string {
  const { binding } = context;
  const role = describeRole(context.changedRole!);
  const what = why === 'listed' ? 'cluster-admin (the policy lists it in clusterAdminRoles)' : EVERYTHING;
  return (
    `${role} would grant ${what}${scope(binding)} to ${describeSubject(subject)} through ${describeBinding(binding)} [cluster-admin]: ` +
    `only the policy's adminGroups may hold cluster-admin; keep the role narrower, or first delete ${describeBinding(binding)} ` +
    '(or bind the role to an admin group instead)'
  );
}

function scope(binding: Binding): string {
  return binding.kind === 'RoleBinding' ? ` in namespace ${binding.namespace}` : '';
}

/** What to do instead, by the binding's kind; the backstop says it too. */
export const CLUSTER_ADMIN_ADVICE = {
  RoleBinding: 'namespace administrators use ClusterRole admin',
  ClusterRoleBinding: 'bind a narrower role (admin, edit or view in a RoleBinding) or add the group to adminGroups',
} as const;

/** Who may hold it, as the binding's message says it. */
export const ONLY_ADMIN_GROUPS = "only the policy's adminGroups may hold it";

function alternative(binding: Binding): string {
  return CLUSTER_ADMIN_ADVICE[binding.kind];
}
