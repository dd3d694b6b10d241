/** The pure preflight checks, one table each: what passes, what warns, what fails, and what it says to do. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CheckResult, CheckStatus } from '../../src/preflight/check.ts';
import { checkAdminBinding } from '../../src/preflight/checks/admin-binding.ts';
import { checkAdminGroups } from '../../src/preflight/checks/admin-groups.ts';
import { checkLocalAccounts, SYSTEM_MASTERS_NOTE } from '../../src/preflight/checks/local-accounts.ts';
import { checkPolicyMode } from '../../src/preflight/checks/policy-mode.ts';
import { checkWebhookEndpoints } from '../../src/preflight/checks/webhook-endpoints.ts';
import { checkWebhookFailurePolicy } from '../../src/preflight/checks/webhook-failure-policy.ts';
import { checkWebhookInstalled } from '../../src/preflight/checks/webhook-installed.ts';
import { checkWebhookNamespace } from '../../src/preflight/checks/webhook-namespace.ts';
import { checkWebhookDisruptionBudget } from '../../src/preflight/checks/webhook-pdb.ts';
import type { PreflightFacts } from '../../src/preflight/facts.ts';
import { ADMIN_GROUP_ID, GROUP_ID, clusterRoleBinding, group, roleBinding, user } from '../helpers.ts';
import { clusterRole, rule, WILDCARD } from '../policy/role-helpers.ts';
import { ADMINS, AKS_ADMIN_BINDING, configuration, NAMESPACE, PDB, preflightFacts, serviceTarget, webhook } from './preflight-facts.ts';

interface Row {
  readonly name: string;
  readonly facts: PreflightFacts;
  readonly status: CheckStatus;
  /** Every one must be in the details (or, with `fix:`, in the fix). */
  readonly says: readonly (string | RegExp)[];
}

function table(name: string, check: (facts: PreflightFacts) => CheckResult, rows: readonly Row[]): void {
  const tests = suite(name);
  for (const row of rows) {
    tests(`${row.name} :: ${row.status}`, () => {
      const result = check(row.facts);
      const text = `${result.details.join('\n')}\nfix: ${result.fix ?? ''}`;
      assert.is(result.status, row.status, text);
      for (const expected of row.says) {
        if (typeof expected === 'string') assert.ok(text.includes(expected), `"${expected}" not in:\n${text}`);
        else assert.match(text, expected);
      }
      assert.is(result.fix === undefined, row.status === 'pass', 'a fix exactly when it does not pass');
    });
  }
  tests.run();
}

const OTHER_ADMIN = '6a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d';

