/**
 * The continuous audit's rounds without an API server: a RoleCache fed by hand (as the informers feed it), the real
 * engine and judgeRbac, a directory in memory (alone, or behind the real CachedDirectory to show that a round sees a
 * group deleted while the cache still holds it), and the gauges read back from a prom-client Registry.
 * test/e2e/continuous-audit.e2e.ts runs the same audit inside `serve` against kube-apiserver and the Graph fake.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AUDIT_LOOKUP_SLICE, auditDirectory } from '../../src/audit/audit-directory.ts';
import { ContinuousAudit, type AuditLog, type ContinuousAuditOptions, type RoundOutcome } from '../../src/audit/continuous.ts';
import { CachedDirectory } from '../../src/directory/cache.ts';
import type { Directory } from '../../src/directory/port.ts';
import { RoleCache } from '../../src/kube/role-cache.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import type { PolicyReportObject } from '../../src/report/policy-report.ts';
import { createAuditMetrics, type AuditMetrics } from '../../src/telemetry/audit-metrics.ts';
import { within } from '../fakes/harness.ts';
import { ADMIN_GROUP_ID, GROUP_ID, policyWith } from '../helpers.ts';

const RBAC = 'rbac.authorization.k8s.io';
const M365_ID = '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59';

// --- helpers ---------------------------------------------------------------------------------------------------------

/** Groups in memory, as Graph would answer; counts the calls and the IDs asked. */
class MemoryDirectory implements Directory {
  readonly source = 'memory';
  readonly groups = new Map<string, { displayName: string; securityEnabled: boolean }>();
  calls: string[][] = [];
  /** When set, lookups wait for it (a directory that does not answer). */
  hang: Promise<void> | undefined;

  async lookupGroups(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>> {
    this.calls.push([...ids]);
    if (this.hang) await this.hang;
    return new Map(
      ids.map((id): [string, GroupFact] => {
        const group = this.groups.get(id);
        return [id, group ? { state: 'found', ...group } : { state: 'not-found' }];
      }),
    );
  }
}

function subjectGroup(name: string) {
  return { kind: 'Group', apiGroup: RBAC, name };
}

function roleBindingItem(namespace: string, name: string, subjects: readonly object[], role = 'view'): KubernetesObject & Record<string, unknown> {
  return { metadata: { name, namespace }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: role }, subjects };
}

function clusterRoleBindingItem(name: string, subjects: readonly object[], role: string): KubernetesObject & Record<string, unknown> {
  return { metadata: { name }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: role }, subjects };
}

function clusterRoleItem(name: string, rules: readonly object[]): KubernetesObject & Record<string, unknown> {
  return { metadata: { name }, rules };
}

function listAll(cache: RoleCache): void {
  for (const kind of ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'] as const) cache.markListed(kind);
}

/**
 * A small cluster: view and cluster-admin ClusterRoles; a compliant binding (security group), a binding to a
 * Microsoft 365 group, a User binding, the bootstrap cluster-admin binding (exempt), and cluster-admin to the admin group.
 */
function seed(cache: RoleCache): void {
  cache.upsert('ClusterRole', clusterRoleItem('view', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]));
  cache.upsert('ClusterRole', clusterRoleItem('cluster-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]));
  cache.upsert('RoleBinding', roleBindingItem('payments', 'payments-viewers', [subjectGroup(GROUP_ID)]));
  cache.upsert('RoleBinding', roleBindingItem('payments', 'payments-m365', [subjectGroup(M365_ID)]));
  cache.upsert('RoleBinding', roleBindingItem('retail', 'alice-view', [{ kind: 'User', apiGroup: RBAC, name: 'alice@contoso.com' }]));
  cache.upsert('ClusterRoleBinding', clusterRoleBindingItem('cluster-admin', [subjectGroup('system:masters')], 'cluster-admin'));
  cache.upsert('ClusterRoleBinding', clusterRoleBindingItem('platform-admins', [subjectGroup(ADMIN_GROUP_ID)], 'cluster-admin'));
  listAll(cache);
}

function directoryWithGroups(): MemoryDirectory {
  const directory = new MemoryDirectory();
  directory.groups.set(GROUP_ID, { displayName: 'Payments Team', securityEnabled: true });
  directory.groups.set(M365_ID, { displayName: 'Payments (Microsoft 365)', securityEnabled: false });
  directory.groups.set(ADMIN_GROUP_ID, { displayName: 'AKS Admins', securityEnabled: true });
  return directory;
}

interface Context {
  cache: RoleCache;
  registry: Registry;
  metrics: AuditMetrics;
  logs: { level: string; message: string; fields: Record<string, unknown> }[];
}

function auditWith(context: Context, options: Partial<ContinuousAuditOptions> = {}): ContinuousAudit {
  const log: AuditLog = (level, fields, message) => context.logs.push({ level, message, fields });
  return new ContinuousAudit({
    intervalMs: 60_000,
    objects: context.cache,
    policy: () => policyWith(),
    directory: directoryWithGroups(),
    metrics: context.metrics,
    log,
    ...options,
  });
}

/** `labels → value` of a metric, labels written `k=v,k=v` in name order; series of value 0 included. */
async function series(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map(({ labels, value }) => [
      Object.entries(labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, label]) => `${key}=${label}`)
        .join(','),
      value,
    ]),
  );
}

