/**
 * The webhook with Microsoft Graph behind it, end to end in one process: the directory built exactly as `serve`
 * builds it (`loadDirectory` from the environment Azure Workload Identity gives a pod, pointed at the loopback fakes),
 * the real @azure/identity and Graph client, `buildServer` listening on 127.0.0.1 over real TLS, and AdmissionReviews
 * (recorded fixture 01 with its group IDs changed) POSTed to it. The Graph fake counts its calls, so a test can prove
 * that an answer came from the cache or that a call was held back.
 *
 * Every test starts its own fakes and server and closes them in `finally` (nothing is set up in `before`, which uvu
 * 0.5 would not report when it fails); every wait is bounded by `within`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyServerOptions } from 'fastify';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDirectory, type DirectoryOptions } from '../../src/config.ts';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import type { Policy } from '../../src/policy/model.ts';
import { loggerOptions } from '../../src/telemetry/logger.ts';
import { createMetrics, type Metrics } from '../../src/telemetry/metrics.ts';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { CLIENT_SECRET, FEDERATED_TOKEN, captureOutput, startFakes, within, type Fakes } from '../fakes/harness.ts';
import { RECORDED_REVIEWS, policyWith, policyWithDirectory } from '../helpers.ts';

// --- groups the Graph fake knows ------------------------------------------------------------------------------

const PAYMENTS: FakeGroup = { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Team', securityEnabled: true };
const M365: FakeGroup = { id: '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59', displayName: 'Payments (Microsoft 365)', securityEnabled: false };
const RETAIL: FakeGroup = { id: 'c9f0f895-fb98-4b91-99f5-1a2b3c4d5e6f', displayName: 'Retail Developers', securityEnabled: true };
/** A well-formed object ID that no group has: a typo. */
const UNKNOWN = '0e3b4c5d-6f70-4812-9a3b-4c5d6e7f8091';

function guid(index: number): string {
  return `${index.toString(16).padStart(8, '0')}-aaaa-4bbb-8ccc-${index.toString(16).padStart(12, '0')}`;
}

/** Ten more security groups, for the review that names ten groups at once. */
const TEAM_GROUPS: FakeGroup[] = Array.from({ length: 10 }, (_, index) => ({ id: guid(index + 1), displayName: `Team ${index + 1}`, securityEnabled: true }));

const ALL_GROUPS = [PAYMENTS, M365, RETAIL, ...TEAM_GROUPS];

const ENFORCE = policyWith();
const TLS = await generateSelfSigned();

type Json = Record<string, any>;

// --- AdmissionReviews ------------------------------------------------------------------------------------------

const FIXTURE = JSON.parse(readFileSync(`${RECORDED_REVIEWS}01-CREATE-RoleBinding-payments-viewers.json`, 'utf8')) as Json;

/** Recorded fixture 01 (a RoleBinding of ClusterRole view in payments) binding these groups, with a fresh uid. */
function reviewNaming(groupIds: readonly string[]): Json {
  const review = structuredClone(FIXTURE);
  review['request']['uid'] = randomUUID();
  review['request']['object']['subjects'] = groupIds.map((name) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name }));
  return review;
}

// --- the webhook over TLS --------------------------------------------------------------------------------------

interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

interface Reviewed {
  readonly uid: string;
  readonly response: Json;
  readonly elapsedMs: number;
}

interface Webhook {
  readonly fakes: Fakes;
  readonly app: WebhookServer;
  readonly metrics: Metrics;
  /** What loadDirectory said it uses (the startup log's `directory`). */
  readonly description: string;
  /** Everything the webhook's logger wrote. */
  readonly logs: () => string;
  /** Every body the webhook answered with, in order. */
  readonly bodies: string[];
  /** POSTs a review naming `groupIds` to /validate`query` and returns its (checked) AdmissionReview response. */
  review(groupIds: readonly string[], query?: string): Promise<Reviewed>;
  get(path: string): Promise<HttpAnswer>;
}

