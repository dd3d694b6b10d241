/**
 * The whole admission path on a real kube-apiserver 1.20: kubectl → API server → our webhook over TLS → kubectl.
 * Run with `make e2e` (needs the kube-apiserver binary of scripts/build-kube-apiserver.sh, etcd and kubectl).
 * The tests run in order on one cluster; each leaves it as it found it (enforce policy, webhook running).
 */
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { startHarness, WEBHOOK_NAME, type Harness, type KubectlResult, type LogLine } from './harness.ts';
import { e2eSuite, eventually, expectDeniedBy, expectOk, show } from './expect.ts';

const NAMESPACE = 'payments';
const GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const policyYaml = (mode: 'enforce' | 'audit') =>
  `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\nadminGroups: [${ADMIN_GROUP_ID}]\n`;

interface Context {
  harness: Harness;
  enforcePolicy: string;
  auditPolicy: string;
  /** Why the harness did not start. uvu 0.5 swallows an error thrown by a `before` hook and reports success. */
  setupError?: Error;
  setupErrorReported?: boolean;
}

const E2E = e2eSuite<Context>('e2e: kubectl → kube-apiserver 1.20 → entra-rbac-guard', {
  async setup(context) {
  context.harness = await startHarness({ policyYaml: policyYaml('enforce') });
  context.enforcePolicy = context.harness.writePolicy('enforce.yaml', policyYaml('enforce'));
  context.auditPolicy = context.harness.writePolicy('audit.yaml', policyYaml('audit'));
  expectOk(await context.harness.kubectl(['create', 'namespace', NAMESPACE]), 'create namespace');
    return 'etcd, kube-apiserver and the webhook up';
  },
  async teardown(context) {
    await context.harness?.stop();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

function createRoleBinding(harness: Harness, name: string, subject: string, ...extra: string[]): Promise<KubectlResult> {
  return harness.kubectl(['create', 'rolebinding', name, `--namespace=${NAMESPACE}`, '--clusterrole=edit', subject, ...extra]);
}

async function exists(harness: Harness, kind: string, name: string, namespace?: string): Promise<boolean> {
  const result = await harness.kubectl(['get', kind, name, '-o', 'name', ...(namespace ? [`--namespace=${namespace}`] : [])]);
  if (result.code !== 0 && !result.stderr.includes('NotFound')) throw new Error(`kubectl get ${kind} ${name}:\n${show(result)}`);
  return result.code === 0;
}


/** The webhook logs a decision before it answers, but its stdout reaches us a moment later. */
function decisionFor(harness: Harness, name: string): Promise<LogLine> {
  return eventually(`a decision line for ${name}`, () => harness.decisions().find((line) => line['name'] === name));
}

// --- denials, as kubectl users see them ----------------------------------------------------------------------------

E2E('user-subject :: kubectl create rolebinding --user=alice@contoso.com :: denied with our message, nothing stored', async ({ harness }) => {
  const result = await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com');
  expectDeniedBy(result, 'user-subject');
  assert.ok(result.stderr.includes(`RoleBinding ${NAMESPACE}/alice-edit binds User "alice@contoso.com" directly`), show(result));
  assert.ok(result.stderr.includes('bind a Microsoft Entra group'), show(result));
  assert.not.ok(await exists(harness, 'rolebinding', 'alice-edit', NAMESPACE), 'the denied binding must not exist');
});

E2E('user-subject :: same with --dry-run=server :: denied, and the webhook saw dryRun', async ({ harness }) => {
  const result = await createRoleBinding(harness, 'alice-edit-dry', '--user=alice@contoso.com', '--dry-run=server');
  expectDeniedBy(result, 'user-subject');
  assert.ok(result.stderr.includes('bind a Microsoft Entra group'), show(result));
  const decision = await decisionFor(harness, 'alice-edit-dry');
  assert.is(decision['dryRun'], true);
  assert.is(decision['allowed'], false);
});

E2E('compliant :: rolebinding to a group the directory knows :: created, with no warning', async ({ harness }) => {
  const result = expectOk(await createRoleBinding(harness, 'payments-team-edit', `--group=${GROUP_ID}`), 'compliant binding');
  assert.match(result.stdout, /rolebinding\.rbac\.authorization\.k8s\.io\/payments-team-edit created/);
  assert.not.match(result.stderr, /Warning/, show(result));
  const stored = JSON.parse(expectOk(await harness.kubectl(['get', 'rolebinding', 'payments-team-edit', `--namespace=${NAMESPACE}`, '-o', 'json']), 'get').stdout);
  assert.equal(stored.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: GROUP_ID }]);
});

E2E('user-subject :: UPDATE adding a User to a compliant binding :: denied, binding unchanged', async ({ harness }) => {
  const patch = JSON.stringify([{ op: 'add', path: '/subjects/-', value: { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob@contoso.com' } }]);
  const result = await harness.kubectl(['patch', 'rolebinding', 'payments-team-edit', `--namespace=${NAMESPACE}`, '--type=json', `--patch=${patch}`]);
  expectDeniedBy(result, 'user-subject');
  assert.ok(result.stderr.includes('bob@contoso.com'), show(result));
  const decision = await eventually('the UPDATE decision', () =>
    harness.decisions().find((line) => line['name'] === 'payments-team-edit' && line['operation'] === 'UPDATE'),
  );
  assert.equal([decision['allowed'], decision['rules']], [false, ['user-subject:deny']]);
  const stored = JSON.parse(expectOk(await harness.kubectl(['get', 'rolebinding', 'payments-team-edit', `--namespace=${NAMESPACE}`, '-o', 'json']), 'get').stdout);
  assert.is(stored.subjects.length, 1, 'the denied update must not be stored');
});

E2E('broad-group :: clusterrolebinding --group=system:authenticated :: denied', async ({ harness }) => {
  const result = await harness.kubectl(['create', 'clusterrolebinding', 'everyone-view', '--clusterrole=view', '--group=system:authenticated']);
  expectDeniedBy(result, 'broad-group');
  assert.not.ok(await exists(harness, 'clusterrolebinding', 'everyone-view'));
});

E2E('group-format :: clusterrolebinding --group="Payments Team" (a display name) :: denied', async ({ harness }) => {
  const result = await harness.kubectl(['create', 'clusterrolebinding', 'payments-view', '--clusterrole=view', '--group=Payments Team']);
  expectDeniedBy(result, 'group-format');
  assert.ok(result.stderr.includes('Group "Payments Team"'), show(result));
  assert.not.ok(await exists(harness, 'clusterrolebinding', 'payments-view'));
});

E2E('cluster-admin :: to a non-admin group :: denied; to an adminGroups group :: created', async ({ harness }) => {
  const denied = await harness.kubectl(['create', 'clusterrolebinding', 'payments-admin', '--clusterrole=cluster-admin', `--group=${GROUP_ID}`]);
  expectDeniedBy(denied, 'cluster-admin');
  const allowed = await harness.kubectl(['create', 'clusterrolebinding', 'platform-admin', '--clusterrole=cluster-admin', `--group=${ADMIN_GROUP_ID}`]);
  expectOk(allowed, 'cluster-admin for an admin group');
  expectOk(await harness.kubectl(['delete', 'clusterrolebinding', 'platform-admin']), 'clean up');
});

E2E('RBAC before admission :: a user without RBAC rights :: forbidden by RBAC, the webhook is never asked', async ({ harness }) => {
  const result = await harness.kubectl(['create', 'rolebinding', 'developer-try', `--namespace=${NAMESPACE}`, '--clusterrole=view', `--group=${GROUP_ID}`], { user: 'developer' });
  assert.is.not(result.code, 0, show(result));
  assert.ok(result.stderr.includes('User "e2e-developer" cannot create resource "rolebindings"'), show(result));
  assert.not.ok(result.stderr.includes(WEBHOOK_NAME), show(result));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.not.ok(harness.decisions().some((line) => line['name'] === 'developer-try'), 'the webhook must not have been called');
});

E2E('group-unknown :: rolebinding to a group ID the directory does not know :: denied', async ({ harness }) => {
  const unknown = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
  const result = await createRoleBinding(harness, 'unknown-group-edit', `--group=${unknown}`);
  expectDeniedBy(result, 'group-unknown');
  assert.ok(result.stderr.includes(unknown), show(result));
  assert.not.ok(await exists(harness, 'rolebinding', 'unknown-group-edit', NAMESPACE));
});

E2E('no directory :: a policy that verifies groups, no snapshot, no credentials :: the group binding is denied naming what to set', async ({ harness, enforcePolicy }) => {
  await harness.restartWebhook({ args: ['--policy', enforcePolicy], directory: false });
  try {
    const result = await createRoleBinding(harness, 'unverifiable-edit', `--group=${GROUP_ID}`);
    expectDeniedBy(result, 'directory-unavailable');
    assert.ok(result.stderr.includes('set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET'), show(result));
    assert.not.ok(await exists(harness, 'rolebinding', 'unverifiable-edit', NAMESPACE));
    const errors = harness.webhookLog().filter((line) => line['level'] === 50 && String(line.msg).startsWith('groups cannot be verified'));
    assert.is(errors.length, 1, 'said once at start-up');
  } finally {
    await harness.restartWebhook(enforcePolicy);
  }
});

// --- audit mode ----------------------------------------------------------------------------------------------------

E2E('mode: audit :: the user binding :: created, and kubectl prints our warning', async ({ harness, auditPolicy, enforcePolicy }) => {
  await harness.restartWebhook(auditPolicy);
  try {
    const result = expectOk(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user binding in audit mode');
    assert.match(result.stdout, /rolebinding\.rbac\.authorization\.k8s\.io\/alice-edit created/);
    assert.match(
      result.stderr,
      /Warning: Not denied because the policy is in audit mode: RoleBinding payments\/alice-edit binds User "alice@contoso\.com" directly \[user-subject\]: bind a Microsoft Entra group/,
    );
    assert.ok(await exists(harness, 'rolebinding', 'alice-edit', NAMESPACE));
    const decision = await decisionFor(harness, 'alice-edit');
    assert.equal([decision['allowed'], decision['rules']], [true, ['user-subject:warn']]);
  } finally {
    await harness.kubectl(['delete', 'rolebinding', 'alice-edit', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
    await harness.restartWebhook(enforcePolicy);
  }
  expectDeniedBy(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user-subject');
});

// --- what reaches the logs -----------------------------------------------------------------------------------------

E2E('decision log :: three reviews :: exactly three lines, in order, with the request facts', async ({ harness }) => {
  const before = harness.decisions().length;
  await createRoleBinding(harness, 'log-user', '--user=carol@contoso.com');
  await createRoleBinding(harness, 'log-group', `--group=${GROUP_ID}`, '--dry-run=server');
  await harness.kubectl(['create', 'clusterrolebinding', 'log-everyone', '--clusterrole=view', '--group=system:authenticated']);
  await eventually('three decision lines', () => (harness.decisions().length >= before + 3 ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const lines = harness.decisions().slice(before);
  assert.equal(
    lines.map((line) => [line['operation'], line['kind'], line['namespace'], line['name'], line['requester'], line['dryRun'], line['allowed'], line['rules']]),
    [
      ['CREATE', 'RoleBinding', NAMESPACE, 'log-user', 'e2e-admin', false, false, ['user-subject:deny']],
      ['CREATE', 'RoleBinding', NAMESPACE, 'log-group', 'e2e-admin', true, true, []],
      ['CREATE', 'ClusterRoleBinding', '', 'log-everyone', 'e2e-admin', false, false, ['broad-group:deny']],
    ],
  );
  assert.is(new Set(lines.map((line) => line['uid'])).size, 3, 'each review has its own uid');
});

E2E('audit annotations :: a denied binding :: the API server audit log carries <webhook>/<rule>', async ({ harness }) => {
  await createRoleBinding(harness, 'audited-user', '--user=dave@contoso.com');
  const event = await eventually('the audit event of the denied create', () =>
    readFileSync(harness.auditLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { stage: string; verb: string; objectRef?: { name?: string }; annotations?: Record<string, string>; responseStatus?: { code: number } })
      .find((entry) => entry.stage === 'ResponseComplete' && entry.verb === 'create' && entry.objectRef?.name === 'audited-user'),
  );
  assert.is(event.responseStatus?.code, 403);
  assert.is(event.annotations?.[`${WEBHOOK_NAME}/decision`], 'denied', JSON.stringify(event.annotations));
  assert.match(event.annotations?.[`${WEBHOOK_NAME}/user-subject`] ?? '', /^deny: RoleBinding payments\/audited-user binds User "dave@contoso\.com"/);
});

// --- deletes, restarts and outages ---------------------------------------------------------------------------------

E2E('DELETE :: the compliant binding :: deleted without asking the webhook', async ({ harness }) => {
  const result = expectOk(await harness.kubectl(['delete', 'rolebinding', 'payments-team-edit', `--namespace=${NAMESPACE}`]), 'delete');
  assert.match(result.stdout, /rolebinding\.rbac\.authorization\.k8s\.io "payments-team-edit" deleted/);
  assert.not.ok(await exists(harness, 'rolebinding', 'payments-team-edit', NAMESPACE));
  assert.not.ok(harness.decisions().some((line) => line['operation'] === 'DELETE'), 'DELETE is not in the webhook rules');
});

E2E('API server restart :: webhook registered with failurePolicy Fail :: healthy, bootstrap RBAC reconciled through the webhook', async ({ harness }) => {
  const rbacObjects = async () =>
    expectOk(await harness.kubectl(['get', 'clusterroles,clusterrolebindings,roles,rolebindings', '--all-namespaces', '-o', 'name']), 'list RBAC')
      .stdout.split('\n')
      .filter(Boolean)
      .sort();
  const getDiscovery = async () =>
    JSON.parse(expectOk(await harness.kubectl(['get', 'clusterrolebinding', 'system:discovery', '-o', 'json']), 'get system:discovery').stdout);
  const before = await rbacObjects();
  const original = await getDiscovery();
  assert.equal(original.subjects.map((subject: { name: string }) => subject.name), ['system:authenticated']);
  // A missing bootstrap binding makes the restart's reconcile CREATE it, through the webhook, as system:apiserver.
  expectOk(await harness.kubectl(['delete', 'clusterrolebinding', 'system:discovery']), 'delete a bootstrap binding');
  const decisionsBefore = harness.decisions().length;

  await harness.restartApiServer();

  assert.equal(await rbacObjects(), before, 'every RBAC object is back, the deleted bootstrap binding included');
  const recreated = await getDiscovery();
  assert.is.not(recreated.metadata.uid, original.metadata.uid, 'system:discovery should be a new object');
  assert.equal([recreated.roleRef, recreated.subjects], [original.roleRef, original.subjects]);
  const reconcile = harness.decisions().slice(decisionsBefore).find((line) => line['name'] === 'system:discovery');
  assert.ok(reconcile, 'the reconcile create of system:discovery should have been reviewed by the webhook');
  assert.equal([reconcile['requester'], reconcile['allowed']], ['system:apiserver', true]);
  expectDeniedBy(await createRoleBinding(harness, 'after-restart', '--user=alice@contoso.com'), 'user-subject');
});

E2E('webhook down :: failurePolicy Fail :: RBAC creates fail; deletes and non-RBAC writes still work', async ({ harness, enforcePolicy }) => {
  expectOk(await createRoleBinding(harness, 'survivor', `--group=${GROUP_ID}`), 'create while the webhook is up');
  await harness.killWebhook();
  try {
    const create = await createRoleBinding(harness, 'while-down', `--group=${GROUP_ID}`);
    assert.is.not(create.code, 0, show(create));
    assert.ok(create.stderr.includes(`failed calling webhook "${WEBHOOK_NAME}"`), show(create));
    assert.not.ok(await exists(harness, 'rolebinding', 'while-down', NAMESPACE));
    expectOk(await harness.kubectl(['delete', 'rolebinding', 'survivor', `--namespace=${NAMESPACE}`]), 'delete while the webhook is down');
    assert.not.ok(await exists(harness, 'rolebinding', 'survivor', NAMESPACE));
    expectOk(await harness.kubectl(['create', 'configmap', 'while-down', `--namespace=${NAMESPACE}`, '--from-literal=k=v']), 'configmap while the webhook is down');
  } finally {
    await harness.restartWebhook(enforcePolicy);
  }
});

E2E.run();
