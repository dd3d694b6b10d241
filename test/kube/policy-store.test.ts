/**
 * The policy store without a cluster: ConfigMaps in as the informer would hand them over, and out the policy in force,
 * what readiness reports, the log lines, the metrics and the Events. Then the same store behind the real server
 * (inject, no socket): /readyz and /validate while no policy is in force, and once one is.
 */
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gateValidateUntilPolicy } from '../../src/http/health-route.ts';
import { buildServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import {
  PolicyStore,
  createPolicyMetrics,
  type ConfigMapLike,
  type PolicyEvent,
  type PolicyMetrics,
  type PolicyStoreOptions,
  type StoreLog,
} from '../../src/kube/policy-store.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import { ADMIN_GROUP_ID, recordedReview } from '../helpers.ts';

// --- helpers -------------------------------------------------------------------------------------------------------

const REF = { namespace: 'entra-rbac-guard', name: 'policy' };
const LABEL = 'ConfigMap entra-rbac-guard/policy';
const NOW = new Date('2026-05-01T12:00:00.000Z');
const policyYaml = (mode: 'enforce' | 'audit', extra = '') => `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\nadminGroups: [${ADMIN_GROUP_ID}]\n${extra}`;

/** The policy ConfigMap at `resourceVersion`; `data: null` for one with no data at all. */
function configMap(resourceVersion: string, data: Record<string, string> | null = { 'policy.yaml': policyYaml('enforce') }): ConfigMapLike {
  return { metadata: { name: REF.name, namespace: REF.namespace, uid: 'uid-1', resourceVersion }, ...(data ? { data } : {}) };
}

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly object: Record<string, unknown>;
  readonly message: string;
}

interface Harness {
  readonly store: PolicyStore;
  readonly logs: Logged[];
  readonly events: Array<{ configMap: ConfigMapLike; event: PolicyEvent }>;
  readonly metrics: PolicyMetrics;
  readonly registry: Registry;
  readonly metric: (name: string) => Promise<number | undefined>;
}

function harness(overrides: Partial<PolicyStoreOptions> = {}): Harness {
  const logs: Logged[] = [];
  const log: StoreLog = {
    info: (object, message) => logs.push({ level: 'info', object, message }),
    warn: (object, message) => logs.push({ level: 'warn', object, message }),
    error: (object, message) => logs.push({ level: 'error', object, message }),
  };
  const events: Harness['events'] = [];
  const registry = new Registry();
  const metrics = createPolicyMetrics(registry);
  const store = new PolicyStore({
    ref: REF,
    log,
    metrics,
    recordEvent: async (target, event) => {
      events.push({ configMap: target, event });
    },
    now: () => NOW,
    ...overrides,
  });
  const metric = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;
  return { store, logs, events, metrics, registry, metric };
}