interface WebhookOptions {
  readonly policy?: Policy;
  /** The directory options beyond `env` and `metrics` (e.g. a short cache TTL). */
  readonly directory?: Partial<Omit<DirectoryOptions, 'env' | 'metrics'>>;
  /** The environment the directory reads; the fakes' workload-identity environment by default. */
  readonly env?: (fakes: Fakes) => NodeJS.ProcessEnv;
}

/** One HTTPS request on its own connection, trusting only the webhook's CA; fails after `timeoutMs`. */
function httpsCall(port: number, method: 'GET' | 'POST', path: string, body?: string, timeoutMs = 10_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        ca: TLS.ca,
        timeout: timeoutMs,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Starts the fakes and the webhook as `serve` wires them, runs `work`, and always closes both. The whole test is
 * bounded: a hang fails it instead of stalling the suite.
 */
async function withWebhook(options: WebhookOptions, work: (webhook: Webhook) => Promise<void>, timeoutMs = 30_000): Promise<void> {
  const fakes = await within(10_000, startFakes(ALL_GROUPS), 'starting the fakes');
  let app: WebhookServer | undefined;
  try {
    const metrics = createMetrics(new Registry());
    const policy = options.policy ?? ENFORCE;
    const loaded = await within(5000, loadDirectory(policy, { ...options.directory, env: options.env ? options.env(fakes) : fakes.env, metrics }), 'loadDirectory');
    assert.ok(loaded.directory, `loadDirectory configured no directory: ${loaded.description}`);
    const logChunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        logChunks.push(String(chunk));
        done();
      },
    });
    app = buildServer({
      tls: TLS,
      currentPolicy: () => policy,
      directory: loaded.directory,
      metrics,
      // The production logger (its redaction included) at debug, written where the test can read it.
      logger: { ...(loggerOptions('debug') as object), stream } as FastifyServerOptions['logger'],
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const bodies: string[] = [];
    const webhook: Webhook = {
      fakes,
      app,
      metrics,
      description: loaded.description,
      logs: () => logChunks.join(''),
      bodies,
      async review(groupIds, query = '') {
        const review = reviewNaming(groupIds);
        const uid = String(review['request']['uid']);
        const started = performance.now();
        const answer = await httpsCall(port, 'POST', `/validate${query}`, JSON.stringify(review));
        const elapsedMs = performance.now() - started;
        bodies.push(answer.body);
        assert.is(answer.status, 200, answer.body);
        assert.match(answer.contentType, /^application\/json/);
        const response = (JSON.parse(answer.body) as Json)['response'] as Json;
        assert.is(response['uid'], uid, 'request.uid is echoed');
        for (const warning of response['warnings'] ?? []) {
          assert.not.match(String(warning), /[\r\n]/, 'a warning with a newline is dropped by the API server');
          assert.ok([...String(warning)].length <= 256, 'a warning over 256 characters is dropped by the API server');
        }
        return { uid, response, elapsedMs };
      },
      async get(path) {
        const answer = await httpsCall(port, 'GET', path);
        bodies.push(answer.body);
        return answer;
      },
    };
    await within(timeoutMs, work(webhook), 'the test');
  } finally {
    try {
      if (app) await within(10_000, app.close(), 'closing the webhook');
    } finally {
      await within(10_000, fakes.close(), 'closing the fakes');
    }
  }
}

// --- assertions ------------------------------------------------------------------------------------------------

/** Denied 403, one message line per denied rule, in this order. */
function assertDenied(response: Json, rules: readonly string[]): string {
  assert.is(response['allowed'], false, JSON.stringify(response));
  assert.is(response['status']?.['code'], 403);
  assert.is(response['status']?.['reason'], 'Forbidden');
  const message = String(response['status']?.['message']);
  assert.equal(
    message.split('\n').map((line) => /\[([a-z-]+)\]/.exec(line)?.[1]),
    [...rules],
    `one line per denied rule: ${message}`,
  );
  assert.is(response['auditAnnotations']?.['decision'], 'denied');
  return message;
}

