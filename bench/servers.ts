/**
 * A benchmark server process: `bare` (Fastify over TLS answering every review allowed: the physical limit of a Node
 * TLS webhook here) or `ours` (the real webhook as `serve` builds it: embedded policy, every group in a warm cache,
 * a synced role cache holding the default roles, Prometheus metrics with the process metrics, load shedding at serve's
 * default --shed-lag, the shutdown drain hook, and the decision log line at level info on stdout). Both record server-side latency from the
 * request hook to the response hook, so the load generator's own cost is left out.
 * Sends `{port, ca}` over the IPC channel when listening; GET /bench/stats returns latency percentiles, CPU time and
 * memory; POST /bench/profile/start and /bench/profile/stop?to=FILE record a V8 CPU profile of the load alone.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { CachedDirectory } from '../src/directory/cache.ts';
import { SnapshotDirectory } from '../src/directory/snapshot.ts';
import { Drain } from '../src/http/drain.ts';
import { buildServer } from '../src/http/server.ts';
import { generateSelfSigned } from '../src/http/tls.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import { loggerOptions } from '../src/telemetry/logger.ts';
import { createMetrics } from '../src/telemetry/metrics.ts';
import { snapshotGroups } from './payloads.ts';
import { benchRoleSource } from './roles.ts';

const kind = process.argv[2];
/** serve's default --shed-lag. */
const SHED_LAG_MS = 1000;
const tls = await generateSelfSigned();
const app = kind === 'ours' ? await ours() : bare();

const latencies: number[] = [];
interface Timed {
  benchStartedAt: number;
}
let cpuAtReset = process.cpuUsage();
// The measurement should cost both servers as little as it can: callback hooks, not async ones, and the start time
// on the request itself (a WeakMap keyed by every request makes each garbage collection walk it).
app.decorateRequest('benchStartedAt', 0);
app.addHook('onRequest', (request, _reply, done) => {
  (request as unknown as Timed).benchStartedAt = performance.now();
  done();
});
app.addHook('onResponse', (request, _reply, done) => {
  if (request.url.startsWith('/validate')) latencies.push(performance.now() - (request as unknown as Timed).benchStartedAt);
  done();
});
app.get('/bench/stats', async () => {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  const cpu = process.cpuUsage(cpuAtReset);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed };
});
app.post('/bench/reset', async () => {
  latencies.length = 0;
  cpuAtReset = process.cpuUsage();
  return { ok: true };
});
const profiler = new Session();
app.post('/bench/profile/start', async () => {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
  await profiler.post('Profiler.start');
  return { ok: true };
});
app.post<{ Querystring: { to: string } }>('/bench/profile/stop', async (request) => {
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  writeFileSync(request.query.to, JSON.stringify(profile));
  return { ok: true };
});
app.post('/bench/gc', async () => {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.send?.({ port: typeof address === 'object' && address ? address.port : 0, ca: tls.ca });
// Exits once closed: the metrics' and load shedding's timers are unref'd, but the IPC channel may not be.
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));

function bare() {
  const server = Fastify({ https: { key: tls.key, cert: tls.cert }, logger: false, bodyLimit: 8 * 1024 * 1024 });
  server.post('/validate', async (request) => {
    const review = request.body as { apiVersion: string; request: { uid: string } };
    return { apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } };
  });
  return server;
}

async function ours() {
  const metrics = createMetrics(new Registry(), { processMetrics: true });
  const directory = new CachedDirectory(new SnapshotDirectory(snapshotGroups(100), 'bench snapshot'), { metrics });
  await directory.lookupGroups(snapshotGroups(100).map((group) => group.id));
  return buildServer({
    tls,
    currentPolicy: () => DEFAULT_POLICY,
    directory,
    roles: benchRoleSource(),
    metrics,
    // BENCH_LOG_LEVEL=warn leaves the decision line out: what logging every decision costs.
    logger: loggerOptions(process.env['BENCH_LOG_LEVEL'] ?? 'info'),
    drain: new Drain(),
    loadShedding: { maxLagMs: SHED_LAG_MS },
  });
}
