/**
 * Load shedding: the pure decision (when to shed, how the lag signal rises and falls, what the answer says), then the
 * hook in a real buildServer through inject(), with the lag handed in so no test depends on this machine's speed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { LARGE_BODY_BYTES } from '../../src/http/body-budget.ts';
import { LagMonitor, nextLag, shedBody, shedLagFor, shedMessage, shouldShed } from '../../src/http/load-shedding.ts';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { createMetrics, type Metrics } from '../../src/telemetry/metrics.ts';
import { policyWith, recordedReview } from '../helpers.ts';

const TLS = await generateSelfSigned();
const REVIEW = JSON.stringify(recordedReview('01-CREATE-RoleBinding-payments-viewers.json'));

type Json = Record<string, any>;

const Decision = suite('load shedding :: decision');

const SHED_CASES: ReadonlyArray<readonly [string, number, number, boolean]> = [
  ['no lag', 0, 1000, false],
  ['lag below the limit', 999, 1000, false],
  ['lag at the limit', 1000, 1000, true],
  ['lag above the limit', 4000, 1000, true],
  ['limit 0 (off), huge lag', 60_000, 0, false],
];
for (const [name, lagMs, maxLagMs, expected] of SHED_CASES) {
  Decision(`shouldShed :: ${name} :: ${expected ? 'sheds' : 'judges'}`, () => {
    assert.is(shouldShed(lagMs, maxLagMs), expected);
  });
}

const DEADLINE_CASES: ReadonlyArray<readonly [string, number, number, boolean]> = [
  ['10 s timeout, lag at --shed-lag', 1000, 10_000, true],
  ['3 s timeout, lag 999 ms (a third of it is 1 s)', 999, 3_000, false],
  ['2 s timeout, lag 700 ms: already a third of its deadline waited', 700, 2_000, true],
  ['1 s timeout, lag 334 ms', 334, 1_000, true],
  ['1 s timeout, lag 300 ms', 300, 1_000, false],
];
for (const [name, lagMs, timeoutMs, expected] of DEADLINE_CASES) {
  Decision(`shouldShed with the review's timeout :: ${name} :: ${expected ? 'sheds' : 'judges'}`, () => {
    assert.is(shouldShed(lagMs, 1000, timeoutMs), expected);
  });
}

Decision('shedLagFor :: --shed-lag, or a third of the timeout when that is less', () => {
  assert.equal([shedLagFor(1000, 10_000), shedLagFor(1000, 1500), shedLagFor(5000, 30_000)], [1000, 500, 5000]);
});

Decision('nextLag :: a long turn :: the lag rises to it at once', () => {
  assert.is(nextLag(3, 1500), 1500);
});

Decision('nextLag :: quiet samples after a long turn :: the lag halves per sample, so shedding outlasts one quick turn', () => {
  const samples = [1600, 2, 2, 2];
  const lags = samples.reduce<number[]>((seen, sample) => [...seen, nextLag(seen.at(-1) ?? 0, sample)], []);
  assert.equal(lags, [1600, 800, 400, 200]);
  assert.ok(shouldShed(lags[1]!, 800), 'still shedding right after the long turn');
  assert.not.ok(shouldShed(lags[3]!, 800), 'judging again a few quiet samples later');
});

Decision('shedBody :: a Kubernetes Status the API server decodes, with code 429 and an actionable message', () => {
  const body = shedBody(1234.4, 1000);
  assert.is(body['kind'], 'Status');
  assert.is(body['apiVersion'], 'v1');
  assert.is(body['status'], 'Failure');
  assert.is(body['reason'], 'TooManyRequests');
  assert.is(body['code'], 429);
  assert.is(body['statusCode'], 429, 'as every other error of the webhook');
  assert.is(body['message'], shedMessage(1234.4, 1000));
  assert.match(String(body['message']), /overloaded \(event-loop lag 1234 ms, limit 1000 ms\)/);
  assert.match(String(body['message']), /retry the request/);
  assert.match(String(body['message']), /--shed-lag/);
});

Decision.run();

interface HookContext {
  lag: { lagMs: number };
  changes: Array<{ shedding: boolean; lagMs: number; shed: number }>;
  metrics: Metrics;
  app: WebhookServer;
}

const Hook = suite<HookContext>('load shedding :: buildServer');

Hook.before.each((context) => {
  context.lag = { lagMs: 0 };
  context.changes = [];
  context.metrics = createMetrics(new Registry());
  context.app = buildServer({
    tls: TLS,
    currentPolicy: () => policyWith(),
    metrics: context.metrics,
    loadShedding: { maxLagMs: 1000, lag: context.lag, onChange: (shedding, lagMs, shed) => context.changes.push({ shedding, lagMs, shed }) },
  });
});

Hook.after.each(async ({ app }) => {
  await app.close();
});

function postReview(app: WebhookServer, payload = REVIEW) {
  return app.inject({ method: 'POST', url: '/validate?timeout=10s', headers: { 'content-type': 'application/json' }, payload });
}

async function shedCount(metrics: Metrics): Promise<number> {
  const values = (await metrics.shed.get()).values;
  return values.find((value) => value.labels['reason'] === 'event_loop_lag')?.value ?? 0;
}

Hook('lag below the limit :: /validate judges the review', async ({ app, lag, metrics }) => {
  lag.lagMs = 999;
  const res = await postReview(app);
  assert.is(res.statusCode, 200, res.body);
  assert.is((JSON.parse(res.body) as Json)['kind'], 'AdmissionReview');
  assert.is(await shedCount(metrics), 0);
});

Hook('lag at the limit :: /validate answers 429 with the Status, counted in entra_rbac_guard_admission_shed_total', async ({ app, lag, metrics }) => {
  lag.lagMs = 1500;
  const res = await postReview(app);
  assert.is(res.statusCode, 429);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.is(res.headers['retry-after'], undefined, 'no Retry-After: the API server would sleep inside its timeout');
  assert.equal(JSON.parse(res.body), shedBody(1500, 1000));
  assert.is(await shedCount(metrics), 1);
  const exposition = await app.inject({ method: 'GET', url: '/metrics' });
  assert.match(exposition.body, /^entra_rbac_guard_admission_shed_total\{reason="event_loop_lag"\} 1$/m);
});

Hook('lag 500 ms, a review with ?timeout=1s :: shed with the limit its deadline sets (333 ms); the same with 10 s is judged', async ({ app, lag }) => {
  lag.lagMs = 500;
  const short = await app.inject({ method: 'POST', url: '/validate?timeout=1s', headers: { 'content-type': 'application/json' }, payload: REVIEW });
  assert.is(short.statusCode, 429, short.body);
  assert.equal(JSON.parse(short.body), shedBody(500, 1000, 1000));
  assert.match(JSON.parse(short.body)['message'], /limit 333 ms\).*or raise the webhook's timeoutSeconds \(the limit is a third of this review's 1 s timeout\)$/);
  assert.is((await postReview(app)).statusCode, 200);
});

Hook('overloaded :: a large body is never shed for lag: the body budget queues it by its deadline, and it is judged', async ({ app, lag, metrics }) => {
  lag.lagMs = 5000;
  const review = recordedReview('01-CREATE-RoleBinding-payments-viewers.json');
  review['request']['object']['metadata']['annotations'] = { 'example.com/padding': 'x'.repeat(LARGE_BODY_BYTES) };
  const res = await postReview(app, JSON.stringify(review));
  assert.is(res.statusCode, 200, res.body);
  assert.is(await shedCount(metrics), 0);
  assert.is((await postReview(app)).statusCode, 429, 'a small review at the same lag is still shed');
});

Hook('overloaded :: the body is not even parsed: invalid JSON is shed, not answered 400', async ({ app, lag }) => {
  lag.lagMs = 1500;
  const res = await postReview(app, '{"not json');
  assert.is(res.statusCode, 429);
});

Hook('overloaded :: probes and /metrics are never shed', async ({ app, lag }) => {
  lag.lagMs = 60_000;
  for (const url of ['/healthz', '/readyz', '/metrics']) {
    const res = await app.inject({ method: 'GET', url });
    assert.is(res.statusCode, 200, `${url}: ${res.body}`);
  }
});

Hook('an episode :: onChange once when shedding starts and once when it ends, with the count shed', async ({ app, lag, changes }) => {
  assert.is((await postReview(app)).statusCode, 200);
  lag.lagMs = 2000;
  for (let index = 0; index < 3; index += 1) assert.is((await postReview(app)).statusCode, 429);
  lag.lagMs = 10;
  assert.is((await postReview(app)).statusCode, 200);
  assert.is((await postReview(app)).statusCode, 200);
  assert.equal(changes, [
    { shedding: true, lagMs: 2000, shed: 0 },
    { shedding: false, lagMs: 10, shed: 3 },
  ]);
});

Hook.run();

const Monitor = suite('load shedding :: LagMonitor');

Monitor('a blocked event loop :: the monitor reports at least the time it was blocked', async () => {
  const monitor = new LagMonitor();
  monitor.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 120));
    const blockedUntil = performance.now() + 300;
    while (performance.now() < blockedUntil) {
      // Busy: the sampler's timer cannot fire.
    }
    // The overdue sampler fires before this later timer.
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.ok(monitor.lagMs >= 200, `lag ${monitor.lagMs} ms after blocking the loop for 300 ms`);
  } finally {
    monitor.stop();
  }
});

Monitor.run();