/** Allowed, with nothing to say: no warning, no annotation, no status. */
function assertCleanAllow(response: Json): void {
  assert.equal(Object.keys(response).sort(), ['allowed', 'uid'], `an allowed review with nothing to report: ${JSON.stringify(response)}`);
  assert.is(response['allowed'], true);
}

/** The value of one Prometheus sample, e.g. `entra_rbac_guard_directory_lookups_total{outcome="hit"}`; undefined when absent. */
function sample(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((text) => text.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------------------------
const Answers = suite('webhook + Graph :: answers');

Answers('directory :: loadDirectory picks Graph at the fake with workload identity', async () => {
  await withWebhook({}, async ({ description, fakes }) => {
    assert.match(description, new RegExp(`^Microsoft Graph at ${escapeRegExp(fakes.graph.endpoint)} `));
    assert.match(description, /GroupMember\.Read\.All/);
    assert.match(description, /workload identity/);
    assert.not.ok(description.includes(FEDERATED_TOKEN), 'the description names the token file, never its content');
  });
});

Answers('unknown group :: denied [group-unknown], one GET with the workload identity token', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    const { response } = await review([UNKNOWN]);
    const message = assertDenied(response, ['group-unknown']);
    assert.match(message, new RegExp(`^RoleBinding payments/payments-viewers binds Group "${UNKNOWN}" \\[group-unknown\\]: no group with this object ID exists in Microsoft Entra ID \\(Microsoft Graph\\)`));
    assert.match(String(response['auditAnnotations']?.['group-unknown']), /^deny: /);
    assert.is(fakes.graph.getCalls, 1);
    assert.is(fakes.graph.requests[0]?.url, `/v1.0/groups/${UNKNOWN}?$select=id,displayName,securityEnabled`);
    assert.ok(fakes.graph.requests[0]?.authorized, 'the request carried the token from the Entra fake');
    assert.is(fakes.entra.tokenRequests.at(-1)?.clientAssertion, FEDERATED_TOKEN, 'the federated token file went to Entra as client_assertion');
  });
});

Answers('Microsoft 365 group (securityEnabled false) :: denied [group-not-security-enabled], naming it', async () => {
  await withWebhook({}, async ({ review }) => {
    const { response } = await review([M365.id]);
    const message = assertDenied(response, ['group-not-security-enabled']);
    assert.ok(message.includes(`Group "${M365.id}" ("${M365.displayName}") [group-not-security-enabled]`), message);
  });
});

Answers('security group :: allowed with no note; asked again :: no Graph call, no new token', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    assert.is(fakes.graph.calls, 1);
    const tokens = fakes.entra.issuedTokens;
    assert.is(tokens, 1);
    assertCleanAllow((await review([PAYMENTS.id])).response);
    assert.is(fakes.graph.calls, 1, 'the second review of a cached group makes no Graph call');
    assert.is(fakes.entra.issuedTokens, tokens, 'nor a token request');
  });
});

Answers('unknown group asked again :: still denied from the negative cache, no Graph call', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    assertDenied((await review([UNKNOWN])).response, ['group-unknown']);
    assertDenied((await review([UNKNOWN])).response, ['group-unknown']);
    assert.is(fakes.graph.calls, 1);
  });
});

Answers.run();

// ---------------------------------------------------------------------------------------------------------------
const Speed = suite('webhook + Graph :: speed');

Speed('100 concurrent reviews naming one new group :: exactly one Graph call, all allowed', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    // Slow enough that every review arrives while the one lookup is still out.
    fakes.graph.latencyMs = 300;
    const answers = await Promise.all(Array.from({ length: 100 }, () => review([RETAIL.id])));
    for (const { response } of answers) assertCleanAllow(response);
    assert.is(new Set(answers.map(({ uid }) => uid)).size, 100);
    assert.is(fakes.graph.calls, 1, `one Graph call for 100 concurrent reviews, got ${fakes.graph.calls}`);
    assert.is(fakes.graph.getCalls, 1);
  });
});

