/**
 * Shutdown's drain: once begun, /readyz is 503 and every answer closes its connection (inject()); then
 * gracefulShutdown over a real TLS socket: reviews are still answered during the drain, a review in flight completes,
 * a second signal ends the drain, SIGINT skips it, and a review stuck past the finish limit has its connection cut.
 * Ordering is driven by events (a directory that holds its lookups until released), never by timing.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Directory } from '../../src/directory/port.ts';
import { Drain, gracefulShutdown, type ShutdownLog } from '../../src/http/drain.ts';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import { SECURITY_GROUP, policyWith, recordedReview } from '../helpers.ts';

const TLS = await generateSelfSigned();
/** Fixture 01 binds an Entra group: judging it asks the directory. */
const REVIEW = JSON.stringify(recordedReview('01-CREATE-RoleBinding-payments-viewers.json'));
/** A drain no test waits out: each ends it with a second signal, or skips it. */
const LONG_DRAIN_MS = 60_000;

type Json = Record<string, any>;

/** A directory whose lookups wait until `release()`; `asked` resolves when the first lookup arrives. */
function heldDirectory(): Directory & { release(): void; readonly asked: Promise<void> } {
  let release!: () => void;
  let asked!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const askedPromise = new Promise<void>((resolve) => (asked = resolve));
  return {
    source: 'held test directory',
    async lookupGroups(ids) {
      asked();
      await released;
      return new Map<string, GroupFact>(ids.map((id) => [id, SECURITY_GROUP]));
    },
    release,
    asked: askedPromise,
  };
}

function capturedLog(): ShutdownLog & { readonly lines: string[]; waitFor(pattern: RegExp): Promise<void> } {
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const push = (message: string) => {
    lines.push(message);
    for (const waiter of waiters.filter((entry) => entry.pattern.test(message))) waiter.resolve();
  };
  return {
    lines,
    info: (_fields, message) => push(message),
    warn: (_fields, message) => push(message),
    waitFor: (pattern) => (lines.some((line) => pattern.test(line)) ? Promise.resolve() : new Promise((resolve) => waiters.push({ pattern, resolve }))),
  };
}

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
  readonly error?: string;
}

function call(port: number, agent: Agent | false, method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        ca: TLS.ca,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 20_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (error) => resolve({ status: 0, connection: undefined, body: '', error: error.message }));
    req.end(body);
  });
}

/** `promise`, or a failed assertion when it is still pending after `ms` (a hang, not a timing measurement). */
async function settlesWithin<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const Switch = suite('drain :: begun (inject)');

Switch('before :: /readyz 200, answers keep their connection', async () => {
  const app = buildServer({ tls: TLS, currentPolicy: () => policyWith(), drain: new Drain() });
  try {
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(ready.statusCode, 200);
    assert.is.not(ready.headers['connection'], 'close');
  } finally {
    await app.close();
  }
});

Switch('begun :: /readyz 503 with draining: true, /healthz 200, /validate judges and answers with Connection: close', async () => {
  const drain = new Drain();
  const app = buildServer({ tls: TLS, currentPolicy: () => policyWith(), drain, readiness: () => ({ ready: true, detail: { policy: 'test' } }) });
  try {
    drain.begin();
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(ready.statusCode, 503);
    assert.equal(JSON.parse(ready.body), { status: 'not ready', policy: 'test', draining: true });
    assert.is(ready.headers['connection'], 'close');
    const live = await app.inject({ method: 'GET', url: '/healthz' });
    assert.is(live.statusCode, 200, 'liveness holds: the drain must not get the pod restarted');
    const review = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: REVIEW });
    assert.is(review.statusCode, 200, review.body);
    assert.is((JSON.parse(review.body) as Json)['kind'], 'AdmissionReview');
    assert.is(review.headers['connection'], 'close');
  } finally {
    await app.close();
  }
});

Switch.run();

interface Listening {
  readonly app: WebhookServer;
  readonly port: number;
  readonly drain: Drain;
  readonly directory: ReturnType<typeof heldDirectory>;
  readonly agent: Agent;
}

const Shutdown = suite<{ server: Listening }>('drain :: gracefulShutdown (TLS)');