function expectOk(outcome: RoundOutcome): Extract<RoundOutcome, { result: 'ok' }> {
  if (outcome.result !== 'ok') assert.unreachable(`round ${outcome.result}: ${outcome.reason}`);
  return outcome as Extract<RoundOutcome, { result: 'ok' }>;
}

const Round = suite<Context>('continuous audit :: one round', {} as Context);

Round.before.each((context) => {
  context.cache = new RoleCache();
  context.registry = new Registry();
  context.metrics = createAuditMetrics(context.registry);
  context.logs = [];
});

// --- rounds ----------------------------------------------------------------------------------------------------------

Round('mixed cluster :: violations by rule, namespace and action; objects and exempt objects by kind', async (context) => {
  seed(context.cache);
  const outcome = expectOk(await auditWith(context).runRound());
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), {
    'action=deny,namespace=payments,rule=group-not-security-enabled': 1,
    'action=deny,namespace=retail,rule=user-subject': 1,
  });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_objects'), { 'kind=ClusterRole': 2, 'kind=ClusterRoleBinding': 2, 'kind=RoleBinding': 3 });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_exempt_objects'), { 'kind=ClusterRoleBinding': 1 });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_groups'), { '': 3 });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_rounds_total'), { 'result=ok': 1 });
  assert.ok((await series(context.registry, 'entra_rbac_guard_audit_last_success_timestamp_seconds'))['']! > 1_700_000_000);
  assert.is(outcome.checked.length, 7);
  const line = context.logs.find((entry) => entry.message === 'audit round complete');
  assert.ok(line, 'a round logs its summary');
  assert.equal(line!.fields['violationsByRule'], { 'group-not-security-enabled': 1, 'user-subject': 1 });
});

Round('audit mode :: the same violations, as warn', async (context) => {
  seed(context.cache);
  expectOk(await auditWith(context, { policy: () => policyWith({ mode: 'audit' }) }).runRound());
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), {
    'action=warn,namespace=payments,rule=group-not-security-enabled': 1,
    'action=warn,namespace=retail,rule=user-subject': 1,
  });
});

Round('a widened role :: each binding of it counted once, in its namespace ("" for a ClusterRoleBinding); the role itself not at all', async (context) => {
  seed(context.cache);
  // view now grants everything: every non-admin subject holding it through a binding is cluster-admin.
  context.cache.upsert('ClusterRole', clusterRoleItem('view', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]));
  context.cache.upsert('ClusterRoleBinding', clusterRoleBindingItem('everyone-views', [subjectGroup(GROUP_ID)], 'view'));
  const outcome = expectOk(await auditWith(context).runRound());
  const violations = await series(context.registry, 'entra_rbac_guard_audit_violations');
  assert.is(violations['action=deny,namespace=,rule=cluster-admin'], 1, JSON.stringify(violations));
  assert.is(violations['action=deny,namespace=payments,rule=cluster-admin'], 2, JSON.stringify(violations));
  assert.is(violations['action=deny,namespace=retail,rule=cluster-admin'], 1, JSON.stringify(violations));
  const view = outcome.checked.find((entry) => entry.object.kind === 'ClusterRole' && entry.object.name === 'view')!;
  assert.equal(view.decision.violations, [], 'the role is not judged again through its bindings');
});

