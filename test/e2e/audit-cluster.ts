/**
 * What test/e2e/audit.e2e.ts puts in the cluster, beside the API server's own bootstrap RBAC: compliant, violating,
 * exempt and allow-listed objects, the policy that judges them and the directory snapshot that knows their groups.
 */

export const PAYMENTS_GROUP = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
export const ADMIN_GROUP = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
export const M365_GROUP = '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59';
/** In no directory: a group deleted in Entra, or a typo. */
export const UNKNOWN_GROUP = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';

export const SNAPSHOT_YAML = `groups:
  - {id: ${PAYMENTS_GROUP}, displayName: Payments Team, securityEnabled: true}
  - {id: ${ADMIN_GROUP}, displayName: Cluster Admins, securityEnabled: true}
  - {id: ${M365_GROUP}, displayName: Payments (Microsoft 365), securityEnabled: false}
`;

export const POLICY_YAML = `apiVersion: entra-rbac-guard/v1
kind: Policy
adminGroups: [${ADMIN_GROUP}]
allow:
  users: [break-glass@contoso.com]
  namespaces: [platform-tools]
`;

/** The same policy with every rule that the seeds violate lowered to warn. */
export const WARN_POLICY_YAML = `${POLICY_YAML}rules:
  user-subject: warn
  group-unknown: warn
  group-not-security-enabled: warn
  cluster-admin: warn
  escalation: warn
  broad-group: warn
`;

export const AUDIT_MODE_POLICY_YAML = `${POLICY_YAML}mode: audit\n`;

const RBAC = 'rbac.authorization.k8s.io';
const group = (name: string) => `{kind: Group, apiGroup: ${RBAC}, name: "${name}"}`;
const user = (name: string) => `{kind: User, apiGroup: ${RBAC}, name: "${name}"}`;
const roleBinding = (namespace: string, name: string, role: string, subject: string) =>
  `apiVersion: ${RBAC}/v1\nkind: RoleBinding\nmetadata: {name: ${name}, namespace: ${namespace}}\nroleRef: {apiGroup: ${RBAC}, kind: ClusterRole, name: ${role}}\nsubjects: [${subject}]\n`;
const clusterRoleBinding = (name: string, role: string, subject: string) =>
  `apiVersion: ${RBAC}/v1\nkind: ClusterRoleBinding\nmetadata: {name: ${name}}\nroleRef: {apiGroup: ${RBAC}, kind: ClusterRole, name: ${role}}\nsubjects: [${subject}]\n`;

/** Each seeded RBAC object with the rule it breaks (or why it passes), as the audit must report it. */
export const SEEDS = {
  compliant: { kind: 'RoleBinding', namespace: 'payments', name: 'payments-viewers' },
  userSubject: { kind: 'RoleBinding', namespace: 'payments', name: 'carol-admin', rule: 'user-subject' },
  groupUnknown: { kind: 'RoleBinding', namespace: 'payments', name: 'stale-team', rule: 'group-unknown' },
  notSecurity: { kind: 'RoleBinding', namespace: 'payments', name: 'm365-team', rule: 'group-not-security-enabled' },
  broadGroup: { kind: 'ClusterRoleBinding', namespace: '', name: 'everyone-view', rule: 'broad-group' },
  clusterAdmin: { kind: 'ClusterRoleBinding', namespace: '', name: 'payments-cluster-admin', rule: 'cluster-admin' },
  escalation: { kind: 'ClusterRoleBinding', namespace: '', name: 'payments-impersonators', rule: 'escalation' },
  exemptNamespace: { kind: 'RoleBinding', namespace: 'platform-tools', name: 'tools' },
  allowListed: { kind: 'ClusterRoleBinding', namespace: '', name: 'break-glass' },
} as const;

export const SEED_NAMESPACES = `apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: v1
kind: Namespace
metadata: {name: platform-tools}
`;

/** The RBAC objects alone (also what `check` reads to compare its JSON with the audit's). */
export const SEED_RBAC = [
  roleBinding('payments', 'payments-viewers', 'view', group(PAYMENTS_GROUP)),
  roleBinding('payments', 'carol-admin', 'admin', user('carol@fabrikam.com')),
  roleBinding('payments', 'stale-team', 'edit', group(UNKNOWN_GROUP)),
  roleBinding('payments', 'm365-team', 'view', group(M365_GROUP)),
  clusterRoleBinding('everyone-view', 'view', group('system:authenticated')),
  clusterRoleBinding('payments-cluster-admin', 'cluster-admin', group(PAYMENTS_GROUP)),
  `apiVersion: ${RBAC}/v1\nkind: ClusterRole\nmetadata: {name: impersonator}\nrules: [{apiGroups: [""], resources: [users, groups], verbs: [impersonate]}]\n`,
  clusterRoleBinding('payments-impersonators', 'impersonator', group(PAYMENTS_GROUP)),
  roleBinding('platform-tools', 'tools', 'edit', user('dave@fabrikam.com')),
  clusterRoleBinding('break-glass', 'view', user('break-glass@contoso.com')),
].join('---\n');