Shutdown.before.each(async (context) => {
  const drain = new Drain();
  const directory = heldDirectory();
  const app = buildServer({ tls: TLS, currentPolicy: () => policyWith(), drain, directory });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  context.server = { app, port, drain, directory, agent: new Agent({ keepAlive: true, maxSockets: 4 }) };
});

Shutdown.after.each(async ({ server }) => {
  server.directory.release();
  server.agent.destroy();
  server.app.server.closeAllConnections();
  await server.app.close();
});

Shutdown('SIGTERM :: answers during the drain with Connection: close; the review in flight completes; a second SIGTERM ends the drain', async ({ server }) => {
  const { app, port, drain, directory, agent } = server;
  const log = capturedLog();
  const shutdown = gracefulShutdown(app, drain, { drainMs: LONG_DRAIN_MS, log });
  const inFlight = call(port, agent, 'POST', '/validate?timeout=10s', REVIEW);
  await directory.asked;
  const closed = shutdown('SIGTERM');
  assert.ok(drain.draining);
  assert.match(log.lines[0]!, /not ready, still answering reviews for 60000 ms with Connection: close/);

  const ready = await call(port, false, 'GET', '/readyz');
  assert.is(ready.status, 503);
  assert.is(ready.connection, 'close');
  const health = await call(port, false, 'GET', '/healthz');
  assert.is(health.status, 200);
  // A review that needs no lookup, on a new connection: still judged during the drain.
  const exempt = structuredClone(JSON.parse(REVIEW) as Json);
  exempt['request']['object']['subjects'] = [{ kind: 'ServiceAccount', name: 'builder', namespace: 'ci' }];
  const during = await call(port, false, 'POST', '/validate?timeout=10s', JSON.stringify(exempt));
  assert.is(during.status, 200, during.body);
  assert.is(during.connection, 'close');

  const second = shutdown('SIGTERM');
  assert.is(second, closed, 'the same shutdown, not a second one');
  await log.waitFor(/drain over/);
  assert.match(log.lines.join('\n'), /SIGTERM during the drain: ending it now/);
  assert.is(await settlesWithin(100, Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('open'), 50))]), 'probe'), 'open', 'not closed while a review is in flight');

  directory.release();
  const answer = await inFlight;
  assert.is(answer.status, 200, answer.error ?? answer.body);
  assert.is((JSON.parse(answer.body) as Json)['response']['allowed'], true);
  assert.is(answer.connection, 'close', 'the review in flight is answered, and its connection closed');
  await settlesWithin(10_000, closed, 'close after the last review');
  const after = await call(port, false, 'GET', '/healthz');
  assert.is(after.status, 0, 'no new connections once closed');
});

Shutdown('SIGINT :: no drain: closes at once (after the review in flight)', async ({ server }) => {
  const { app, drain, directory, port, agent } = server;
  const log = capturedLog();
  const inFlight = call(port, agent, 'POST', '/validate?timeout=10s', REVIEW);
  await directory.asked;
  const closed = gracefulShutdown(app, drain, { drainMs: LONG_DRAIN_MS, log })('SIGINT');
  await log.waitFor(/drain over/);
  assert.match(log.lines[0]!, /shutting down: no new connections, finishing the reviews in flight/);
  directory.release();
  assert.is((await inFlight).status, 200);
  await settlesWithin(10_000, closed, 'close after SIGINT');
});

Shutdown('closing :: a review still in flight after finishMs :: its connection is cut and the server closes', async ({ server }) => {
  const { app, drain, directory, port, agent } = server;
  const log = capturedLog();
  const inFlight = call(port, agent, 'POST', '/validate?timeout=30s', REVIEW);
  await directory.asked;
  const closed = gracefulShutdown(app, drain, { drainMs: 0, finishMs: 100, log })('SIGTERM');
  await settlesWithin(10_000, closed, 'close with a review held forever');
  assert.match(log.lines.join('\n'), /reviews still in flight after 100 ms: cutting their connections/);
  const answer = await inFlight;
  assert.is(answer.status, 0, 'the held review got no answer: its connection was cut');
});

Shutdown.run();
