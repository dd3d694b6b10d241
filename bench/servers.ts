/**
 * A benchmark server process: `bare` (Fastify over TLS answering every review allowed: the physical limit of a Node
 * TLS webhook here) or `ours` (the real webhook, embedded policy, every group in a warm cache). Both record
 * server-side latency from the request hook to the response hook, so the load generator's own cost is left out.
 * Prints one JSON line `{"port": N}` when listening; GET /bench/stats returns latency percentiles and memory.
 */
import Fastify from 'fastify';
import { CachedDirectory } from '../src/directory/cache.ts';
import { SnapshotDirectory } from '../src/directory/snapshot.ts';
import { buildServer } from '../src/http/server.ts';
import { generateSelfSigned } from '../src/http/tls.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import { snapshotGroups } from './payloads.ts';

const kind = process.argv[2];
const tls = await generateSelfSigned();
const app = kind === 'ours' ? await ours() : bare();

const latencies: number[] = [];
const started = new WeakMap<object, bigint>();
app.addHook('onRequest', async (request) => {
  started.set(request, process.hrtime.bigint());
});
app.addHook('onResponse', async (request) => {
  const start = started.get(request);
  if (start !== undefined && request.url.startsWith('/validate')) latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
});
app.get('/bench/stats', async () => {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed };
});
app.post('/bench/reset', async () => {
  latencies.length = 0;
  return { ok: true };
});
app.post('/bench/gc', async () => {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
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
  const directory = new CachedDirectory(new SnapshotDirectory(snapshotGroups(100), 'bench snapshot'));
  await directory.lookupGroups(snapshotGroups(100).map((group) => group.id));
  return buildServer({ tls, currentPolicy: () => DEFAULT_POLICY, directory });
}
