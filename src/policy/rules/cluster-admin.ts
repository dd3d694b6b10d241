import type { Binding, Subject } from '../../admission/types.ts';
import type { Policy } from '../model.ts';
import { describeBinding, describeSubject, isGroup, sameSubject, subjectRef } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** cluster-admin (or a role the policy treats as such) held by anyone but the admin groups and listed subjects. */
export const clusterAdmin: Rule = {
  id: 'cluster-admin',
  defaultAction: 'deny',
  check: ({ binding, policy }) =>
    !grantsClusterAdmin(binding, policy)
      ? []
      : binding.subjects
          .filter((subject) => !mayHoldClusterAdmin(subject, policy))
          .map((subject) => ({
            subject,
            message:
              `${describeBinding(binding)} grants ${binding.roleRef.name}${scope(binding)} to ${describeSubject(subject)} [cluster-admin]: ` +
              `only the policy's adminGroups may hold it; ${alternative(binding)}`,
          })),
};

/** A namespaced Role that happens to be called cluster-admin is not the ClusterRole. */
export function grantsClusterAdmin(binding: Binding, policy: Policy): boolean {
  return binding.roleRef.kind === 'ClusterRole' && policy.clusterAdminRoles.includes(binding.roleRef.name);
}

function mayHoldClusterAdmin(subject: Subject, policy: Policy): boolean {
  if (isGroup(subject) && policy.adminGroups.includes(subject.name)) return true;
  return policy.allow.clusterAdminSubjects.some((allowed) => sameSubject(allowed, subjectRef(subject)));
}

function scope(binding: Binding): string {
  return binding.kind === 'RoleBinding' ? ` in namespace ${binding.namespace}` : '';
}

function alternative(binding: Binding): string {
  return binding.kind === 'RoleBinding'
    ? 'namespace administrators use ClusterRole admin'
    : 'bind a narrower role (admin, edit or view in a RoleBinding) or add the group to adminGroups';
}
