/**
 * The continuous audit of `serve --audit-interval 2s --audit-write-reports`, on a real kube-apiserver 1.20, with the
 * webhook (dist/bin.js) looking groups up in the loopback Graph fake through the Entra token fake (workload identity
 * environment, NODE_EXTRA_CA_CERTS inherited). A RoleBinding names a security group that exists; the group is then
 * deleted in the fake, and the violation gauge on /metrics must rise within one interval; the PolicyReport CRDs
 * (vendored in test/fixtures) are applied mid-way, and our reports must appear, change, and go.
 * Run with `make e2e`. The tests run in order on one cluster, each starting from the state the previous one left.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { startFakes, type Fakes } from '../fakes/harness.ts';
import { LOCAL_FIXTURES } from '../helpers.ts';
import { e2eSuite, eventually, expectOk, show } from './expect.ts';
import { startHarness, type Harness } from './harness.ts';

const NAMESPACE = 'team-a';
const BINDING = 'team-a-viewers';
const PAYMENTS: FakeGroup = { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Team', securityEnabled: true };
const INTERVAL_MS = 2_000;
/** A round starts at most one interval after a change and takes milliseconds here; the rest is polling and a busy machine. */
const ONE_INTERVAL_AND_SLACK_MS = INTERVAL_MS + 3_000;
const GROUP_UNKNOWN = { rule: 'group-unknown', namespace: NAMESPACE, action: 'deny' };

interface Context {
  harness: Harness;
  fakes: Fakes;
  setupError?: Error;
  setupErrorReported?: boolean;
}

