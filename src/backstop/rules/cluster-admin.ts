import { CLUSTER_ADMIN_ADVICE, ONLY_ADMIN_GROUPS } from '../../policy/rules/cluster-admin.ts';
import { celString } from '../cel.ts';
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
    { text: ` [cluster-admin]: ${ONLY_ADMIN_GROUPS}; ` },
    `(object.kind == "RoleBinding" ? ${celString(CLUSTER_ADMIN_ADVICE.RoleBinding)} : ${celString(CLUSTER_ADMIN_ADVICE.ClusterRoleBinding)})`,
  ),
};