Round('fixed between rounds :: the violation leaves the gauge (reset, then set)', async (context) => {
  seed(context.cache);
  const audit = auditWith(context);
  expectOk(await audit.runRound());
  context.cache.remove('RoleBinding', roleBindingItem('retail', 'alice-view', []));
  context.cache.remove('RoleBinding', roleBindingItem('payments', 'payments-m365', []));
  expectOk(await audit.runRound());
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), {});
  assert.equal((await series(context.registry, 'entra_rbac_guard_audit_objects'))['kind=RoleBinding'], 1);
});

Round('group deleted in the directory after a round :: the next round counts group-unknown, the cache notwithstanding', async (context) => {
  seed(context.cache);
  const graph = directoryWithGroups();
  // Ten minutes of positive cache: a lookup through the cache would still say the group exists.
  const cached = new CachedDirectory(graph, { positiveTtlMs: 10 * 60_000 });
  const audit = auditWith(context, { directory: cached });
  expectOk(await audit.runRound());
  assert.is((await series(context.registry, 'entra_rbac_guard_audit_violations'))['action=deny,namespace=payments,rule=group-unknown'], undefined);
  graph.groups.delete(GROUP_ID);
  assert.ok(cached.cachedGroups([GROUP_ID]), 'the cache still holds the group as found');
  expectOk(await audit.runRound());
  assert.is((await series(context.registry, 'entra_rbac_guard_audit_violations'))['action=deny,namespace=payments,rule=group-unknown'], 1);
  assert.equal(cached.cachedGroups([GROUP_ID])?.get(GROUP_ID), { state: 'not-found' }, "the round renewed the webhook's cached answer");
  assert.is(graph.calls.length, 2, 'one directory call a round');
});

Round('group turned into a non-security group :: group-not-security-enabled next round', async (context) => {
  seed(context.cache);
  const graph = directoryWithGroups();
  const audit = auditWith(context, { directory: new CachedDirectory(graph) });
  expectOk(await audit.runRound());
  graph.groups.set(GROUP_ID, { displayName: 'Payments Team', securityEnabled: false });
  expectOk(await audit.runRound());
  assert.is((await series(context.registry, 'entra_rbac_guard_audit_violations'))['action=deny,namespace=payments,rule=group-not-security-enabled'], 2);
});

Round('no directory :: groups are not checked, other rules still are', async (context) => {
  seed(context.cache);
  expectOk(await auditWith(context, { directory: undefined }).runRound());
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), { 'action=deny,namespace=retail,rule=user-subject': 1 });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_groups'), { '': 0 });
});

Round('a break-glass entry that expired between rounds :: its leftover binding is a violation and counts in the expired-exemptions gauge', async (context) => {
  seed(context.cache);
  const expires = Date.parse('2026-12-08T18:00:00Z');
  const alice = { kind: 'User' as const, name: 'alice@contoso.com' };
  const policy = policyWith({
    allow: { ...policyWith().allow, users: ['alice@contoso.com'] },
    timeBoxed: [{ list: 'allow.users', index: 0, name: alice.name, expires: '2026-12-08T18:00:00Z', expiresAtMs: expires, reason: 'INC-4711' }],
  });
  let now = expires - 1000;
  const audit = auditWith(context, { policy: () => policy, now: () => now });
  const before = expectOk(await audit.runRound());
  const userSubject = 'action=deny,namespace=retail,rule=user-subject';
  assert.is((await series(context.registry, 'entra_rbac_guard_audit_violations'))[userSubject], undefined, 'exempt while the entry holds');
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_expired_exemptions'), {});
  assert.ok(before.checked.some(({ decision }) => decision.exemption?.startsWith('break-glass allow.users "alice@contoso.com" (INC-4711)')));
  now = expires;
  const after = expectOk(await audit.runRound());
  assert.is((await series(context.registry, 'entra_rbac_guard_audit_violations'))[userSubject], 1);
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_expired_exemptions'), { 'namespace=retail,rule=user-subject': 1 });
  const violation = after.checked.flatMap(({ decision }) => decision.violations).find(({ rule }) => rule === 'user-subject')!;
  assert.equal(violation.expiredExemption, { list: 'allow.users', name: alice.name, expires: '2026-12-08T18:00:00Z', reason: 'INC-4711' });
});

Round('role cache not synced :: skipped, gauges untouched, said once', async (context) => {
  context.cache.upsert('RoleBinding', roleBindingItem('retail', 'alice-view', [{ kind: 'User', apiGroup: RBAC, name: 'alice@contoso.com' }]));
  context.cache.markListed('RoleBinding');
  const directory = directoryWithGroups();
  const audit = auditWith(context, { directory });
  const outcome = await audit.runRound();
  await audit.runRound();
  assert.is(outcome.result, 'skipped');
  assert.match((outcome as { reason: string }).reason, 'role cache has not listed every RBAC kind');
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), {});
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_rounds_total'), { 'result=skipped': 2 });
  assert.is(context.logs.filter((entry) => entry.message.startsWith('audit round skipped')).length, 1);
  assert.is(directory.calls.length, 0);
});

