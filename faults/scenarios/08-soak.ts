/**
 * Issue 8, item 8: soak. The webhook as it runs in production (`dist/bin.js serve`, Microsoft Graph through the
 * Entra token fake and the Graph fake, log level info) under a steady, moderate load from autocannon for SOAK_MINUTES
 * (2 in quick runs, 30 in full ones), while the Graph fake flaps: healthy for a few seconds, then failing for a few
 * (503, 429 storms, hangs, malformed and truncated bodies, in turn). Reviews name groups from a fixed pool (some
 * unknown to Entra) and the caches hold answers for 2 s only, so lookups really happen all along.
 *
 * Every answer must be a well-formed AdmissionReview echoing its uid (no 5xx, no 429, no connection error, nothing
 * late), and the webhook's memory must stay flat: what it holds live (V8 heap in use plus external memory, read right
 * after a full garbage collection, the lowest of three readings) at the end at most 1.10 times what it held after
 * warm-up. The webhook runs with --expose-gc and a SIGUSR2 handler that calls gc(), added from here (the product code
 * is unchanged).
 *
 * RSS is sampled and reported (after warm-up, at the end, peak) but not judged: it follows the heap V8 keeps
 * committed, not what is live. Over 10 minutes here it rose for two minutes to ~290 MB with ~55 MB live, stayed
 * there, fell to ~165 MB when V8 gave pages back, and rose again: end/start after warm-up came out 1.16 after 1
 * minute, 1.12 after 3 and 0.77 after 10, with the live memory flat in all three. A leak shows in the live figure.
 */
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { startFakes, type Fakes } from '../../test/fakes/harness.ts';
import type { GraphFailure } from '../../test/fakes/graph-fake.ts';
import { latencySummary } from '../lib/client.ts';
import { spawnServe, type ServeProcess } from '../lib/drain-serve.ts';
import { cannon, type Body } from '../lib/overload-cannon.ts';
import { DEVELOPER, reviewOf, reviewProblem } from '../lib/reviews.ts';
import { defineScenario, type FaultRow, type ScenarioContext } from '../scenario.ts';

const RATE_PER_SECOND = 50;
const CONNECTIONS = 4;
const FLAP_SECONDS = 3;
const KNOWN_GROUPS = 300;
const UNKNOWN_GROUPS = 30;
const SUBJECTS_PER_REVIEW = 3;
const FLAT_RATIO = 1.1;
/** Full collections at each measuring point; the lowest reading counts. */
const GC_READINGS = 3;
const MB = 1024 * 1024;
/** A full collection on SIGUSR2, for the measurement only. */
const GC_ON_SIGUSR2 = ['--expose-gc', '--import', 'data:text/javascript,process.on("SIGUSR2",()=>globalThis.gc())'];

const FAILURES: ReadonlyArray<readonly [string, GraphFailure]> = [
  ['503', { kind: 'status', status: 503 }],
  ['429, Retry-After 1 s', { kind: 'throttle', retryAfterSeconds: 1 }],
  ['hang', { kind: 'hang' }],
  ['malformed body', { kind: 'malformed' }],
  ['truncated body', { kind: 'truncated' }],
];

interface RssSample {
  readonly atS: number;
  readonly bytes: number;
}

export default defineScenario({
  name: 'Soak',
  async run(context) {
    const known = Array.from({ length: KNOWN_GROUPS }, (_, index) => ({ id: randomUUID(), displayName: `Soak team ${index}`, securityEnabled: index % 10 !== 0 }));
    const unknown = Array.from({ length: UNKNOWN_GROUPS }, () => randomUUID());
    const fakes = await startFakes(known);
    let server: ServeProcess | undefined;
    try {
      server = await spawnServe({ args: ['--cache-ttl', '2s', '--negative-cache-ttl', '2s', '--log-level', 'info'], env: fakes.env, nodeArgs: GC_ON_SIGUSR2 });
      return await soak(context, server, fakes, [...known.map((group) => group.id), ...unknown]);
    } finally {
      fakes.graph.heal();
      await server?.kill();
      await fakes.close();
    }
  },
});

