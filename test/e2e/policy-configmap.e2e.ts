/**
 * The policy from a ConfigMap, on a real kube-apiserver 1.20: `serve --policy-configmap entra-rbac-guard/policy`
 * watching it as the webhook's own service account, with only get/list/watch on that one ConfigMap and create on
 * events (the RBAC the README gives), reached through `--kubeconfig FILE --context webhook`.
 * Run with `make e2e`. The tests run in order on one cluster, each starting from the state the previous one left.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { recordedReview } from '../helpers.ts';
import { startHarness, WEBHOOK_NAME, type Harness, type KubectlResult, type LogLine } from './harness.ts';
import { e2eSuite, eventually, expectDeniedBy, expectOk, show } from './expect.ts';

const WEBHOOK_NAMESPACE = 'entra-rbac-guard';
const SERVICE_ACCOUNT = 'entra-rbac-guard';
const CONFIGMAP = 'policy';
const NAMESPACE = 'payments';
const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const policyYaml = (mode: 'enforce' | 'audit', extra = '') =>
  `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\nadminGroups: [${ADMIN_GROUP_ID}]\n${extra}`;
/** How soon a ConfigMap change must be in force: the watch delivers it in milliseconds; seconds is the promise. */
const APPLY_WITHIN_MS = 5_000;

interface Context {
  harness: Harness;
  /** A kubeconfig whose context `webhook` is the service account's token (current-context stays admin). */
  webhookKubeconfig: string;
  setupError?: Error;
  setupErrorReported?: boolean;
}

// uvu 0.5 swallows an error thrown by a `before` hook: keep it and fail the first test with it.
const E2E = e2eSuite<Context>('e2e: policy from a ConfigMap, live reload, on kube-apiserver 1.20', {
  async setup(context) {
  context.harness = await startHarness({ policyYaml: policyYaml('enforce') });
  context.webhookKubeconfig = await prepareWebhookIdentity(context.harness);
  expectOk(await context.harness.kubectl(['create', 'namespace', NAMESPACE]), 'create namespace');
    return 'etcd, kube-apiserver and the webhook up';
  },
  async teardown(context) {
    await context.harness?.stop();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

/**
 * The webhook's identity as a Helm install would give it: a ServiceAccount with a Role allowing get/list/watch on the
 * policy ConfigMap alone (resourceNames) and create on events, a ClusterRole reading the four RBAC kinds (the role
 * cache), and a token for it in a kubeconfig context.
 */
async function prepareWebhookIdentity(harness: Harness): Promise<string> {
  expectOk(await harness.kubectl(['create', 'namespace', WEBHOOK_NAMESPACE]), 'create the webhook namespace');
  expectOk(await harness.kubectl(['create', 'serviceaccount', SERVICE_ACCOUNT, `--namespace=${WEBHOOK_NAMESPACE}`]), 'create the service account');
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'entra-rbac-guard-policy', namespace: WEBHOOK_NAMESPACE },
        rules: [
          { apiGroups: [''], resources: ['configmaps'], resourceNames: [CONFIGMAP], verbs: ['get', 'list', 'watch'] },
          { apiGroups: [''], resources: ['events'], verbs: ['create'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'entra-rbac-guard-policy', namespace: WEBHOOK_NAMESPACE },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'entra-rbac-guard-policy' },
        subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: WEBHOOK_NAMESPACE }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'entra-rbac-guard-rbac-reader' },
        rules: [
          { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'], verbs: ['get', 'list', 'watch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'entra-rbac-guard-rbac-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'entra-rbac-guard-rbac-reader' },
        subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: WEBHOOK_NAMESPACE }],
      },
    ],
  };
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(rbac) }), 'create the Role and RoleBinding');
  const token = expectOk(
    await harness.kubectl(['create', 'token', SERVICE_ACCOUNT, `--namespace=${WEBHOOK_NAMESPACE}`, '--duration=2h']),
    'a token for the service account (TokenRequest)',
  ).stdout.trim();
  const kubeconfig = JSON.parse(readFileSync(harness.kubeconfig, 'utf8')) as {
    users: Array<Record<string, unknown>>;
    contexts: Array<Record<string, unknown>>;
  };
  kubeconfig.users.push({ name: 'webhook', user: { token } });
  kubeconfig.contexts.push({ name: 'webhook', context: { cluster: 'e2e', user: 'webhook', namespace: WEBHOOK_NAMESPACE } });
  const path = join(harness.dir, 'webhook-kubeconfig');
  writeFileSync(path, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  return path;
}