Round('no policy in force :: skipped, saying why', async (context) => {
  seed(context.cache);
  const outcome = await auditWith(context, { policy: () => ({ unavailable: 'ConfigMap guard/policy has no key policy.yaml' }) }).runRound();
  assert.equal(outcome, { result: 'skipped', reason: 'no policy in force (ConfigMap guard/policy has no key policy.yaml)' });
});

Round('a round that fails :: gauges keep the previous round, failed counted, error logged', async (context) => {
  seed(context.cache);
  let broken = false;
  const objects = {
    get synced() {
      return true;
    },
    all: () => {
      if (broken) throw new Error('the cache is broken');
      return context.cache.all();
    },
  };
  const audit = auditWith(context, { objects });
  expectOk(await audit.runRound());
  const before = await series(context.registry, 'entra_rbac_guard_audit_violations');
  const lastSuccess = await series(context.registry, 'entra_rbac_guard_audit_last_success_timestamp_seconds');
  broken = true;
  assert.equal(await audit.runRound(), { result: 'failed', reason: 'the cache is broken' });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), before);
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_last_success_timestamp_seconds'), lastSuccess);
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_rounds_total'), { 'result=ok': 1, 'result=failed': 1 });
  assert.ok(context.logs.some((entry) => entry.level === 'error' && entry.fields['error'] === 'the cache is broken'));
});

Round('a directory that does not answer :: the round fails at its timeout instead of reporting every group unavailable', async (context) => {
  seed(context.cache);
  const audit = auditWith(context, { directory: directoryWithGroups(), roundTimeoutMs: 60_000 });
  expectOk(await audit.runRound());
  const before = await series(context.registry, 'entra_rbac_guard_audit_violations');
  const hanging = directoryWithGroups();
  hanging.hang = new Promise(() => undefined);
  // The round's timeout timer is unref'd (it must not hold a server open): something has to keep this process alive.
  const keepAlive = setInterval(() => undefined, 50);
  const outcome = await auditWith(context, { directory: hanging, roundTimeoutMs: 100 }).runRound().finally(() => clearInterval(keepAlive));
  assert.equal(outcome, { result: 'failed', reason: 'the directory lookups did not finish within 100 ms' });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), before);
});

Round('runRound while a round is under way :: one round, one outcome for both callers', async (context) => {
  seed(context.cache);
  const directory = directoryWithGroups();
  let release = () => undefined as void;
  directory.hang = new Promise<void>((resolve) => (release = resolve));
  const audit = auditWith(context, { directory });
  const first = audit.runRound();
  const second = audit.runRound();
  await new Promise((resolve) => setTimeout(resolve, 10));
  release();
  assert.is(await first, await second);
  assert.is(directory.calls.length, 1);
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_rounds_total'), { 'result=ok': 1 });
});

Round('stopped during a round :: publishes nothing, returns at once', async (context) => {
  seed(context.cache);
  const directory = directoryWithGroups();
  directory.hang = new Promise(() => undefined);
  const audit = auditWith(context, { directory });
  const round = audit.runRound();
  await new Promise((resolve) => setTimeout(resolve, 10));
  await audit.stop();
  assert.equal(await round, { result: 'skipped', reason: 'the audit was stopped' });
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_violations'), {});
  assert.equal(await series(context.registry, 'entra_rbac_guard_audit_rounds_total'), {});
});

Round('writeReports :: one PolicyReport per namespace and a ClusterPolicyReport; a failing writer fails nothing', async (context) => {
  seed(context.cache);
  const written: PolicyReportObject[][] = [];
  expectOk(await auditWith(context, { reportWriter: { write: async (reports) => void written.push([...reports]) } }).runRound());
  assert.is(written.length, 1);
  assert.equal(
    written[0]!.map((report) => `${report.kind}/${report.metadata.namespace ?? ''}: fail ${report.summary.fail}, pass ${report.summary.pass}, skip ${report.summary.skip}`),
    ['ClusterPolicyReport/: fail 0, pass 3, skip 1', 'PolicyReport/payments: fail 1, pass 1, skip 0', 'PolicyReport/retail: fail 1, pass 0, skip 0'],
  );
  const failing = await auditWith(context, { reportWriter: { write: () => Promise.reject(new Error('API server gone')) } }).runRound();
  expectOk(failing);
  assert.ok(context.logs.some((entry) => entry.level === 'warn' && entry.fields['error'] === 'API server gone'));
});