Speed('one review naming 10 new groups :: one $batch call with all 10, allowed', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    const ids = TEAM_GROUPS.map((group) => group.id);
    assertCleanAllow((await review(ids)).response);
    assert.is(fakes.graph.calls, 1);
    assert.is(fakes.graph.batchCalls, 1);
    assert.is(fakes.graph.getCalls, 0);
    const asked = fakes.graph.requests[0]?.batchUrls ?? [];
    assert.equal(
      [...asked].sort(),
      ids.map((id) => `/groups/${id}?$select=id,displayName,securityEnabled`).sort(),
      'each group once, by object ID, with $select',
    );
    assertCleanAllow((await review(ids.slice(0, 3))).response);
    assert.is(fakes.graph.calls, 1, 'all ten are cached afterwards');
  });
});

Speed('review naming a cached and an uncached group :: only the uncached one is asked', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    fakes.graph.resetCounters();
    assertDenied((await review([PAYMENTS.id, M365.id])).response, ['group-not-security-enabled']);
    assert.is(fakes.graph.calls, 1);
    assert.is(fakes.graph.requests[0]?.url, `/v1.0/groups/${M365.id}?$select=id,displayName,securityEnabled`);
  });
});

Speed.run();

// ---------------------------------------------------------------------------------------------------------------
const Faults = suite('webhook + Graph :: faults');