table('preflight :: admin-groups', checkAdminGroups, [
  { name: 'a security group with members', facts: preflightFacts(), status: 'pass', says: [`Group ${ADMIN_GROUP_ID} ("AKS Platform Admins"): a security group with members`] },
  { name: 'no adminGroups', facts: preflightFacts({ policy: { adminGroups: [] } }), status: 'fail', says: ['lists no adminGroups', 'fix: list the object IDs', 'aadProfile.adminGroupObjectIDs'] },
  { name: 'missing in Entra', facts: preflightFacts({ groups: { [ADMIN_GROUP_ID]: { state: 'not-found' } } }), status: 'fail', says: ['does not exist in Microsoft Entra ID (Microsoft Graph)', `az ad group show --group ${ADMIN_GROUP_ID}`] },
  {
    name: 'a Microsoft 365 group',
    facts: preflightFacts({ groups: { [ADMIN_GROUP_ID]: { state: 'found', displayName: 'Platform (M365)', securityEnabled: false } } }),
    status: 'fail',
    says: ['is not security-enabled (a Microsoft 365 group)', 'az ad group create'],
  },
  { name: 'no members', facts: preflightFacts({ members: { [ADMIN_GROUP_ID]: { state: 'empty' } } }), status: 'fail', says: ['has no members: nobody is cluster admin through it', 'az ad group member add'] },
  {
    name: 'members forbidden (403)',
    facts: preflightFacts({ members: { [ADMIN_GROUP_ID]: { state: 'forbidden', reason: 'the identity may not list the group\'s members (HTTP 403); grant GroupMember.Read.All' } } }),
    status: 'warn',
    says: ['members were not checked: the identity may not list', 'fix: grant GroupMember.Read.All', 'az ad group member list'],
  },
  { name: 'a snapshot: members unknown', facts: preflightFacts({ source: 'snapshot groups.yaml', members: null }), status: 'warn', says: ['its members were not checked: snapshot groups.yaml holds no members'] },
  { name: 'no directory', facts: preflightFacts({ source: undefined }), status: 'warn', says: ['not checked in Microsoft Entra ID: no directory (neither --directory FILE', 'AZURE_CLIENT_ID'] },
  { name: 'Graph unavailable', facts: preflightFacts({ groups: { [ADMIN_GROUP_ID]: { state: 'unavailable', reason: 'Microsoft Graph answered HTTP 503' } } }), status: 'warn', says: ['could not be looked up in Microsoft Graph: Microsoft Graph answered HTTP 503'] },
  {
    name: 'two groups, one empty :: the worst wins, both are named',
    facts: preflightFacts({
      policy: { adminGroups: [ADMIN_GROUP_ID, OTHER_ADMIN] },
      groups: { [ADMIN_GROUP_ID]: ADMINS, [OTHER_ADMIN]: { state: 'found', displayName: 'Spare Admins', securityEnabled: true } },
      members: { [ADMIN_GROUP_ID]: { state: 'has-members' }, [OTHER_ADMIN]: { state: 'empty' } },
    }),
    status: 'fail',
    says: ['"AKS Platform Admins"): a security group with members', `Group ${OTHER_ADMIN} ("Spare Admins") has no members`],
  },
]);

const ESCALATED = clusterRole('platform-root', [rule(['*'], ['*'], ['*'])]);

table('preflight :: admin-binding', checkAdminBinding, [
  { name: 'AKS binding of cluster-admin to the admin group', facts: preflightFacts(), status: 'pass', says: ['ClusterRoleBinding aks-cluster-admin-binding-aad grants ClusterRole cluster-admin to Group', 'the webhook would allow it'] },
  {
    name: 'a cluster-admin-equivalent ClusterRole (every verb on everything)',
    facts: { ...preflightFacts({ bindings: [clusterRoleBinding([group(ADMIN_GROUP_ID)], 'platform-root', { name: 'root' })] }), rbac: { roles: [clusterRole('cluster-admin', [WILDCARD]), ESCALATED], bindings: [clusterRoleBinding([group(ADMIN_GROUP_ID)], 'platform-root', { name: 'root' })] } },
    status: 'pass',
    says: ['ClusterRoleBinding root grants ClusterRole platform-root'],
  },
  { name: 'the admin group bound nowhere', facts: preflightFacts({ bindings: [clusterRoleBinding([group(GROUP_ID)], 'cluster-admin', { name: 'others' })] }), status: 'fail', says: ['no ClusterRoleBinding grants cluster-admin', 'az aks update -g RG -n CLUSTER --aad-admin-group-object-ids', 'aks-cluster-admin-binding-aad'] },
  { name: 'bound to a weaker role only', facts: preflightFacts({ bindings: [clusterRoleBinding([group(ADMIN_GROUP_ID)], 'view')] }), status: 'fail', says: ['no ClusterRoleBinding grants cluster-admin'] },
  { name: 'no adminGroups', facts: preflightFacts({ policy: { adminGroups: [] } }), status: 'fail', says: ['lists no adminGroups'] },
  {
    name: 'the binding also names system:masters :: the webhook would deny it',
    facts: preflightFacts({ bindings: [clusterRoleBinding([group(ADMIN_GROUP_ID), group('system:masters')], 'cluster-admin', { name: 'admins' })] }),
    status: 'fail',
    says: ['but the webhook would deny it in enforce mode', '[local-account]', 'fix: fix ClusterRoleBinding admins'],
  },
  {
    name: 'the group is missing in Entra :: the webhook would deny the binding',
    facts: preflightFacts({ groups: { [ADMIN_GROUP_ID]: { state: 'not-found' } } }),
    status: 'fail',
    says: ['[group-unknown]'],
  },
  {
    name: 'audit mode :: judged as enforce would judge it',
    facts: preflightFacts({ policy: { mode: 'audit' }, bindings: [clusterRoleBinding([group(ADMIN_GROUP_ID), user('carol@contoso.com')], 'cluster-admin', { name: 'mixed' })] }),
    status: 'fail',
    says: ['would deny it in enforce mode', '[user-subject]'],
  },
  {
    name: 'one allowed and one denied :: pass overall, the denied one a warning',
    facts: preflightFacts({ bindings: [AKS_ADMIN_BINDING, clusterRoleBinding([group(ADMIN_GROUP_ID), user('clusterAdmin')], 'cluster-admin', { name: 'legacy' })] }),
    status: 'warn',
    says: ['the webhook would allow it', 'ClusterRoleBinding legacy grants'],
  },
  { name: 'no directory :: allowed, with a note', facts: preflightFacts({ source: undefined }), status: 'pass', says: ['groups were not checked in Entra ID (no directory)'] },
]);