Round.run();

// --- scheduling ------------------------------------------------------------------------------------------------------

const Schedule = suite<Context>('continuous audit :: scheduling', {} as Context);

Schedule.before.each((context) => {
  context.cache = new RoleCache();
  context.registry = new Registry();
  context.metrics = createAuditMetrics(context.registry);
  context.logs = [];
});

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Schedule('start :: waits for the role cache, then runs a round every interval; stop ends them', async (context) => {
  const directory = directoryWithGroups();
  const audit = auditWith(context, { intervalMs: 50, directory });
  audit.start();
  await until('a skipped round', async () => (await series(context.registry, 'entra_rbac_guard_audit_rounds_total'))['result=skipped'] === 1);
  seed(context.cache);
  await until('three rounds', () => directory.calls.length >= 3);
  await audit.stop();
  const calls = directory.calls.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.is(directory.calls.length, calls, 'no round after stop');
});

Schedule('start :: the timer does not keep the process alive', async (context) => {
  seed(context.cache);
  const audit = auditWith(context, { intervalMs: 60_000 });
  audit.start();
  await until('the first round', async () => (await series(context.registry, 'entra_rbac_guard_audit_rounds_total'))['result=ok'] === 1);
  const timer = (audit as unknown as { timer: NodeJS.Timeout }).timer;
  assert.is(timer.hasRef(), false);
  await audit.stop();
});

Schedule('stop :: a PolicyReport write that never ends does not hold it up', async (context) => {
  seed(context.cache);
  let writing = false;
  const audit = auditWith(context, {
    reportWriter: {
      write: () => {
        writing = true;
        return new Promise(() => undefined);
      },
    },
  });
  void audit.runRound();
  await until('the report write to start', () => writing);
  // stop()'s own wait is unref'd (it must not hold a server open): keep this process alive meanwhile.
  const keepAlive = setInterval(() => undefined, 50);
  try {
    await within(10_000, audit.stop(), 'stop()');
  } finally {
    clearInterval(keepAlive);
  }
});

Schedule.run();

// --- the audit's directory view --------------------------------------------------------------------------------------

const Slices = suite('continuous audit :: auditDirectory');

function ids(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);
}

Slices('200 groups :: looked up in slices of 80, every answer kept', async () => {
  const directory = new MemoryDirectory();
  const answers = await auditDirectory(directory, { refresh: false }).lookupGroups(ids(200));
  assert.equal(directory.calls.map((call) => call.length), [AUDIT_LOOKUP_SLICE, AUDIT_LOOKUP_SLICE, 200 - 2 * AUDIT_LOOKUP_SLICE]);
  assert.is(answers.size, 200);
});

Slices('a directory that answers 1,000 a request (getByIds) :: its lookupSlice, through the cache: 2,500 groups in 3 calls', async () => {
  const inner = Object.assign(new MemoryDirectory(), { lookupSlice: 1000 });
  const answers = await auditDirectory(new CachedDirectory(inner), { refresh: true }).lookupGroups(ids(2500));
  assert.equal(inner.calls.map((call) => call.length), [1000, 1000, 500]);
  assert.is(answers.size, 2500);
});

Slices('refresh :: asks the directory behind the cache even for fresh entries; without refresh the cache answers', async () => {
  const inner = new MemoryDirectory();
  const cached = new CachedDirectory(inner);
  await cached.lookupGroups(ids(3));
  const plain = auditDirectory(cached, { refresh: false });
  assert.ok(plain.cachedGroups?.(ids(3)), 'without refresh, the cache answers at once');
  await auditDirectory(cached, { refresh: true }).lookupGroups(ids(3));
  assert.is(inner.calls.length, 2);
  assert.is(auditDirectory(cached, { refresh: true }).cachedGroups, undefined, 'refresh never answers from the cache');
});

Slices('a directory without a cache :: refresh is an ordinary lookup', async () => {
  const directory = new MemoryDirectory();
  await auditDirectory(directory, { refresh: true }).lookupGroups(ids(2));
  assert.is(directory.calls.length, 1);
});

Slices.run();