function serveArgs(context: Context, ...extra: string[]): string[] {
  return ['--policy-configmap', `${WEBHOOK_NAMESPACE}/${CONFIGMAP}`, '--kubeconfig', context.webhookKubeconfig, '--context', 'webhook', ...extra];
}

/** Creates or replaces the policy ConfigMap with `data`; returns its new resourceVersion. */
async function putPolicy(harness: Harness, data: Record<string, string>): Promise<string> {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIGMAP, namespace: WEBHOOK_NAMESPACE }, data };
  const exists = (await harness.kubectl(['get', 'configmap', CONFIGMAP, `--namespace=${WEBHOOK_NAMESPACE}`, '-o', 'name'])).code === 0;
  const result = expectOk(await harness.kubectl([exists ? 'replace' : 'create', '-f', '-', '-o', 'json'], { stdin: JSON.stringify(configMap) }), 'write the policy ConfigMap');
  return (JSON.parse(result.stdout) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
}

interface Ready {
  readonly status: number;
  readonly body: Record<string, any>;
}

async function readyz(harness: Harness): Promise<Ready> {
  const response = await harness.webhookRequest('/readyz');
  return { status: response.status, body: JSON.parse(response.body) as Record<string, any> };
}

function createRoleBinding(harness: Harness, name: string, subject: string, ...extra: string[]): Promise<KubectlResult> {
  return harness.kubectl(['create', 'rolebinding', name, `--namespace=${NAMESPACE}`, '--clusterrole=edit', subject, ...extra]);
}

async function exists(harness: Harness, kind: string, name: string, namespace: string): Promise<boolean> {
  const result = await harness.kubectl(['get', kind, name, '-o', 'name', `--namespace=${namespace}`]);
  if (result.code !== 0 && !result.stderr.includes('NotFound')) throw new Error(`kubectl get ${kind} ${name}:\n${show(result)}`);
  return result.code === 0;
}