Faults('429 with Retry-After 1 :: reviews in the window denied at once without a Graph call; after it, one succeeds', async () => {
  await withWebhook({}, async ({ review, fakes, get }) => {
    fakes.graph.failNext({ kind: 'throttle', retryAfterSeconds: 1 });
    const throttledAt = performance.now();
    const first = await review([PAYMENTS.id]);
    const message = assertDenied(first.response, ['directory-unavailable']);
    assert.ok(message.includes(`Group "${PAYMENTS.id}" [directory-unavailable]`), message);
    assert.match(message, /Microsoft Graph is throttling \(Retry-After 1s\)/);
    assert.is(fakes.graph.calls, 1);

    // Inside the window: answered immediately, from the breaker, for the same group and for another one.
    for (const ids of [[PAYMENTS.id], [RETAIL.id], [M365.id, UNKNOWN]]) {
      const during = await review(ids);
      assert.ok(performance.now() - throttledAt < 900, 'still inside the Retry-After window (the test machine was too slow)');
      assert.ok(during.elapsedMs < 500, `answered in ${Math.round(during.elapsedMs)} ms: no waiting out Retry-After`);
      const text = assertDenied(during.response, ids.map(() => 'directory-unavailable'));
      assert.match(text, /Retry-After 1s/);
    }
    assert.is(fakes.graph.calls, 1, 'no Graph call during the Retry-After window');

    await sleep(Math.max(0, 1100 - (performance.now() - throttledAt)));
    assertCleanAllow((await review([PAYMENTS.id])).response);
    assert.is(fakes.graph.calls, 2, 'one call after the window');
    assertCleanAllow((await review([RETAIL.id])).response);
    assert.is(fakes.graph.calls, 3, 'the breaker closed again');

    const metrics = (await get('/metrics')).body;
    assert.ok((sample(metrics, 'entra_rbac_guard_directory_lookups_total{outcome="throttled"}') ?? 0) >= 5, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_circuit_state'), 0, 'closed again');
  });
});

Faults('Graph down (503), onError deny :: denied naming the group and the reason; /readyz stays 200', async () => {
  await withWebhook({}, async ({ review, fakes, get }) => {
    fakes.graph.failure = { kind: 'status', status: 503 };
    const { response } = await review([PAYMENTS.id]);
    const message = assertDenied(response, ['directory-unavailable']);
    assert.ok(message.includes(`binds Group "${PAYMENTS.id}" [directory-unavailable]: could not check the group in Microsoft Entra ID (Microsoft Graph answered HTTP 503`), message);
    assert.match(String(response['auditAnnotations']?.['directory-unavailable']), new RegExp(`^deny: .*${PAYMENTS.id}.*HTTP 503`));
    // The breaker is open now: a second review is refused without a call, still saying why.
    const again = assertDenied((await review([RETAIL.id])).response, ['directory-unavailable']);
    assert.match(again, /Microsoft Graph answered HTTP 503 serviceNotAvailable; Microsoft Graph is not called again for \d+s/);
    assert.is(fakes.graph.calls, 1);

    const ready = await get('/readyz');
    assert.is(ready.status, 200, 'a Graph outage does not make the webhook unready');
    assert.is((JSON.parse(ready.body) as Json)['status'], 'ready');
    const metrics = (await get('/metrics')).body;
    assert.is(sample(metrics, 'entra_rbac_guard_directory_lookups_total{outcome="error"}'), 2, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_circuit_state'), 1, 'the outage shows in the metrics');
    assert.is(sample(metrics, 'entra_rbac_guard_admission_decisions_total{result="denied",mode="enforce"}'), 2, metrics);
  });
});

Faults('Graph down (503), onError allow :: allowed with a warning naming the group and the reason', async () => {
  await withWebhook({ policy: policyWithDirectory({ onError: 'allow' }) }, async ({ review, fakes }) => {
    fakes.graph.failure = { kind: 'status', status: 503 };
    const { response } = await review([PAYMENTS.id]);
    assert.is(response['allowed'], true, JSON.stringify(response));
    assert.is(response['status'], undefined);
    const warnings = (response['warnings'] ?? []) as string[];
    assert.is(warnings.length, 1, JSON.stringify(warnings));
    assert.ok(warnings[0]!.includes(`binds Group "${PAYMENTS.id}" [directory-unavailable]`), warnings[0]);
    assert.match(warnings[0]!, /Microsoft Graph answered HTTP 503/);
    assert.is(response['auditAnnotations']?.['decision'], 'allowed-with-violations');
    assert.match(String(response['auditAnnotations']?.['directory-unavailable']), /^warn: .*HTTP 503/);
  });
});

Faults('Graph hanging, ?timeout=3s :: answered before the deadline, denied directory-unavailable', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    fakes.graph.failure = { kind: 'hang' };
    const { response, elapsedMs } = await review([PAYMENTS.id], '?timeout=3s');
    assert.ok(elapsedMs < 3000, `answered in ${Math.round(elapsedMs)} ms, inside the API server's 3 s`);
    assert.ok(elapsedMs > 1500, `answered in ${Math.round(elapsedMs)} ms: Graph was given the lookup deadline (60% of 3 s) first`);
    const message = assertDenied(response, ['directory-unavailable']);
    assert.ok(
      message.includes(`Group "${PAYMENTS.id}" [directory-unavailable]: could not check the group in Microsoft Entra ID (Microsoft Graph did not answer before the review's deadline)`),
      message,
    );
    assert.is(fakes.graph.calls, 1, 'the request reached the fake and hung there');
  });
});

Faults('Graph hanging, ?timeout=3s, onError allow :: allowed with a warning, before the deadline', async () => {
  await withWebhook({ policy: policyWithDirectory({ onError: 'allow' }) }, async ({ review, fakes }) => {
    fakes.graph.failure = { kind: 'hang' };
    const { response, elapsedMs } = await review([RETAIL.id], '?timeout=3s');
    assert.ok(elapsedMs < 3000, `answered in ${Math.round(elapsedMs)} ms`);
    assert.is(response['allowed'], true);
    assert.match(String(response['warnings']?.[0]), new RegExp(`Group "${RETAIL.id}" \\[directory-unavailable\\].*did not answer before the review's deadline`));
  });
});

