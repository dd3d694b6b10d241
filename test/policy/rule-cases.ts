/**
 * The rule tables: for each rule, the bindings that must (and must not) violate it, with the policy and the directory
 * facts of each case. rules.test.ts runs them through the engine; the backstop's tests (test/vap) run them through
 * the generated CEL too.
 */
import type { Binding, Subject } from '../../src/admission/types.ts';
import { NO_DIRECTORY, type DirectoryFacts } from '../../src/policy/facts.ts';
import type { Policy, RuleId } from '../../src/policy/model.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import {
  ADMIN_GROUP_ID,
  GROUP_ID,
  M365_GROUP,
  SECURITY_GROUP,
  clusterRoleBinding,
  directoryFacts,
  group,
  policyWith,
  policyWithAllow,
  policyWithDirectory,
  policyWithRules,
  roleBinding,
  serviceAccount,
  user,
} from '../helpers.ts';

export interface Expected {
  readonly subject: Subject;
  readonly action: 'deny' | 'warn';
}

export interface Case {
  readonly name: string;
  readonly binding: Binding;
  readonly policy: Policy;
  readonly facts: DirectoryFacts;
  /** This rule's violations, in subject order; empty when the rule must not fire. */
  readonly expected: readonly Expected[];
  /** The whole decision. */
  readonly allowed: boolean;
  /** Text every message of this rule must hold besides binding, subject and [rule-id]: what to do instead. */
  readonly fix: readonly string[];
  /** When set: the decision's notes, one substring per note (an empty list: no note at all). */
  readonly notes?: readonly string[];
}

const UPPER_GUID = GROUP_ID.toUpperCase();
const BRACED_GUID = `{${GROUP_ID}}`;
const BRACED_UPPER_GUID = `{${UPPER_GUID}}`;

/** Filled below, one table per rule, in the order of the rules. */
export const RULE_CASES = {} as Record<Exclude<RuleId, 'escalation'>, readonly Case[]>;

const CHECKED = directoryFacts({ [GROUP_ID]: SECURITY_GROUP, [ADMIN_GROUP_ID]: SECURITY_GROUP });

// ---------------------------------------------------------------- user-subject