/** Lets the store's Event promise settle. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

// --- the store -----------------------------------------------------------------------------------------------------

const Store = suite('policy store: ConfigMap → policy in force');

Store('start-up :: nothing listed yet :: no policy, not ready, waiting', async () => {
  const { store, metric } = harness();
  assert.is(store.current(), undefined);
  assert.is(store.unavailable(), `waiting for the first list of ${LABEL}`);
  assert.equal(store.readiness(), { ready: false, detail: { policy: LABEL, reason: `waiting for the first list of ${LABEL}` } });
  assert.is(await metric('entra_rbac_guard_policy_in_force'), 0);
});

Store('start-up :: the list finds no ConfigMap :: not ready naming it, one warning logged', () => {
  const { store, logs } = harness();
  store.absent();
  store.absent();
  const reason = `${LABEL} not found: create it with the policy under the key policy.yaml`;
  assert.is(store.unavailable(), reason);
  assert.equal(store.readiness(), { ready: false, detail: { policy: LABEL, reason } });
  assert.equal(
    logs.map((line) => [line.level, line.message]),
    [['warn', `${LABEL} not found: not ready, and reviews are answered 503, until it is created with the policy under the key policy.yaml`]],
  );
});

Store('valid ConfigMap :: in force, ready with source, generation and mode; gauges set; logged', async () => {
  const { store, logs, metric } = harness();
  store.observe(configMap('120', { 'policy.yaml': policyYaml('audit') }));
  assert.is(store.current()?.mode, 'audit');
  assert.equal(store.current()?.adminGroups, [ADMIN_GROUP_ID]);
  assert.is(store.unavailable(), undefined);
  assert.equal(store.readiness(), { ready: true, detail: { policy: LABEL, generation: '120', mode: 'audit', since: NOW.toISOString() } });
  assert.is(await metric('entra_rbac_guard_policy_generation'), 120);
  assert.is(await metric('entra_rbac_guard_policy_in_force'), 1);
  assert.equal(logs.map((line) => [line.level, line.message]), [['info', `policy loaded from ${LABEL} (resourceVersion 120, mode audit)`]]);
});

const INVALID: ReadonlyArray<{ readonly name: string; readonly data: Record<string, string> | null; readonly paths: readonly string[]; readonly message: RegExp }> = [
  { name: 'a misspelt rule', data: { 'policy.yaml': policyYaml('audit', 'rules:\n  user-subjct: warn\n') }, paths: ['rules.user-subjct'], message: /unknown rule \(did you mean user-subject\?\)/ },
  { name: 'two problems', data: { 'policy.yaml': 'mode: permissive\nadminGroups: [Platform Admins]\n' }, paths: ['mode', 'adminGroups[0]'], message: /must be one of enforce, audit/ },
  { name: 'YAML that does not parse', data: { 'policy.yaml': 'mode: [enforce\n' }, paths: ['(yaml)'], message: /at line \d+, column \d+/ },
  { name: 'the policy under another key', data: { 'policy.yml': policyYaml('audit') }, paths: ['data.policy.yaml'], message: /is missing: put the policy YAML under the key policy\.yaml \(the ConfigMap has policy\.yml\)/ },
  { name: 'no data at all', data: null, paths: ['data.policy.yaml'], message: /the ConfigMap has no data/ },
];

for (const invalid of INVALID) {
  Store(`invalid first ConfigMap :: ${invalid.name} :: not ready naming the paths; logged, counted, an InvalidPolicy Event`, async () => {
    const { store, logs, events, metric } = harness();
    store.observe(configMap('7', invalid.data));
    await settle();
    assert.is(store.current(), undefined);
    const readiness = store.readiness();
    assert.is(readiness.ready, false);
    assert.equal((readiness.detail['rejected'] as { problems: Array<{ path: string }> }).problems.map((problem) => problem.path), invalid.paths);
    const reason = store.unavailable() ?? '';
    assert.ok(reason.startsWith(`${LABEL} (resourceVersion 7) holds an invalid policy: ${invalid.paths[0]}: `), reason);
    assert.match(reason, invalid.message);
    assert.is(await metric('entra_rbac_guard_policy_reload_errors_total'), 1);
    const errors = logs.filter((line) => line.level === 'error');
    assert.is(errors.length, 1);
    assert.ok(errors[0]!.message.startsWith(`policy change rejected: ${LABEL} resourceVersion 7 holds an invalid policy; no policy is in force`), errors[0]!.message);
    assert.equal((errors[0]!.object['problems'] as Array<{ path: string }>).map((problem) => problem.path), invalid.paths);
    assert.is(events.length, 1);
    const [{ configMap: target, event }] = events as [Harness['events'][number]];
    assert.equal([target.metadata?.name, target.metadata?.resourceVersion, event.reason, event.type], ['policy', '7', 'InvalidPolicy', 'Warning']);
    for (const path of invalid.paths) assert.ok(event.message.includes(`${path}: `), event.message);
    assert.match(event.message, /^Invalid policy in key policy\.yaml \(resourceVersion 7\), not applied; no policy is in force/);
  });
}

Store('invalid change after a valid one :: rejected whole, the last good policy stays, readiness shows both', async () => {
  const { store, events, metric } = harness();
  store.observe(configMap('10', { 'policy.yaml': policyYaml('enforce') }));
  store.observe(configMap('11', { 'policy.yaml': policyYaml('audit', 'rules:\n  user-subjct: warn\n') }));
  await settle();
  assert.is(store.current()?.mode, 'enforce', 'mode: audit in the rejected change must not leak in');
  const readiness = store.readiness();
  assert.is(readiness.ready, true);
  assert.equal([readiness.detail['generation'], readiness.detail['mode']], ['10', 'enforce']);
  assert.equal(readiness.detail['rejected'], {
    generation: '11',
    problems: [{ path: 'rules.user-subjct', message: (readiness.detail['rejected'] as { problems: Array<{ message: string }> }).problems[0]!.message }],
    at: NOW.toISOString(),
  });
  assert.is(await metric('entra_rbac_guard_policy_generation'), 10);
  assert.match(events[0]!.event.message, /not applied; resourceVersion 10, the last good policy, stays in force\. rules\.user-subjct: unknown rule/);
});

Store('same resourceVersion again (relist, resync) :: nothing happens twice: one Event, one count, one log line', async () => {
  const { store, logs, events, metric } = harness();
  const bad = configMap('11', { 'policy.yaml': 'mode: nope\n' });
  store.observe(bad);
  store.observe(bad);
  const good = configMap('12');
  store.observe(good);
  store.observe(good);
  await settle();
  assert.is(events.length, 1);
  assert.is(await metric('entra_rbac_guard_policy_reload_errors_total'), 1);
  assert.equal(logs.map((line) => line.level), ['error', 'info']);
});

Store('valid change after an invalid one :: applied, the rejection cleared', () => {
  const { store, logs } = harness();
  store.observe(configMap('10'));
  store.observe(configMap('11', { 'policy.yaml': 'mode: nope\n' }));
  store.observe(configMap('12', { 'policy.yaml': policyYaml('audit') }));
  assert.equal(store.readiness(), { ready: true, detail: { policy: LABEL, generation: '12', mode: 'audit', since: NOW.toISOString() } });
  assert.is(logs.at(-1)?.message, `policy reloaded from ${LABEL} (resourceVersion 12, mode audit)`);
  assert.is(logs.at(-1)?.object['previous'], '10');
});

Store('valid policy with lock-out warnings :: applied, and the warning logged with its path', () => {
  const { store, logs } = harness();
  store.observe(configMap('3', { 'policy.yaml': 'mode: enforce\n' }));
  assert.is(store.current()?.mode, 'enforce');
  const warning = logs.find((line) => line.level === 'warn');
  assert.ok(warning?.message.startsWith('policy warning: adminGroups: is empty while cluster-admin is denied'), warning?.message);
});

Store('ConfigMap deleted :: the last good policy stays, still ready with a note; logged once; created again :: applied', () => {
  const { store, logs } = harness();
  store.observe(configMap('20'));
  store.deleted();
  store.absent(); // the next relist agrees
  assert.is(store.current()?.mode, 'enforce');
  const readiness = store.readiness();
  assert.equal([readiness.ready, readiness.detail['generation']], [true, '20']);
  assert.is(readiness.detail['note'], 'the ConfigMap was deleted: resourceVersion 20, the last good policy, stays in force');
  const warnings = logs.filter((line) => line.level === 'warn');
  assert.equal(warnings.map((line) => line.message), [`${LABEL} was deleted: keeping the last good policy (resourceVersion 20, mode enforce) until it is created again`]);
  store.observe(configMap('25', { 'policy.yaml': policyYaml('audit') }));
  assert.equal([store.readiness().detail['generation'], store.readiness().detail['note']], ['25', undefined]);
});

Store('list or watch fails before any policy :: not ready naming the API error; counted; then the list works :: the real state', async () => {
  const { store, logs, metric } = harness();
  store.sourceFailed('HTTP 403: configmaps "policy" is forbidden', 1000);
  assert.is(store.unavailable(), `cannot read ${LABEL}: HTTP 403: configmaps "policy" is forbidden`);
  assert.is(store.readiness().detail['sourceError'], 'HTTP 403: configmaps "policy" is forbidden');
  assert.is(await metric('entra_rbac_guard_policy_source_errors_total'), 1);
  assert.is(logs[0]?.message, `cannot read ${LABEL}: HTTP 403: configmaps "policy" is forbidden; retrying in 1.0 s (no policy in force meanwhile)`);
  store.absent();
  assert.equal(store.readiness(), { ready: false, detail: { policy: LABEL, reason: `${LABEL} not found: create it with the policy under the key policy.yaml` } });
});

Store('Event cannot be recorded (no RBAC for events) :: the rejection still holds, and a warning says what to grant', async () => {
  const { store, logs } = harness({
    recordEvent: async () => {
      throw Object.assign(new Error('Forbidden'), { statusCode: 403 });
    },
  });
  store.observe(configMap('5', { 'policy.yaml': 'mode: nope\n' }));
  await settle();
  const warning = logs.find((line) => line.level === 'warn');
  assert.is(warning?.message, `could not record the InvalidPolicy Event on ${LABEL} (the webhook needs create on events in entra-rbac-guard): HTTP 403: Forbidden`);
});

Store('--policy-fallback-default :: ready on the embedded default, saying why; a valid ConfigMap then wins; an invalid one does not', async () => {
  const { store, events, metric } = harness({ fallback: DEFAULT_POLICY });
  assert.is(store.current(), DEFAULT_POLICY);
  assert.is(await metric('entra_rbac_guard_policy_in_force'), 1);
  store.absent();
  assert.equal(store.readiness(), {
    ready: true,
    detail: {
      policy: 'embedded default',
      mode: 'enforce',
      since: NOW.toISOString(),
      fallback: `--policy-fallback-default: ${LABEL} not found: create it with the policy under the key policy.yaml`,
    },
  });
  store.observe(configMap('30', { 'policy.yaml': 'mode: nope\n' }));
  await settle();
  assert.is(store.current(), DEFAULT_POLICY, 'an invalid ConfigMap does not replace the fallback');
  assert.match(events[0]!.event.message, /the embedded default stays in force \(--policy-fallback-default\)/);
  assert.match(String(store.readiness().detail['fallback']), /holds an invalid policy: mode: must be one of enforce, audit/);
  store.observe(configMap('31', { 'policy.yaml': policyYaml('audit') }));
  assert.equal([store.readiness().detail['policy'], store.readiness().detail['generation'], store.current()?.mode], [LABEL, '31', 'audit']);
});

Store.run();

// --- the store behind the server -----------------------------------------------------------------------------------

const TLS = await generateSelfSigned();

const Server = suite('policy store behind the server: /readyz and /validate');

Server('no policy yet :: /readyz 503 with the reason, /validate 503 JSON naming it; a policy arrives :: 200 and a decision', async () => {
  const { store } = harness();
  const app = buildServer({
    tls: TLS,
    currentPolicy: () => {
      const policy = store.current();
      if (!policy) throw new Error('the gate must answer before the policy is read');
      return policy;
    },
    readiness: () => store.readiness(),
  });
  gateValidateUntilPolicy(app, () => store.unavailable());
  try {
    store.absent();
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(notReady.statusCode, 503);
    assert.equal(notReady.json(), { status: 'not ready', policy: LABEL, reason: `${LABEL} not found: create it with the policy under the key policy.yaml` });

    const review = recordedReview('02-CREATE-RoleBinding-carol-admin.json');
    const post = () => app.inject({ method: 'POST', url: '/validate?timeout=10s', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });
    const refused = await post();
    assert.is(refused.statusCode, 503);
    assert.match(String(refused.headers['content-type']), /^application\/json/);
    assert.equal(refused.json(), {
      statusCode: 503,
      code: 'ERB_NO_POLICY',
      error: 'Service Unavailable',
      message: `no policy in force yet: ${LABEL} not found: create it with the policy under the key policy.yaml`,
    });
    assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive all along');

    store.observe(configMap('40'));
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal([ready.statusCode, ready.json()['generation'], ready.json()['mode']], [200, '40', 'enforce']);
    const answered = await post();
    assert.is(answered.statusCode, 200, answered.body);
    assert.is(answered.json()['response']['uid'], review['request']['uid']);
    assert.is(answered.json()['response']['allowed'], false, 'judged by the ConfigMap policy (carol is a User subject)');
  } finally {
    await app.close();
  }
});

Server('gate :: other routes are not gated while no policy is in force', async () => {
  const { store } = harness();
  const app = buildServer({ tls: TLS, currentPolicy: () => DEFAULT_POLICY, readiness: () => store.readiness() });
  gateValidateUntilPolicy(app, () => store.unavailable());
  try {
    assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.is((await app.inject({ method: 'GET', url: '/validate' })).statusCode, 404, 'GET /validate is not the review route');
  } finally {
    await app.close();
  }
});

Server.run();