/** Waits until /readyz reports `generation` in force; returns its body. */
function readyWith(harness: Harness, generation: string, timeoutMs = APPLY_WITHIN_MS): Promise<Record<string, any>> {
  let last: Ready | undefined;
  return eventually(
    `/readyz to report resourceVersion ${generation} in force`,
    async () => {
      last = await readyz(harness);
      return last.status === 200 && last.body['generation'] === generation ? last.body : undefined;
    },
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last /readyz: ${JSON.stringify(last)}`);
  });
}

function logLine(harness: Harness, match: (line: LogLine) => boolean, what: string): Promise<LogLine> {
  return eventually(what, () => harness.webhookLog().find(match));
}

/** The log line of the policy store taking `generation` into force (a first load or a reload). */
function policyLogLine(harness: Harness, generation: string): Promise<LogLine> {
  return logLine(harness, (line) => line['generation'] === generation && /^policy (re)?loaded from /.test(String(line.msg)), `the log line of resourceVersion ${generation} in force`);
}

// --- start-up without a policy -------------------------------------------------------------------------------------

E2E('start-up :: the ConfigMap does not exist yet :: not ready (503 naming it), reviews answered 503, then ready once it is created', async (context) => {
  const { harness } = context;
  await harness.restartWebhook({ args: serveArgs(context), waitForReviews: false });

  const notReady = await eventually('/readyz to say the ConfigMap is not found', async () => {
    const ready = await readyz(harness);
    return String(ready.body['reason']).includes('not found') ? ready : undefined;
  });
  assert.is(notReady.status, 503);
  assert.equal(
    [notReady.body['status'], notReady.body['policy'], notReady.body['reason']],
    ['not ready', `ConfigMap ${WEBHOOK_NAMESPACE}/${CONFIGMAP}`, `ConfigMap ${WEBHOOK_NAMESPACE}/${CONFIGMAP} not found: create it with the policy under the key policy.yaml`],
  );
  const review = await harness.webhookRequest('/validate', { method: 'POST', body: JSON.stringify(recordedReview('02-CREATE-RoleBinding-carol-admin.json')) });
  assert.is(review.status, 503, review.body);
  const error = JSON.parse(review.body) as Record<string, unknown>;
  assert.is(error['code'], 'ERB_NO_POLICY');
  assert.match(String(error['message']), /^no policy in force yet: ConfigMap entra-rbac-guard\/policy not found/);

  // failurePolicy Fail: the API server refuses RBAC writes while the webhook has no policy (a compliant one too).
  const refused = await eventually('the API server to reach the webhook and be answered 503', async () => {
    const result = await createRoleBinding(harness, 'while-no-policy', '--group=5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d');
    return harness.webhookLog().some((line) => line.msg === 'review refused: no policy in force') ? result : undefined;
  }, 15_000);
  assert.is.not(refused.code, 0, show(refused));
  assert.ok(refused.stderr.includes(`failed calling webhook "${WEBHOOK_NAME}"`), show(refused));
  assert.not.ok(await exists(harness, 'rolebinding', 'while-no-policy', NAMESPACE));

  const created = Date.now();
  const generation = await putPolicy(harness, { 'policy.yaml': policyYaml('enforce') });
  const ready = await readyWith(harness, generation);
  assert.equal([ready['status'], ready['policy'], ready['mode']], ['ready', `ConfigMap ${WEBHOOK_NAMESPACE}/${CONFIGMAP}`, 'enforce']);
  process.stderr.write(`  (ConfigMap created → ready in ${Date.now() - created} ms)\n`);
  expectDeniedBy(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user-subject');
});

// --- live reload ---------------------------------------------------------------------------------------------------

E2E('live reload :: enforce → audit → enforce by editing the ConfigMap :: applied within seconds, no restart', async ({ harness }) => {
  const auditGeneration = await putPolicy(harness, { 'policy.yaml': policyYaml('audit') });
  const audit = await readyWith(harness, auditGeneration);
  assert.is(audit['mode'], 'audit');
  const auditLoaded = await policyLogLine(harness, auditGeneration);
  assert.is(auditLoaded['mode'], 'audit');
  try {
    const allowed = expectOk(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'a user binding in audit mode');
    assert.match(allowed.stdout, /rolebinding\.rbac\.authorization\.k8s\.io\/alice-edit created/);
    assert.match(allowed.stderr, /Warning: Not denied because the policy is in audit mode: RoleBinding payments\/alice-edit binds User "alice@contoso\.com" directly \[user-subject\]/);
  } finally {
    await harness.kubectl(['delete', 'rolebinding', 'alice-edit', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
  }

  const enforceGeneration = await putPolicy(harness, { 'policy.yaml': policyYaml('enforce') });
  assert.is((await readyWith(harness, enforceGeneration))['mode'], 'enforce');
  expectDeniedBy(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user-subject');
  // No restart: the same process went from the audit generation straight to the enforce one, as a reload.
  const enforceLoaded = await policyLogLine(harness, enforceGeneration);
  assert.equal([enforceLoaded['mode'], enforceLoaded['previous'], enforceLoaded.msg], ['enforce', auditGeneration, `policy reloaded from ConfigMap ${WEBHOOK_NAMESPACE}/${CONFIGMAP} (resourceVersion ${enforceGeneration}, mode enforce)`]);
});

// --- invalid changes -----------------------------------------------------------------------------------------------

const INVALID_EDITS: ReadonlyArray<{ readonly what: string; readonly data: Record<string, string>; readonly path: string }> = [
  { what: 'a misspelt rule', data: { 'policy.yaml': policyYaml('audit', 'rules:\n  user-subjct: warn\n') }, path: 'rules.user-subjct' },
  { what: 'the policy under another key', data: { 'policy.yml': policyYaml('audit') }, path: 'data.policy.yaml' },
];

E2E('invalid edits :: a misspelt rule, a wrong key :: each rejected whole, the last good policy stays, an InvalidPolicy Event on the ConfigMap', async ({ harness }) => {
  const good = await readyz(harness);
  assert.is(good.status, 200);
  const goodGeneration = String(good.body['generation']);
  for (const [index, edit] of INVALID_EDITS.entries()) {
    const generation = await putPolicy(harness, edit.data);
    const body = await eventually(`/readyz to report resourceVersion ${generation} rejected (${edit.what})`, async () => {
      const ready = await readyz(harness);
      return ready.body['rejected']?.generation === generation ? ready : undefined;
    });
    assert.is(body.status, 200, 'still ready: a valid policy is in force');
    assert.equal([body.body['generation'], body.body['mode']], [goodGeneration, 'enforce'], `${edit.what}: the last good policy stays`);
    assert.equal(body.body['rejected'].problems.map((problem: { path: string }) => problem.path), [edit.path]);
    expectDeniedBy(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user-subject');

    const logged = await logLine(harness, (line) => line['generation'] === generation && String(line.msg).startsWith('policy change rejected'), 'the rejection in the log');
    assert.is(logged['level'], 50, 'logged as an error');
    assert.ok(String(logged.msg).includes(`${edit.path}: `), String(logged.msg));

    const event = await eventually('the InvalidPolicy Event', async () => {
      const listed = expectOk(
        await harness.kubectl(['get', 'events', `--namespace=${WEBHOOK_NAMESPACE}`, `--field-selector=involvedObject.name=${CONFIGMAP}`, '-o', 'json']),
        'kubectl get events',
      );
      const events = (JSON.parse(listed.stdout) as { items: Array<Record<string, any>> }).items;
      return events.find((item) => item['involvedObject']?.resourceVersion === generation);
    });
    assert.equal(
      [event['reason'], event['type'], event['involvedObject'].kind, event['involvedObject'].name, event['source']?.component],
      ['InvalidPolicy', 'Warning', 'ConfigMap', CONFIGMAP, 'entra-rbac-guard'],
    );
    assert.ok(String(event['message']).includes(`${edit.path}: `), `the Event names the path: ${event['message']}`);
    assert.ok(String(event['message']).includes(`resourceVersion ${goodGeneration}, the last good policy, stays in force`), String(event['message']));

    const metrics = (await harness.webhookRequest('/metrics')).body;
    assert.match(metrics, new RegExp(`^entra_rbac_guard_policy_reload_errors_total ${index + 1}$`, 'm'));
    assert.match(metrics, new RegExp(`^entra_rbac_guard_policy_generation ${goodGeneration}$`, 'm'));
  }
  // A valid edit after invalid ones is applied, and clears the rejection.
  const fixed = await putPolicy(harness, { 'policy.yaml': policyYaml('enforce') });
  const ready = await readyWith(harness, fixed);
  assert.is(ready['rejected'], undefined);
});

// --- deletion ------------------------------------------------------------------------------------------------------

E2E('deleted ConfigMap :: the last good policy stays in force, logged; created again :: applied', async ({ harness }) => {
  const before = await readyz(harness);
  const generation = String(before.body['generation']);
  expectOk(await harness.kubectl(['delete', 'configmap', CONFIGMAP, `--namespace=${WEBHOOK_NAMESPACE}`]), 'delete the ConfigMap');
  const logged = await logLine(harness, (line) => String(line.msg).includes('was deleted: keeping the last good policy'), 'the deletion in the log');
  assert.is(logged['level'], 40, 'logged as a warning');
  assert.is(logged['generation'], generation);
  const after = await readyz(harness);
  assert.equal([after.status, after.body['generation'], after.body['mode']], [200, generation, 'enforce']);
  assert.match(String(after.body['note']), /the ConfigMap was deleted/);
  expectDeniedBy(await createRoleBinding(harness, 'alice-edit', '--user=alice@contoso.com'), 'user-subject');

  const recreated = await putPolicy(harness, { 'policy.yaml': policyYaml('audit') });
  const ready = await readyWith(harness, recreated);
  assert.equal([ready['mode'], ready['note']], ['audit', undefined]);
  await putPolicy(harness, { 'policy.yaml': policyYaml('enforce') });
});

// --- least privilege and the fallback ------------------------------------------------------------------------------

E2E('RBAC :: the service account can read only its ConfigMap :: the webhook works with no more', async ({ harness }) => {
  const as = `--as=system:serviceaccount:${WEBHOOK_NAMESPACE}:${SERVICE_ACCOUNT}`;
  const canI = async (...args: string[]) => (await harness.kubectl(['auth', 'can-i', ...args, as])).stdout.trim();
  assert.is(await canI('watch', `configmaps/${CONFIGMAP}`, `--namespace=${WEBHOOK_NAMESPACE}`), 'yes');
  assert.is(await canI('list', 'configmaps', `--namespace=${WEBHOOK_NAMESPACE}`), 'no', 'no list of every ConfigMap');
  assert.is(await canI('get', 'configmaps/other', `--namespace=${WEBHOOK_NAMESPACE}`), 'no');
  assert.is(await canI('list', 'configmaps', '--all-namespaces'), 'no');
  assert.is(await canI('create', 'events', `--namespace=${WEBHOOK_NAMESPACE}`), 'yes');
  assert.is(await canI('watch', 'clusterroles'), 'yes', 'the role cache reads RBAC objects cluster-wide');
  assert.is(await canI('create', 'clusterroles'), 'no', 'and writes none');
  assert.is(await canI('list', 'secrets', '--all-namespaces'), 'no');
  // Nothing the webhook logged says it was forbidden anything.
  assert.not.ok(
    harness.webhookLog().some((line) => /HTTP 403|forbidden/i.test(`${line['error'] ?? ''}`)),
    JSON.stringify(harness.webhookLog().filter((line) => line['error'])),
  );
});

E2E('--policy-fallback-default :: no ConfigMap at start-up :: ready on the embedded default, saying so; the ConfigMap then wins', async (context) => {
  const { harness } = context;
  expectOk(await harness.kubectl(['delete', 'configmap', CONFIGMAP, `--namespace=${WEBHOOK_NAMESPACE}`]), 'delete the ConfigMap');
  await harness.restartWebhook({ args: serveArgs(context, '--policy-fallback-default') });
  const fallback = await eventually('/readyz to name the fallback and why', async () => {
    const ready = await readyz(harness);
    return String(ready.body['fallback']).includes('not found') ? ready : undefined;
  });
  assert.equal([fallback.status, fallback.body['policy'], fallback.body['mode'], fallback.body['generation']], [200, 'embedded default', 'enforce', undefined]);
  assert.is(fallback.body['fallback'], `--policy-fallback-default: ConfigMap ${WEBHOOK_NAMESPACE}/${CONFIGMAP} not found: create it with the policy under the key policy.yaml`);

  const generation = await putPolicy(harness, { 'policy.yaml': policyYaml('audit') });
  assert.equal((await readyWith(harness, generation))['fallback'], undefined);
  expectOk(await createRoleBinding(harness, 'alice-audit', '--user=alice@contoso.com'), 'audit mode from the ConfigMap');
  await harness.kubectl(['delete', 'rolebinding', 'alice-audit', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
});

E2E.run();