async function soak(context: ScenarioContext, server: ServeProcess, fakes: Fakes, pool: readonly string[]): Promise<FaultRow[]> {
  const seconds = Math.max(30, Math.round(context.soakMinutes * 60));
  // Long enough for the optimising compiler to settle: its code counts in the heap, and the error paths of the Graph
  // faults are compiled only as they come round (a 15 s warm-up showed 1.05–1.14 after 1 minute, with nothing leaking).
  const warmUpS = Math.min(120, Math.max(40, seconds * 0.25));
  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;

  const samples: RssSample[] = [];
  const sampler = setInterval(() => server.alive() && samples.push({ atS: elapsedS(), bytes: server.rssBytes() }), seconds > 120 ? 5000 : 2000);
  // After warm-up, and near the end, both under load: memory right after a full collection, the lowest of a few
  // readings a second apart. One reading alone counts whatever is in flight at that moment as live: a hung Graph
  // call holds its reviews until the deadline, and the flaps take turns every 3 s.
  const afterGc: Array<{ rss: number; memory: Memory }> = [];
  const measureAfterGc = async () => {
    const readings: Array<{ rss: number; memory: Memory }> = [];
    for (let reading = 0; reading < GC_READINGS; reading++) {
      server.signal('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      readings.push({ rss: server.rssBytes(), memory: await memory(server) });
    }
    afterGc.push(readings.reduce((lowest, reading) => ((liveBytes(reading.memory) ?? Infinity) < (liveBytes(lowest.memory) ?? Infinity) ? reading : lowest)));
  };
  const measurements: Array<Promise<void>> = [];
  const warmUp = setTimeout(() => measurements.push(measureAfterGc()), warmUpS * 1000);
  const nearEnd = setTimeout(() => measurements.push(measureAfterGc()), (seconds - GC_READINGS * 1.5 - 2) * 1000);

  let flaps = 0;
  let graphCalls = 0;
  const flapper = setInterval(() => {
    graphCalls += fakes.graph.calls;
    fakes.graph.resetCounters();
    if (fakes.graph.failure) {
      fakes.graph.heal();
      return;
    }
    const [, failure] = FAILURES[flaps % FAILURES.length]!;
    fakes.graph.failure = failure;
    flaps += 1;
  }, FLAP_SECONDS * 1000);

  const nextBody = (): Body => {
    const subjects = Array.from({ length: SUBJECTS_PER_REVIEW }, () => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: pool[Math.floor(Math.random() * pool.length)]! }));
    const review = reviewOf({
      kind: 'RoleBinding',
      apiVersion: 'rbac.authorization.k8s.io/v1',
      metadata: { name: `soak-${randomUUID().slice(0, 8)}`, namespace: 'team-a' },
      subjects,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    }, 'CREATE', DEVELOPER);
    return { text: JSON.stringify(review), uid: review['request']['uid'] };
  };

  let run;
  try {
    run = await cannon({
      origin: server.origin,
      ca: server.ca,
      connections: CONNECTIONS,
      seconds,
      overallRate: RATE_PER_SECOND,
      timeoutSeconds: 10,
      nextBody,
      check: (status, body, uid) => {
        if (status !== 200) return `HTTP ${status}: ${body.slice(0, 120)}`;
        try {
          return reviewProblem(JSON.parse(body) as Record<string, unknown>, uid);
        } catch {
          return `a 200 whose body is not JSON: ${body.slice(0, 120)}`;
        }
      },
    });
  } finally {
    clearInterval(sampler);
    clearInterval(flapper);
    clearTimeout(warmUp);
    clearTimeout(nearEnd);
    await Promise.all(measurements);
  }
  graphCalls += fakes.graph.calls;

  const judged = run.latencies.get(200) ?? [];
  const serverErrors = [...run.latencies].filter(([status]) => status >= 500).reduce((sum, [, list]) => sum + list.length, 0);
  const summary = latencySummary(judged);
  const cases = run.answered + run.errors + run.timeouts;
  const failed = run.refused + run.errors + run.timeouts;
  const alive = server.alive() && server.stderr() === '';
  context.log(`soak: ${run.answered} answers in ${run.seconds.toFixed(0)} s, ${failed} failed, ${serverErrors} 5xx, ${graphCalls} Graph calls, ${flaps} flaps`);

  const [start, end] = afterGc;
  const liveStart = start && liveBytes(start.memory);
  const liveEnd = end && liveBytes(end.memory);
  const liveRatio = liveStart && liveEnd ? liveEnd / liveStart : Number.NaN;
  const flat = liveRatio <= FLAT_RATIO;
  const rssRatio = start && end ? end.rss / start.rss : Number.NaN;
  const peak = Math.max(...samples.map((sample) => sample.bytes));
  context.log(`soak RSS (MB) every ${seconds > 120 ? 5 : 2} s: ${samples.map((sample) => (sample.bytes / MB).toFixed(0)).join(' ')}`);
  const mb = (bytes: number | undefined) => (bytes === undefined ? '?' : (bytes / MB).toFixed(1));

  const failureNames = FAILURES.map(([name]) => name).join(', ');
  return [
    {
      fault: `soak ${context.soakMinutes} min at ${RATE_PER_SECOND}/s, Graph flapping every ${FLAP_SECONDS} s`,
      cases,
      survived: alive ? cases - failed : 0,
      worstLatencyMs: Math.max(0, ...[...run.latencies.values()].flat()),
      note:
        `every answer a well-formed AdmissionReview: ${failed} failed, ${serverErrors} 5xx, ${run.timeouts} timeouts; p99 ${summary.p99.toFixed(0)} ms; ` +
        `${flaps} Graph faults (${failureNames}), ${graphCalls} Graph calls (cache TTL 2 s)${run.problems.length ? `; FAILED, first: ${run.problems[0]}` : ''}${alive ? '' : '; the webhook died or wrote to stderr'}`,
    },
    {
      fault: `soak: memory flat (live after a full GC, end / after warm-up ≤ ${FLAT_RATIO.toFixed(2)})`,
      cases: 1,
      survived: flat ? 1 : 0,
      note:
        `live (V8 heap used + external) ${mb(liveStart)} → ${mb(liveEnd)} MB: ratio ${liveRatio.toFixed(3)}; ` +
        `RSS after ${warmUpS.toFixed(0)} s warm-up ${mb(start?.rss)} MB, at the end ${mb(end?.rss)} MB (ratio ${rssRatio.toFixed(3)}), peak ${mb(peak)} MB, ` +
        `following V8's committed heap (${mb(start?.memory.heapTotal)} → ${mb(end?.memory.heapTotal)} MB)`,
    },
  ];
}

interface Memory {
  readonly heapUsed?: number;
  readonly heapTotal?: number;
  readonly external?: number;
}

/** What the webhook holds live: V8 heap in use plus external memory. */
function liveBytes(memory: Memory): number | undefined {
  return memory.heapUsed === undefined || memory.external === undefined ? undefined : memory.heapUsed + memory.external;
}

/** The webhook's V8 heap and external memory, from its /metrics (prom-client's process metrics). */
function memory(server: ServeProcess): Promise<Memory> {
  return new Promise((resolve) => {
    const req = httpsRequest(`${server.origin}/metrics`, { ca: server.ca, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const read = (name: string) => {
          const match = new RegExp(`^entra_rbac_guard_nodejs_${name} (\\d+(?:\\.\\d+)?)`, 'm').exec(text);
          return match ? Number(match[1]) : undefined;
        };
        resolve({ heapUsed: read('heap_size_used_bytes'), heapTotal: read('heap_size_total_bytes'), external: read('external_memory_bytes') });
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({}));
    req.end();
  });
}