table('preflight :: local-accounts', checkLocalAccounts, [
  { name: 'only the bootstrap binding of system:masters', facts: preflightFacts({ bindings: [AKS_ADMIN_BINDING, clusterRoleBinding([group('system:masters')], 'cluster-admin', { name: 'cluster-admin' })] }), status: 'pass', says: ['no binding names clusterAdmin', SYSTEM_MASTERS_NOTE] },
  {
    name: 'bindings to clusterAdmin, clusterUser and system:masters',
    facts: preflightFacts({
      bindings: [
        clusterRoleBinding([user('clusterAdmin')], 'cluster-admin', { name: 'legacy-admin' }),
        roleBinding([user('clusterUser')], { namespace: 'ops', name: 'ops-user' }),
        clusterRoleBinding([group('system:masters')], 'view', { name: 'masters-view' }),
      ],
    }),
    status: 'warn',
    says: ['ClusterRoleBinding legacy-admin binds User "clusterAdmin"', 'RoleBinding ops/ops-user binds User "clusterUser"', 'ClusterRoleBinding masters-view binds Group "system:masters"', 'stops working with --disable-local-accounts', 'hard-wired', 'fix: before disabling local accounts, give whoever uses these an Entra group'],
  },
]);

const INSTALLED = preflightFacts();

table('preflight :: webhook-installed', checkWebhookInstalled, [
  { name: 'the chart\'s configuration', facts: INSTALLED, status: 'pass', says: ['webhook bindings.entra-rbac-guard.io of ValidatingWebhookConfiguration entra-rbac-guard (labelled app.kubernetes.io/name=entra-rbac-guard) sends RBAC writes to Service entra-rbac-guard/entra-rbac-guard'] },
  { name: 'found by name, registered by URL', facts: preflightFacts({ configurations: [configuration([webhook({ target: { url: 'https://10.0.0.1/validate' } })], { foundBy: 'name', name: 'my-guard' })] }), status: 'pass', says: ['found by its name', 'URL https://10.0.0.1/validate'] },
  { name: 'none', facts: preflightFacts({ configurations: [] }), status: 'fail', says: ['not installed', 'fix: helm install entra-rbac-guard ./charts/entra-rbac-guard'] },
]);

table('preflight :: webhook-namespace', checkWebhookNamespace, [
  { name: 'the chart\'s NotIn selector, labelled namespace', facts: INSTALLED, status: 'pass', says: [`leaves namespace ${NAMESPACE} out`] },
  {
    name: 'the label is missing (Kubernetes before 1.21)',
    facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ namespaceLabels: {} }) })])] }),
    status: 'fail',
    says: ['has no label kubernetes.io/metadata.name', `fix: kubectl label namespace ${NAMESPACE} kubernetes.io/metadata.name=${NAMESPACE}`],
  },
  {
    name: 'no namespaceSelector',
    facts: preflightFacts({ configurations: [configuration([webhook({ namespaceSelector: { matchLabels: {}, matchExpressions: [] } })])] }),
    status: 'fail',
    says: [`judges RBAC writes in its own namespace ${NAMESPACE}`, 'NotIn'],
  },
  { name: 'registered by URL', facts: preflightFacts({ configurations: [configuration([webhook({ target: { url: 'https://x/validate' } })])] }), status: 'warn', says: ['registered by URL'] },
  { name: 'the namespace does not exist', facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ namespaceLabels: undefined }) })])] }), status: 'fail', says: ['does not exist'] },
]);