Faults('stale-if-error :: cached group expired, Graph failing :: allowed with a stale warning and directory-stale annotation', async () => {
  await withWebhook({ directory: { positiveTtlMs: 200 } }, async ({ review, fakes, get }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    await sleep(300);
    fakes.graph.failure = { kind: 'status', status: 503 };
    const { response } = await review([PAYMENTS.id]);
    assert.is(response['allowed'], true, JSON.stringify(response));
    assert.is(response['status'], undefined);
    const warnings = (response['warnings'] ?? []) as string[];
    assert.is(warnings.length, 1, JSON.stringify(warnings));
    assert.ok(warnings[0]!.startsWith(`Group "${PAYMENTS.id}" was judged on a cached directory answer`), warnings[0]);
    assert.match(warnings[0]!, /HTTP 503/);
    const annotations = response['auditAnnotations'] as Json;
    assert.is(annotations['decision'], 'allowed');
    assert.match(String(annotations['directory-stale']), new RegExp(`^${PAYMENTS.id}: Microsoft Graph answered HTTP 503.*using the answer from \\d+s ago`));
    assert.is(fakes.graph.calls, 2, 'the expired entry was asked for again');

    // A group never seen has nothing stale to fall back on: denied.
    assertDenied((await review([RETAIL.id])).response, ['directory-unavailable']);
    const metrics = (await get('/metrics')).body;
    assert.is(sample(metrics, 'entra_rbac_guard_directory_lookups_total{outcome="stale"}'), 1, metrics);
  });
});

Faults('stale-if-error off (staleIfErrorMs 0) :: the expired group is denied directory-unavailable', async () => {
  await withWebhook({ directory: { positiveTtlMs: 200, staleIfErrorMs: 0 } }, async ({ review, fakes }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    await sleep(300);
    fakes.graph.failure = { kind: 'status', status: 503 };
    assertDenied((await review([PAYMENTS.id])).response, ['directory-unavailable']);
  });
});

Faults('Graph answers malformed JSON :: denied directory-unavailable saying so', async () => {
  await withWebhook({}, async ({ review, fakes }) => {
    fakes.graph.failNext({ kind: 'malformed' });
    const message = assertDenied((await review([PAYMENTS.id])).response, ['directory-unavailable']);
    assert.match(message, /malformed/);
  });
});

Faults.run();

// ---------------------------------------------------------------------------------------------------------------
const Observability = suite('webhook + Graph :: metrics and logs');

Observability('GET /metrics :: directory lookups by hit and miss, decisions by result, cache size', async () => {
  await withWebhook({}, async ({ review, get }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    assertCleanAllow((await review([PAYMENTS.id])).response);
    assertDenied((await review([UNKNOWN])).response, ['group-unknown']);
    const answer = await get('/metrics');
    assert.is(answer.status, 200);
    assert.match(answer.contentType, /^text\/plain/);
    const metrics = answer.body;
    assert.match(metrics, /^# TYPE entra_rbac_guard_directory_lookups_total counter$/m);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_lookups_total{outcome="miss"}'), 2, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_lookups_total{outcome="hit"}'), 1, metrics);
    assert.match(metrics, /^# TYPE entra_rbac_guard_admission_decisions_total counter$/m);
    assert.is(sample(metrics, 'entra_rbac_guard_admission_decisions_total{result="allowed",mode="enforce"}'), 2, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_admission_decisions_total{result="denied",mode="enforce"}'), 1, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_admission_violations_total{rule="group-unknown",action="deny"}'), 1, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_request_duration_seconds_count{operation="group",outcome="ok"}'), 2, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_directory_cache_entries'), 2, metrics);
    assert.is(sample(metrics, 'entra_rbac_guard_admission_request_duration_seconds_count{result="allowed"}'), 2, metrics);
  });
});

/** Nothing any of these secrets, whole, in `text`. */
function assertNoSecret(text: string, secrets: Readonly<Record<string, string>>, where: string): void {
  for (const [name, value] of Object.entries(secrets)) assert.not.ok(text.includes(value), `the ${name} appears in ${where}`);
}

Observability('log lines of a request :: the decision and a rejected request each name their request (reqId), distinct', async () => {
  await withWebhook({}, async ({ app, review, logs }) => {
    assertCleanAllow((await review([PAYMENTS.id])).response);
    const { port } = app.server.address() as AddressInfo;
    const rejected = await httpsCall(port, 'POST', '/validate', '{"kind": "AdmissionReview"}');
    assert.is(rejected.status, 400, rejected.body);
    const lines = logs().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Json);
    const decision = lines.find((line) => line['msg'] === 'decision');
    const rejection = lines.find((line) => line['msg'] === 'rejected request');
    assert.type(decision?.['reqId'], 'string', JSON.stringify(decision));
    assert.type(rejection?.['reqId'], 'string', JSON.stringify(rejection));
    assert.is.not(decision?.['reqId'], rejection?.['reqId']);
  });
});