const Audit = e2eSuite<Context>('e2e: continuous audit in serve, on kube-apiserver 1.20 with the Graph fake', {
  async setup(context) {
  if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('run with NODE_EXTRA_CA_CERTS=test/fakes/.ca/ca.crt: the webhook must trust the Graph fake');
  context.fakes = await startFakes([PAYMENTS]);
  context.harness = await startHarness();
  const { harness, fakes } = context;
  expectOk(await harness.kubectl(['create', 'namespace', NAMESPACE]), 'create namespace');
  // Created while the harness's first webhook has no directory: allowed, and the audit is what looks at it.
  expectOk(await harness.kubectl(['create', 'rolebinding', BINDING, `--namespace=${NAMESPACE}`, '--clusterrole=view', `--group=${PAYMENTS.id}`]), 'create the RoleBinding');
  const policy = harness.writePolicy('audit-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\n');
  await withEnvironment(azureEnvironment(fakes), () =>
    harness.restartWebhook({
      args: ['--policy', policy, '--kubeconfig', harness.kubeconfig, '--graph-endpoint', fakes.graph.endpoint, '--audit-interval', `${INTERVAL_MS}ms`, '--audit-write-reports'],
      directory: false,
    }),
  );
    return 'Graph fake, etcd, kube-apiserver and the auditing webhook up';
  },
  async teardown(context) {
    await context.harness?.stop();
    await context.fakes?.close();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

/** What Azure Workload Identity gives a pod, pointed at the fakes (the Graph endpoint goes as a flag). */
function azureEnvironment(fakes: Fakes): NodeJS.ProcessEnv {
  const { ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: _endpoint, ...azure } = fakes.env;
  return azure;
}

/** The harness starts the webhook with this process's environment: set `extra` for that moment only. */
async function withEnvironment<T>(extra: NodeJS.ProcessEnv, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(extra).map((name) => [name, process.env[name]]));
  Object.assign(process.env, extra);
  try {
    return await work();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The value of one series in the webhook's /metrics, or undefined when it is not there. */
async function metric(harness: Harness, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const { status, body } = await harness.webhookRequest('/metrics');
  assert.is(status, 200, `GET /metrics: ${body}`);
  for (const line of body.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}


/** Waits for `count` more completed rounds than there are now. */
async function roundsLater(harness: Harness, count: number): Promise<void> {
  const now = (await metric(harness, 'entra_rbac_guard_audit_rounds_total', { result: 'ok' })) ?? 0;
  await eventually(`${count} more audit rounds`, async () => (((await metric(harness, 'entra_rbac_guard_audit_rounds_total', { result: 'ok' })) ?? 0) >= now + count ? true : undefined), count * INTERVAL_MS + 10_000);
}

type Json = Record<string, any>;

/** `kubectl get KIND NAME -o json`, or undefined when it does not exist. */
async function getObject(harness: Harness, args: readonly string[]): Promise<Json | undefined> {
  const result = await harness.kubectl(['get', ...args, '-o', 'json']);
  if (result.code !== 0) {
    assert.match(result.stderr, 'NotFound', `kubectl get ${args.join(' ')}:\n${show(result)}`);
    return undefined;
  }
  return JSON.parse(result.stdout) as Json;
}

/**
 * kube-apiserver 1.20 built with Go 1.18 or later and its vendored modern-go/reflect2 1.0.1 panics on the first
 * custom resource it stores (map iteration through a linkname whose signature Go changed). Say so, rather than
 * leave a "connection refused" to puzzle over.
 */
async function explainingApiServerCrash<T>(harness: Harness, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const log = join(harness.dir, 'kube-apiserver.log');
    const crashed = existsSync(log) && /panic[\s\S]*modern-go\/reflect2/.test(readFileSync(log, 'utf8'));
    if (!crashed) throw error;
    throw new Error(
      `kube-apiserver crashed storing a custom resource (see ${log}): this build vendors modern-go/reflect2 1.0.1, which ` +
        'breaks under Go 1.18+. Build it with scripts/build-kube-apiserver.sh (it applies scripts/patch-reflect2-go118.sh) and point ' +
        `KUBE_APISERVER at it, or unset KUBE_APISERVER. First error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function reportLine(report: Json): string {
  const { pass, fail, warn, skip } = report['summary'];
  return `pass ${pass}, fail ${fail}, warn ${warn}, skip ${skip}`;
}

// --- the gauges ------------------------------------------------------------------------------------------------------

Audit('group exists :: the binding is audited, no violation for it; the bootstrap RBAC is exempt, not a violation', async ({ harness }) => {
  await roundsLater(harness, 1);
  assert.is(await metric(harness, 'entra_rbac_guard_audit_violations', GROUP_UNKNOWN), undefined);
  assert.is(await metric(harness, 'entra_rbac_guard_audit_violations'), undefined, 'a fresh cluster with one compliant binding has no violation at all');
  assert.ok(((await metric(harness, 'entra_rbac_guard_audit_objects', { kind: 'RoleBinding' })) ?? 0) >= 1);
  assert.ok(((await metric(harness, 'entra_rbac_guard_audit_objects', { kind: 'ClusterRole' })) ?? 0) > 50, 'the bootstrap ClusterRoles are audited');
  assert.ok(((await metric(harness, 'entra_rbac_guard_audit_exempt_objects', { kind: 'ClusterRoleBinding' })) ?? 0) >= 5, 'bootstrap bindings (cluster-admin to system:masters…) are counted as exempt');
  assert.is(await metric(harness, 'entra_rbac_guard_audit_groups'), 1);
  assert.ok(((await metric(harness, 'entra_rbac_guard_audit_last_success_timestamp_seconds')) ?? 0) > Date.now() / 1000 - 60);
});

Audit('no PolicyReport CRD :: said once, with what to do; the rounds go on', async ({ harness }) => {
  await roundsLater(harness, 2);
  const lines = harness.webhookLog().filter((line) => String(line.msg).startsWith('PolicyReports are not written'));
  assert.is(lines.length, 1, `one warning, not one a round:\n${lines.map((line) => line.msg).join('\n')}`);
  assert.match(String(lines[0]!.msg), 'the wgpolicyk8s.io/v1alpha2 PolicyReport CRDs are not installed in the cluster; install them');
  assert.is(await metric(harness, 'entra_rbac_guard_audit_rounds_total', { result: 'failed' }), undefined);
});

Audit('group deleted in Entra :: the violation gauge rises within one interval, though the cache still held the group', async ({ harness, fakes }) => {
  await roundsLater(harness, 1);
  const deleted = Date.now();
  fakes.graph.groups.delete(PAYMENTS.id);
  await eventually('entra_rbac_guard_audit_violations{rule="group-unknown",namespace="team-a"} 1', async () => ((await metric(harness, 'entra_rbac_guard_audit_violations', GROUP_UNKNOWN)) === 1 ? true : undefined), 30_000);
  const elapsed = Date.now() - deleted;
  process.stderr.write(`  (group-unknown gauge up ${elapsed} ms after the group was deleted; interval ${INTERVAL_MS} ms)\n`);
  assert.ok(elapsed <= ONE_INTERVAL_AND_SLACK_MS, `the gauge rose ${elapsed} ms after the deletion; the interval is ${INTERVAL_MS} ms`);
});

// --- the PolicyReports -----------------------------------------------------------------------------------------------

Audit('PolicyReport CRDs applied :: our reports appear, valid objects; the group-unknown result names the binding', async ({ harness }) => {
  const report = await explainingApiServerCrash(harness, async () => {
    expectOk(await harness.kubectl(['apply', '-f', join(LOCAL_FIXTURES, 'policyreport-crds.yaml')]), 'apply the PolicyReport CRDs');
    expectOk(
      await harness.kubectl(['wait', '--for=condition=Established', 'crd/policyreports.wgpolicyk8s.io', 'crd/clusterpolicyreports.wgpolicyk8s.io', '--timeout=30s']),
      'wait for the CRDs',
    );
    return eventually('PolicyReport team-a/entra-rbac-guard', () => getObject(harness, ['policyreport', 'entra-rbac-guard', '-n', NAMESPACE]), 15_000);
  });
  assert.is(report['metadata']['labels']['app.kubernetes.io/managed-by'], 'entra-rbac-guard');
  assert.is(reportLine(report), 'pass 0, fail 1, warn 0, skip 0');
  const [result] = report['results'] as Json[];
  assert.is(result!['rule'], 'group-unknown');
  assert.is(result!['result'], 'fail');
  assert.equal(result!['resources'], [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', name: BINDING, namespace: NAMESPACE }]);
  assert.match(result!['message'], PAYMENTS.id);
  const cluster = await eventually('ClusterPolicyReport entra-rbac-guard', () => getObject(harness, ['clusterpolicyreport', 'entra-rbac-guard']), 15_000);
  assert.is(cluster['summary']['fail'], 0);
  const skipped = (cluster['results'] as Json[]).filter((entry) => entry['result'] === 'skip').map((entry) => entry['resources'][0]['name']);
  assert.ok(skipped.includes('cluster-admin'), `the bootstrap ClusterRoleBinding cluster-admin is a skip result: ${skipped.join(', ')}`);
  assert.ok(harness.webhookLog().some((line) => line.msg === 'PolicyReports can be written again'));
});

Audit('unchanged between rounds :: the report is not rewritten', async ({ harness }) => {
  const before = await getObject(harness, ['policyreport', 'entra-rbac-guard', '-n', NAMESPACE]);
  await roundsLater(harness, 2);
  const after = await getObject(harness, ['policyreport', 'entra-rbac-guard', '-n', NAMESPACE]);
  assert.is(after?.['metadata']['resourceVersion'], before?.['metadata']['resourceVersion']);
});

Audit('group restored in Entra :: the gauge goes back down, the report is replaced with a pass', async ({ harness, fakes }) => {
  fakes.graph.groups.set(PAYMENTS.id, PAYMENTS);
  await eventually('the group-unknown series to go', async () => ((await metric(harness, 'entra_rbac_guard_audit_violations', GROUP_UNKNOWN)) === undefined ? true : undefined), ONE_INTERVAL_AND_SLACK_MS + 5_000);
  const report = await eventually(
    'the PolicyReport to pass',
    async () => {
      const current = await getObject(harness, ['policyreport', 'entra-rbac-guard', '-n', NAMESPACE]);
      return current && current['summary']['pass'] === 1 ? current : undefined;
    },
    ONE_INTERVAL_AND_SLACK_MS + 5_000,
  );
  assert.is(reportLine(report), 'pass 1, fail 0, warn 0, skip 0');
});

Audit('the namespace loses its last RBAC object :: our report there is deleted; a report that is not ours stays', async ({ harness }) => {
  const foreign = {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: { name: 'someone-else', namespace: NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'kyverno' } },
    summary: { pass: 1, fail: 0, warn: 0, error: 0, skip: 0 },
    results: [],
  };
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(foreign) }), "create another tool's report");
  expectOk(await harness.kubectl(['delete', 'rolebinding', BINDING, `--namespace=${NAMESPACE}`]), 'delete the RoleBinding');
  await eventually(
    'our PolicyReport in team-a to be deleted',
    async () => ((await getObject(harness, ['policyreport', 'entra-rbac-guard', '-n', NAMESPACE])) === undefined ? true : undefined),
    ONE_INTERVAL_AND_SLACK_MS + 5_000,
  );
  assert.ok(await getObject(harness, ['policyreport', 'someone-else', '-n', NAMESPACE]), "the other tool's report is left alone");
  assert.ok(await getObject(harness, ['clusterpolicyreport', 'entra-rbac-guard']), 'the ClusterPolicyReport stays');
});

Audit('--audit-reports-api openreports :: the rounds write openreports.io Reports instead, valid objects', async ({ harness, fakes }) => {
  expectOk(await harness.kubectl(['apply', '-f', join(LOCAL_FIXTURES, 'openreports-crds.yaml')]), 'apply the OpenReports CRDs');
  expectOk(await harness.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', 'crd/clusterreports.openreports.io', '--timeout=30s']), 'CRDs established');
  expectOk(await harness.kubectl(['create', 'rolebinding', 'open-team', `--namespace=${NAMESPACE}`, '--clusterrole=view', `--group=${PAYMENTS.id}`]), 'a binding to report on');
  const policy = harness.writePolicy('audit-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\n');
  await withEnvironment(azureEnvironment(fakes), () =>
    harness.restartWebhook({
      args: ['--policy', policy, '--kubeconfig', harness.kubeconfig, '--graph-endpoint', fakes.graph.endpoint, '--audit-interval', `${INTERVAL_MS}ms`, '--audit-write-reports', '--audit-reports-api', 'openreports'],
      directory: false,
    }),
  );
  const report = await eventually('Report team-a/entra-rbac-guard', () => getObject(harness, ['reports.openreports.io', 'entra-rbac-guard', '-n', NAMESPACE]), ONE_INTERVAL_AND_SLACK_MS + 5_000);
  assert.is(report['apiVersion'], 'openreports.io/v1alpha1');
  assert.is(report['source'], 'entra-rbac-guard');
  assert.is(reportLine(report), 'pass 1, fail 0, warn 0, skip 0');
  assert.equal((report['results'] as Json[]).map((result) => result['resources'][0]['name']), ['open-team']);
  assert.ok(await eventually('ClusterReport entra-rbac-guard', () => getObject(harness, ['clusterreports.openreports.io', 'entra-rbac-guard']), ONE_INTERVAL_AND_SLACK_MS));
});

Audit.run();