table('preflight :: webhook-failure-policy', checkWebhookFailurePolicy, [
  { name: 'Fail :: the recovery step', facts: INSTALLED, status: 'pass', says: ['failurePolicy Fail', 'kubectl delete validatingwebhookconfiguration entra-rbac-guard'] },
  { name: 'Ignore :: the risk', facts: preflightFacts({ configurations: [configuration([webhook({ failurePolicy: 'Ignore' })])] }), status: 'warn', says: ['admitted unchecked', 'fix: once the endpoints', 'webhook.failurePolicy=Fail'] },
]);

table('preflight :: webhook-endpoints', checkWebhookEndpoints, [
  { name: '2 ready', facts: INSTALLED, status: 'pass', says: ['Service entra-rbac-guard/entra-rbac-guard has 2 ready addresses'] },
  {
    name: '1 ready, 1 not ready, failurePolicy Fail',
    facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ endpoints: { ready: 1, notReady: 1 } }) })])] }),
    status: 'fail',
    says: ['has 1 ready address and 1 not ready: one node drain or rollout and RBAC writes are refused', 'replicas=2'],
  },
  { name: '1 ready, failurePolicy Ignore', facts: preflightFacts({ configurations: [configuration([webhook({ failurePolicy: 'Ignore', target: serviceTarget({ endpoints: { ready: 1, notReady: 0 } }) })])] }), status: 'warn', says: ['RBAC writes go unchecked'] },
  { name: 'no Endpoints object', facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ endpoints: undefined }) })])] }), status: 'fail', says: ['0 ready addresses: no pod answers'] },
  { name: 'no Service', facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ service: undefined }) })])] }), status: 'fail', says: ['which does not exist'] },
  { name: 'registered by URL', facts: preflightFacts({ configurations: [configuration([webhook({ target: { url: 'https://x/validate' } })])] }), status: 'warn', says: ['its endpoints cannot be counted'] },
]);

const V1BETA1_EMPTY = { ...PDB, name: 'empty', apiVersion: 'policy/v1beta1', selector: undefined };

table('preflight :: webhook-pdb', checkWebhookDisruptionBudget, [
  { name: 'selects the pods (policy/v1)', facts: INSTALLED, status: 'pass', says: ['PodDisruptionBudget entra-rbac-guard/entra-rbac-guard (policy/v1, minAvailable 1) covers'] },
  { name: 'policy/v1beta1', facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ disruptionBudgets: [{ ...PDB, apiVersion: 'policy/v1beta1' }] }) })])] }), status: 'pass', says: ['(policy/v1beta1, minAvailable 1)'] },
  { name: 'none', facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ disruptionBudgets: [] }) })])] }), status: 'fail', says: ['no PodDisruptionBudget in namespace entra-rbac-guard selects', 'podDisruptionBudget.enabled=true'] },
  {
    name: 'one selecting other pods, one selecting nothing',
    facts: preflightFacts({ configurations: [configuration([webhook({ target: serviceTarget({ disruptionBudgets: [{ ...PDB, name: 'other', selector: { matchLabels: { app: 'other' }, matchExpressions: [] } }, V1BETA1_EMPTY] }) })])] }),
    status: 'fail',
    says: ['no PodDisruptionBudget'],
  },
  { name: 'none, failurePolicy Ignore', facts: preflightFacts({ configurations: [configuration([webhook({ failurePolicy: 'Ignore', target: serviceTarget({ disruptionBudgets: [] }) })])] }), status: 'warn', says: ['no PodDisruptionBudget'] },
]);

table('preflight :: policy-mode', checkPolicyMode, [
  { name: 'enforce', facts: INSTALLED, status: 'pass', says: ['is in enforce mode'] },
  { name: 'audit', facts: preflightFacts({ policy: { mode: 'audit' } }), status: 'warn', says: ['nothing is enforced yet', 'dryRun: false'] },
]);