Observability('workload identity :: the access token and federated token never in the log (debug) nor in any response', async () => {
  const { output } = await captureOutput(() =>
    withWebhook({}, async ({ review, fakes, get, logs, bodies }) => {
      assertCleanAllow((await review([PAYMENTS.id])).response);
      assertDenied((await review([UNKNOWN])).response, ['group-unknown']);
      // Graph refuses the token: the reason says so, without the token.
      fakes.graph.accessToken = 'a-token-graph-expects-instead';
      const refused = assertDenied((await review([RETAIL.id])).response, ['directory-unavailable']);
      assert.match(refused, /refused the webhook's token \(HTTP 401 InvalidAuthenticationToken\)/);
      fakes.graph.accessToken = fakes.entra.accessToken;
      fakes.graph.failNext({ kind: 'status', status: 503 });
      assertDenied((await review([M365.id])).response, ['directory-unavailable']);
      await get('/metrics');
      await get('/readyz');

      const log = logs();
      assert.match(log, /"msg":"decision"/, 'the capture sees the webhook log');
      assert.ok(log.split('\n').filter((line) => line.includes('"msg":"decision"')).length >= 4, log);
      const secrets = { 'access token': fakes.entra.accessToken, 'federated token': FEDERATED_TOKEN };
      assertNoSecret(log, secrets, 'the webhook log');
      for (const body of bodies) assertNoSecret(body, secrets, `a response (${body.slice(0, 80)}…)`);
      assert.ok(fakes.entra.accessToken.length > 20);
    }),
  );
  assert.not.match(output, /fake-access-token-/, 'nothing written to stdout or stderr carries an access token');
  assert.not.ok(output.includes(FEDERATED_TOKEN), 'nor the federated token');
});

Observability('client secret :: sign-in refused then accepted; the secret and token never in the log nor a response', async () => {
  const env = (fakes: Fakes): NodeJS.ProcessEnv => {
    const { AZURE_FEDERATED_TOKEN_FILE: _file, ...rest } = fakes.env;
    return { ...rest, AZURE_CLIENT_SECRET: CLIENT_SECRET };
  };
  const { output } = await captureOutput(() =>
    withWebhook({ env }, async ({ review, fakes, logs, bodies, description }) => {
      assert.match(description, /client secret \(client /);
      assertNoSecret(description, { 'client secret': CLIENT_SECRET }, 'the directory description');
      fakes.entra.mode = 'invalid_client';
      const refused = assertDenied((await review([PAYMENTS.id])).response, ['directory-unavailable']);
      assert.match(refused, /authentication to Microsoft Entra ID failed/);
      assert.is(fakes.graph.calls, 0, 'no token, no Graph call');
      assert.match(refused, /a configuration error, not an outage: check the client secret/);
      fakes.entra.mode = 'ok';
      // The refusal opened the breaker, as a Graph failure does (at most 1 s the first time): then one review probes.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assertCleanAllow((await review([PAYMENTS.id])).response);
      assert.ok(fakes.entra.tokenRequests.some((request) => request.usedClientSecret && request.issued), 'a token was issued for the client secret');

      const secrets = { 'client secret': CLIENT_SECRET, 'access token': fakes.entra.accessToken };
      assert.match(logs(), /"msg":"decision"/);
      assertNoSecret(logs(), secrets, 'the webhook log');
      for (const body of bodies) assertNoSecret(body, secrets, 'a response');
    }),
  );
  assert.not.ok(output.includes(CLIENT_SECRET), 'nothing written to stdout or stderr carries the client secret');
  assert.not.match(output, /fake-access-token-/);
});

Observability.run();
