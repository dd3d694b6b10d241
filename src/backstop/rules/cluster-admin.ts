import { DESCRIBED_SUBJECT, concat, judgedWhere, type BackstopRule } from './rule.ts';

/**
 * src/policy/rules/cluster-admin.ts by role name only: a ClusterRole in clusterAdminRoles bound to anyone but the
 * admin groups and allow.clusterAdminSubjects. A role that grants everything under another name needs the role's
 * contents, which only the webhook reads.
 */
export const clusterAdmin: BackstopRule = {
  id: 'cluster-admin',
  variable: 'clusterAdmin',
  violators:
    'variables.grantsClusterAdmin ? ' +
    judgedWhere(
      '!(s.kind == "Group" && s.name in variables.adminGroups) && !(s.key in variables.clusterAdminSubjects) && ' +
        '!(variables.oldGrantsClusterAdmin && s.key in variables.oldKeys)',
    ) +
    ' : []',
  message: concat(
    'variables.described',
    { text: ' grants ' },
    'object.roleRef.name',
    '(object.kind == "RoleBinding" && has(object.metadata.namespace) ? " in namespace " + object.metadata.namespace : "")',
    { text: ' to ' },
    DESCRIBED_SUBJECT,
    { text: " [cluster-admin]: only the policy's adminGroups may hold it; " },
    '(object.kind == "RoleBinding" ? "namespace administrators use ClusterRole admin" : "bind a narrower role (admin, edit or view in a RoleBinding) or add the group to adminGroups")',
  ),
};