const alice = user('alice@contoso.com');
const userSubjectDefault: Case = {
  name: 'UPN in RoleBinding',
  binding: roleBinding([alice]),
  policy: policyWith(),
  facts: NO_DIRECTORY,
  expected: [{ subject: alice, action: 'deny' }],
  allowed: false,
  fix: ['directly', 'bind a Microsoft Entra group by object ID instead'],
};
RULE_CASES['user-subject'] = [
  userSubjectDefault,
  {
    ...userSubjectDefault,
    name: 'UPN in ClusterRoleBinding',
    binding: clusterRoleBinding([alice]),
  },
  {
    ...userSubjectDefault,
    name: 'user object ID (a GUID is still one account)',
    binding: roleBinding([user(GROUP_ID)]),
    expected: [{ subject: user(GROUP_ID), action: 'deny' }],
  },
  {
    ...userSubjectDefault,
    name: 'two users, one listed in allow.users',
    binding: roleBinding([user('breakglass@contoso.com'), alice]),
    policy: policyWithAllow({ users: ['breakglass@contoso.com'] }),
    expected: [{ subject: alice, action: 'deny' }],
  },
  {
    ...userSubjectDefault,
    name: 'user listed in allow.users',
    policy: policyWithAllow({ users: ['alice@contoso.com'] }),
    expected: [],
    allowed: true,
  },
  {
    ...userSubjectDefault,
    name: 'allow.groups does not allow a User of the same name',
    policy: policyWithAllow({ groups: ['alice@contoso.com'] }),
  },
  {
    ...userSubjectDefault,
    name: 'ServiceAccount',
    binding: roleBinding([serviceAccount('retail-app', 'reporter')]),
    expected: [],
    allowed: true,
  },
  {
    ...userSubjectDefault,
    name: 'system: component user',
    binding: roleBinding([user('system:kube-scheduler')]),
    expected: [],
    allowed: true,
  },
  {
    ...userSubjectDefault,
    name: 'User system:anonymous is left to broad-group',
    binding: roleBinding([user('system:anonymous')]),
    expected: [],
    allowed: false,
  },
  {
    ...userSubjectDefault,
    name: 'User clusterAdmin is left to local-account',
    binding: roleBinding([user('clusterAdmin')]),
    expected: [],
    allowed: false,
  },
  {
    ...userSubjectDefault,
    name: 'canonical Entra group',
    binding: roleBinding([group(GROUP_ID)]),
    facts: CHECKED,
    expected: [],
    allowed: true,
    notes: [],
  },
  {
    ...userSubjectDefault,
    name: 'rules.user-subject off',
    policy: policyWithRules({ 'user-subject': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...userSubjectDefault,
    name: 'rules.user-subject warn',
    policy: policyWithRules({ 'user-subject': 'warn' }),
    expected: [{ subject: alice, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- group-format

const byName = group('Payments Team');
const groupFormatDefault: Case = {
  name: 'display name',
  binding: roleBinding([byName]),
  policy: policyWith(),
  facts: NO_DIRECTORY,
  expected: [{ subject: byName, action: 'deny' }],
  allowed: false,
  fix: ['display name never matches', 'az ad group show --group NAME --query id'],
  notes: [],
};
RULE_CASES['group-format'] = [
  groupFormatDefault,
  {
    ...groupFormatDefault,
    name: 'display name in ClusterRoleBinding',
    binding: clusterRoleBinding([byName]),
  },
  {
    ...groupFormatDefault,
    name: 'upper-case GUID',
    binding: roleBinding([group(UPPER_GUID)]),
    expected: [{ subject: group(UPPER_GUID), action: 'deny' }],
    fix: ['lower case without braces', `use "${GROUP_ID}"`],
  },
  {
    ...groupFormatDefault,
    name: 'GUID in braces',
    binding: roleBinding([group(BRACED_GUID)]),
    expected: [{ subject: group(BRACED_GUID), action: 'deny' }],
    fix: ['lower case without braces', `use "${GROUP_ID}"`],
  },
  {
    ...groupFormatDefault,
    name: 'upper-case GUID in braces',
    binding: roleBinding([group(BRACED_UPPER_GUID)]),
    expected: [{ subject: group(BRACED_UPPER_GUID), action: 'deny' }],
    fix: ['lower case without braces', `use "${GROUP_ID}"`],
  },
  {
    ...groupFormatDefault,
    name: 'canonical GUID',
    binding: roleBinding([group(GROUP_ID)]),
    facts: CHECKED,
    expected: [],
    allowed: true,
  },
  {
    ...groupFormatDefault,
    name: 'system:serviceaccounts:retail-app',
    binding: roleBinding([group('system:serviceaccounts:retail-app')]),
    expected: [],
    allowed: true,
  },
  {
    ...groupFormatDefault,
    name: 'system:authenticted, a system: group Kubernetes never issues (a typo)',
    binding: clusterRoleBinding([group('system:authenticted')]),
    expected: [{ subject: group('system:authenticted'), action: 'deny' }],
    fix: ['Kubernetes never puts this group in a token', 'grants nothing', 'did you mean "system:authenticated"?'],
  },
  {
    ...groupFormatDefault,
    name: 'system:payments-admins, nothing like an issued group',
    binding: roleBinding([group('system:payments-admins')]),
    expected: [{ subject: group('system:payments-admins'), action: 'deny' }],
    fix: ['Kubernetes never puts this group in a token', 'bind a Microsoft Entra group by object ID', 'system:serviceaccounts:<namespace>'],
  },
  {
    ...groupFormatDefault,
    name: 'system:serviceaccounts: with no namespace',
    binding: roleBinding([group('system:serviceaccounts:')]),
    expected: [{ subject: group('system:serviceaccounts:'), action: 'deny' }],
    fix: ['Kubernetes never puts this group in a token', 'did you mean "system:serviceaccounts"?'],
  },
  ...['system:nodes', 'system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:monitoring'].map((name) => ({
    ...groupFormatDefault,
    name: `${name}, a group Kubernetes issues`,
    binding: roleBinding([group(name)]),
    expected: [],
    allowed: true,
  })),
  {
    ...groupFormatDefault,
    name: 'Group system:anonymous is left to broad-group',
    binding: roleBinding([group('system:anonymous')]),
    expected: [],
    allowed: false,
  },
  {
    ...groupFormatDefault,
    name: 'a system: group listed in allow.groups',
    binding: roleBinding([group('system:legacy-operators')]),
    policy: policyWithAllow({ groups: ['system:legacy-operators'] }),
    expected: [],
    allowed: true,
  },
  {
    ...groupFormatDefault,
    name: 'system:masters is left to local-account',
    binding: roleBinding([group('system:masters')]),
    expected: [],
    allowed: false,
  },
  {
    ...groupFormatDefault,
    name: 'group listed in allow.groups',
    policy: policyWithAllow({ groups: ['Payments Team'] }),
    expected: [],
    allowed: true,
  },
  {
    ...groupFormatDefault,
    name: 'allow.users does not allow a Group of the same name',
    policy: policyWithAllow({ users: ['Payments Team'] }),
  },
  {
    ...groupFormatDefault,
    name: 'a User named like a group is user-subject, not group-format',
    binding: roleBinding([user('Payments Team')]),
    expected: [],
    allowed: false,
  },
  {
    ...groupFormatDefault,
    name: 'rules.group-format off',
    policy: policyWithRules({ 'group-format': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...groupFormatDefault,
    name: 'rules.group-format warn',
    policy: policyWithRules({ 'group-format': 'warn' }),
    expected: [{ subject: byName, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- group-unknown

const entraGroup = group(GROUP_ID);
const groupUnknownDefault: Case = {
  name: 'object ID not found in the snapshot',
  binding: roleBinding([entraGroup]),
  policy: policyWith(),
  facts: directoryFacts({ [GROUP_ID]: { state: 'not-found' } }, 'snapshot groups.yaml'),
  expected: [{ subject: entraGroup, action: 'deny' }],
  allowed: false,
  fix: ['snapshot groups.yaml', `az ad group show --group ${GROUP_ID}`],
  notes: [],
};
RULE_CASES['group-unknown'] = [
  groupUnknownDefault,
  {
    ...groupUnknownDefault,
    name: 'object ID not found, in a ClusterRoleBinding',
    binding: clusterRoleBinding([entraGroup]),
  },
  {
    ...groupUnknownDefault,
    name: 'found security group',
    facts: directoryFacts({ [GROUP_ID]: SECURITY_GROUP }),
    expected: [],
    allowed: true,
  },
  {
    ...groupUnknownDefault,
    name: 'found non-security group is group-not-security-enabled',
    facts: directoryFacts({ [GROUP_ID]: M365_GROUP }),
    expected: [],
    allowed: false,
  },
  {
    ...groupUnknownDefault,
    name: 'directory unavailable is directory-unavailable',
    facts: directoryFacts({ [GROUP_ID]: { state: 'unavailable', reason: 'Graph returned 503' } }),
    expected: [],
    allowed: false,
  },
  {
    ...groupUnknownDefault,
    name: 'no directory configured (note instead)',
    facts: NO_DIRECTORY,
    expected: [],
    allowed: true,
    notes: [`"${GROUP_ID}" not checked in Microsoft Entra ID`],
  },
  {
    ...groupUnknownDefault,
    name: 'directory.verify false',
    policy: policyWithDirectory({ verify: false }),
    expected: [],
    allowed: true,
  },
  {
    ...groupUnknownDefault,
    name: 'directory.verify false and no directory (no note either)',
    policy: policyWithDirectory({ verify: false }),
    facts: NO_DIRECTORY,
    expected: [],
    allowed: true,
    notes: [],
  },
  {
    ...groupUnknownDefault,
    name: 'object ID listed in allow.groups',
    policy: policyWithAllow({ groups: [GROUP_ID] }),
    expected: [],
    allowed: true,
  },
  {
    ...groupUnknownDefault,
    name: 'rules.group-unknown off',
    policy: policyWithRules({ 'group-unknown': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...groupUnknownDefault,
    name: 'rules.group-unknown warn',
    policy: policyWithRules({ 'group-unknown': 'warn' }),
    expected: [{ subject: entraGroup, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- group-not-security-enabled

const groupNotSecurityEnabledDefault: Case = {
  name: 'Microsoft 365 group from the snapshot',
  binding: roleBinding([entraGroup]),
  policy: policyWith(),
  facts: directoryFacts({ [GROUP_ID]: M365_GROUP }),
  expected: [{ subject: entraGroup, action: 'deny' }],
  allowed: false,
  fix: ['"Payments (Microsoft 365)"', 'not security-enabled', 'bind a security group'],
  notes: [],
};
RULE_CASES['group-not-security-enabled'] = [
  groupNotSecurityEnabledDefault,
  {
    ...groupNotSecurityEnabledDefault,
    name: 'Microsoft 365 group in a ClusterRoleBinding',
    binding: clusterRoleBinding([entraGroup]),
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'security group',
    facts: directoryFacts({ [GROUP_ID]: SECURITY_GROUP }),
    expected: [],
    allowed: true,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'directory.requireSecurityEnabled false',
    policy: policyWithDirectory({ requireSecurityEnabled: false }),
    expected: [],
    allowed: true,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'directory.verify false',
    policy: policyWithDirectory({ verify: false }),
    expected: [],
    allowed: true,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'no directory configured (note instead)',
    facts: NO_DIRECTORY,
    expected: [],
    allowed: true,
    notes: [`"${GROUP_ID}" not checked`],
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'group not found is group-unknown',
    facts: directoryFacts({ [GROUP_ID]: { state: 'not-found' } }),
    expected: [],
    allowed: false,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'object ID listed in allow.groups',
    policy: policyWithAllow({ groups: [GROUP_ID] }),
    expected: [],
    allowed: true,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'rules.group-not-security-enabled off',
    policy: policyWithRules({ 'group-not-security-enabled': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...groupNotSecurityEnabledDefault,
    name: 'rules.group-not-security-enabled warn',
    policy: policyWithRules({ 'group-not-security-enabled': 'warn' }),
    expected: [{ subject: entraGroup, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- directory-unavailable

const directoryUnavailableDefault: Case = {
  name: 'snapshot says unavailable, onError deny',
  binding: roleBinding([entraGroup]),
  policy: policyWith(),
  facts: directoryFacts({ [GROUP_ID]: { state: 'unavailable', reason: 'Microsoft Graph timed out after 3s' } }),
  expected: [{ subject: entraGroup, action: 'deny' }],
  allowed: false,
  fix: ['(Microsoft Graph timed out after 3s)', 'retry shortly'],
  notes: [],
};
RULE_CASES['directory-unavailable'] = [
  directoryUnavailableDefault,
  {
    ...directoryUnavailableDefault,
    name: 'onError allow',
    policy: policyWithDirectory({ onError: 'allow' }),
    expected: [{ subject: entraGroup, action: 'warn' }],
    allowed: true,
  },
  {
    ...directoryUnavailableDefault,
    name: 'group the edge did not look up',
    facts: directoryFacts({}),
    fix: ['(the group was not looked up)', 'retry shortly'],
  },
  {
    ...directoryUnavailableDefault,
    name: 'rules.directory-unavailable off is ignored (it follows directory.onError)',
    policy: policyWithRules({ 'directory-unavailable': 'off' }),
  },
  {
    ...directoryUnavailableDefault,
    name: 'rules.directory-unavailable deny is ignored when onError allow',
    policy: policyWithRules({ 'directory-unavailable': 'deny' }, { directory: { ...DEFAULT_POLICY.directory, onError: 'allow' } }),
    expected: [{ subject: entraGroup, action: 'warn' }],
    allowed: true,
  },
  {
    ...directoryUnavailableDefault,
    name: 'found security group',
    facts: directoryFacts({ [GROUP_ID]: SECURITY_GROUP }),
    expected: [],
    allowed: true,
  },
  {
    ...directoryUnavailableDefault,
    name: 'no directory configured (note instead)',
    facts: NO_DIRECTORY,
    expected: [],
    allowed: true,
    notes: [`"${GROUP_ID}" not checked`],
  },
  {
    ...directoryUnavailableDefault,
    name: 'directory.verify false',
    policy: policyWithDirectory({ verify: false }),
    expected: [],
    allowed: true,
  },
  {
    ...directoryUnavailableDefault,
    name: 'object ID listed in allow.groups',
    policy: policyWithAllow({ groups: [GROUP_ID] }),
    expected: [],
    allowed: true,
  },
  {
    ...directoryUnavailableDefault,
    name: 'display name is never looked up (group-format instead)',
    binding: roleBinding([byName]),
    expected: [],
    allowed: false,
  },
];

// ---------------------------------------------------------------- cluster-admin

const adminGroup = group(ADMIN_GROUP_ID);
const argoController = serviceAccount('argocd', 'argocd-application-controller');
const clusterAdminDefault: Case = {
  name: 'non-admin group in ClusterRoleBinding',
  binding: clusterRoleBinding([entraGroup], 'cluster-admin'),
  policy: policyWith(),
  facts: CHECKED,
  expected: [{ subject: entraGroup, action: 'deny' }],
  allowed: false,
  fix: ['grants cluster-admin to Group', 'adminGroups', 'bind a narrower role'],
  notes: [],
};
RULE_CASES['cluster-admin'] = [
  clusterAdminDefault,
  {
    ...clusterAdminDefault,
    name: 'non-admin group in RoleBinding',
    binding: roleBinding([entraGroup], { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } }),
    fix: ['grants cluster-admin in namespace retail-app to Group', 'namespace administrators use ClusterRole admin'],
  },
  {
    ...clusterAdminDefault,
    name: 'admin group in ClusterRoleBinding',
    binding: clusterRoleBinding([adminGroup], 'cluster-admin'),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'admin group in RoleBinding',
    binding: roleBinding([adminGroup], { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'admin group and another group: only the other',
    binding: clusterRoleBinding([adminGroup, entraGroup], 'cluster-admin'),
  },
  {
    ...clusterAdminDefault,
    name: 'admin group ID as a User is not the admin group',
    binding: clusterRoleBinding([user(ADMIN_GROUP_ID)], 'cluster-admin'),
    expected: [{ subject: user(ADMIN_GROUP_ID), action: 'deny' }],
    fix: ['grants cluster-admin to User', 'bind a narrower role'],
  },
  {
    ...clusterAdminDefault,
    name: 'group in allow.clusterAdminSubjects',
    policy: policyWithAllow({ clusterAdminSubjects: [{ kind: 'Group', name: GROUP_ID }] }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'ServiceAccount in allow.clusterAdminSubjects',
    binding: clusterRoleBinding([argoController], 'cluster-admin'),
    policy: policyWithAllow({
      clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'argocd', name: 'argocd-application-controller' }],
    }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'ServiceAccount of the same name in another namespace',
    binding: clusterRoleBinding([serviceAccount('retail-app', 'argocd-application-controller')], 'cluster-admin'),
    policy: policyWithAllow({
      clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'argocd', name: 'argocd-application-controller' }],
    }),
    expected: [{ subject: serviceAccount('retail-app', 'argocd-application-controller'), action: 'deny' }],
    fix: ['grants cluster-admin to ServiceAccount', 'bind a narrower role'],
  },
  {
    ...clusterAdminDefault,
    name: 'ServiceAccount not listed',
    binding: clusterRoleBinding([argoController], 'cluster-admin'),
    expected: [{ subject: argoController, action: 'deny' }],
    fix: ['grants cluster-admin to ServiceAccount', 'bind a narrower role'],
  },
  {
    ...clusterAdminDefault,
    name: 'allow.groups does not allow cluster-admin',
    policy: policyWithAllow({ groups: [GROUP_ID] }),
  },
  {
    ...clusterAdminDefault,
    name: 'namespaced Role named cluster-admin is not the ClusterRole',
    binding: roleBinding([entraGroup], { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cluster-admin' } }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'ClusterRole admin',
    binding: clusterRoleBinding([entraGroup], 'admin'),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'custom clusterAdminRoles',
    binding: clusterRoleBinding([entraGroup], 'platform-superuser'),
    policy: policyWith({ clusterAdminRoles: ['cluster-admin', 'platform-superuser'] }),
    fix: ['grants platform-superuser to Group', 'adminGroups'],
  },
  {
    ...clusterAdminDefault,
    name: 'custom role not in default clusterAdminRoles',
    binding: clusterRoleBinding([entraGroup], 'platform-superuser'),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'clusterAdminRoles without cluster-admin',
    policy: policyWith({ clusterAdminRoles: ['platform-superuser'] }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'rules.cluster-admin off',
    policy: policyWithRules({ 'cluster-admin': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...clusterAdminDefault,
    name: 'rules.cluster-admin warn',
    policy: policyWithRules({ 'cluster-admin': 'warn' }),
    expected: [{ subject: entraGroup, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- broad-group

const authenticated = group('system:authenticated');
const broadGroupDefault: Case = {
  name: 'Group system:authenticated',
  binding: clusterRoleBinding([authenticated]),
  policy: policyWith(),
  facts: NO_DIRECTORY,
  expected: [{ subject: authenticated, action: 'deny' }],
  allowed: false,
  fix: ['every signed-in account', 'bind a specific Microsoft Entra group instead'],
  notes: [],
};
RULE_CASES['broad-group'] = [
  broadGroupDefault,
  {
    ...broadGroupDefault,
    name: 'Group system:authenticated in RoleBinding',
    binding: roleBinding([authenticated]),
  },
  {
    ...broadGroupDefault,
    name: 'Group system:unauthenticated',
    binding: clusterRoleBinding([group('system:unauthenticated')]),
    expected: [{ subject: group('system:unauthenticated'), action: 'deny' }],
    fix: ['every anonymous request', 'bind a specific Microsoft Entra group instead'],
  },
  {
    ...broadGroupDefault,
    name: 'Group system:serviceaccounts',
    binding: clusterRoleBinding([group('system:serviceaccounts')]),
    expected: [{ subject: group('system:serviceaccounts'), action: 'deny' }],
    fix: ['every service account in every namespace', 'bind a specific Microsoft Entra group instead'],
  },
  {
    ...broadGroupDefault,
    name: 'User system:anonymous',
    binding: clusterRoleBinding([user('system:anonymous')]),
    expected: [{ subject: user('system:anonymous'), action: 'deny' }],
    fix: ['every anonymous request', 'bind a specific Microsoft Entra group instead'],
  },
  {
    ...broadGroupDefault,
    name: 'Group system:serviceaccounts:retail-app',
    binding: clusterRoleBinding([group('system:serviceaccounts:retail-app')]),
    expected: [],
    allowed: true,
  },
  {
    ...broadGroupDefault,
    name: 'Group system:anonymous: a user named as a group, meant as anonymous access',
    binding: clusterRoleBinding([group('system:anonymous')]),
    expected: [{ subject: group('system:anonymous'), action: 'deny' }],
    fix: ['system:anonymous is a user, not a group', 'grants nothing', 'bind a specific Microsoft Entra group instead'],
  },
  {
    ...broadGroupDefault,
    name: 'Group system:anonymous in a RoleBinding',
    binding: roleBinding([group('system:anonymous')]),
    expected: [{ subject: group('system:anonymous'), action: 'deny' }],
    fix: ['system:anonymous is a user, not a group'],
  },
  {
    ...broadGroupDefault,
    name: 'listed in allow.groups',
    policy: policyWithAllow({ groups: ['system:authenticated'] }),
    expected: [],
    allowed: true,
  },
  {
    ...broadGroupDefault,
    name: 'rules.broad-group off',
    policy: policyWithRules({ 'broad-group': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...broadGroupDefault,
    name: 'rules.broad-group warn',
    policy: policyWithRules({ 'broad-group': 'warn' }),
    expected: [{ subject: authenticated, action: 'warn' }],
    allowed: true,
  },
];

// ---------------------------------------------------------------- local-account

const masters = group('system:masters');
const localAccountDefault: Case = {
  name: 'Group system:masters',
  binding: clusterRoleBinding([masters]),
  policy: policyWith(),
  facts: NO_DIRECTORY,
  expected: [{ subject: masters, action: 'deny' }],
  allowed: false,
  fix: ['client certificates', 'az aks update --disable-local-accounts'],
  notes: [],
};
RULE_CASES['local-account'] = [
  localAccountDefault,
  {
    ...localAccountDefault,
    name: 'Group system:masters in RoleBinding',
    binding: roleBinding([masters]),
  },
  {
    ...localAccountDefault,
    name: 'User clusterAdmin',
    binding: clusterRoleBinding([user('clusterAdmin')]),
    expected: [{ subject: user('clusterAdmin'), action: 'deny' }],
    fix: ['AKS local admin account', 'az aks update --disable-local-accounts'],
  },
  {
    ...localAccountDefault,
    name: 'User clusterUser',
    binding: clusterRoleBinding([user('clusterUser')]),
    expected: [{ subject: user('clusterUser'), action: 'deny' }],
    fix: ['AKS local user account', 'az aks update --disable-local-accounts'],
  },
  {
    ...localAccountDefault,
    name: 'User system:masters is not the group',
    binding: clusterRoleBinding([user('system:masters')]),
    expected: [],
    allowed: true,
  },
  {
    ...localAccountDefault,
    name: 'User clusterUser listed in allow.users',
    binding: clusterRoleBinding([user('clusterUser')]),
    policy: policyWithAllow({ users: ['clusterUser'] }),
    expected: [],
    allowed: true,
  },
  {
    ...localAccountDefault,
    name: 'Group system:masters listed in allow.groups',
    policy: policyWithAllow({ groups: ['system:masters'] }),
    expected: [],
    allowed: true,
  },
  {
    ...localAccountDefault,
    name: 'rules.local-account off',
    policy: policyWithRules({ 'local-account': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...localAccountDefault,
    name: 'rules.local-account warn',
    policy: policyWithRules({ 'local-account': 'warn' }),
    expected: [{ subject: masters, action: 'warn' }],
    allowed: true,
  },
];
