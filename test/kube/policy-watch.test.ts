/**
 * The ConfigMap informer against a loopback fake of the API server's ConfigMap list/watch and Events endpoints: what
 * it asks for (one ConfigMap by fieldSelector), how it follows edits and deletions, reconnects, relists after
 * 410 Gone, backs off after failures, resyncs, and stops. The real API server is in test/e2e/policy-configmap.e2e.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PolicyStore,
  describeKubeError,
  kubeEventRecorder,
  watchPolicyConfigMap,
  type PolicyWatch,
  type StoreLog,
  type WatchOptions,
} from '../../src/kube/policy-store.ts';

// --- a fake API server ---------------------------------------------------------------------------------------------

const NAMESPACE = 'entra-rbac-guard';
const NAME = 'policy';
const COLLECTION = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
const policyYaml = (mode: 'enforce' | 'audit') => `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\n`;

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly at: number;
}

type Json = Record<string, any>;

class FakeApiServer {
  readonly requests: Recorded[] = [];
  readonly events: Json[] = [];
  private readonly server: Server;
  private readonly watches = new Set<ServerResponse>();
  private revision = 100;
  private configMap: Json | undefined;
  /** Answers for the next lists, in order: an HTTP status and the Status message. */
  private readonly listFailures: Array<{ status: number; message: string }> = [];
  private goneOnNextWatch = false;

  constructor() {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.end();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  lists(): Recorded[] {
    return this.requests.filter((request) => request.path === COLLECTION && request.query.get('watch') !== 'true');
  }

  watchRequests(): Recorded[] {
    return this.requests.filter((request) => request.path === COLLECTION && request.query.get('watch') === 'true');
  }

  /** Creates or updates the ConfigMap; the open watches hear of it unless `silently`. Returns its resourceVersion. */
  put(data: Record<string, string>, { silently = false } = {}): string {
    const type = this.configMap ? 'MODIFIED' : 'ADDED';
    this.configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: NAME, namespace: NAMESPACE, uid: 'uid-1', resourceVersion: String(++this.revision) },
      data,
    };
    if (!silently) this.broadcast(type, this.configMap);
    return String(this.revision);
  }

  remove({ silently = false } = {}): void {
    const gone = this.configMap;
    this.configMap = undefined;
    this.revision++;
    if (gone && !silently) this.broadcast('DELETED', { ...gone, metadata: { ...gone['metadata'], resourceVersion: String(this.revision) } });
  }

  failNextLists(...failures: Array<{ status: number; message: string }>): void {
    this.listFailures.push(...failures);
  }

  /** Ends every open watch, as an API server does at its timeout or on restart; `abruptly`: resets them, as when it is killed. */
  dropWatches({ thenGone = false, abruptly = false } = {}): void {
    this.goneOnNextWatch = thenGone;
    for (const watch of this.watches) {
      if (abruptly) watch.destroy();
      else watch.end();
    }
    this.watches.clear();
  }

  openWatches(): number {
    return this.watches.size;
  }

  private broadcast(type: string, object: Json): void {
    for (const watch of this.watches) watch.write(`${JSON.stringify({ type, object })}\n`);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    this.requests.push({ method: request.method ?? '', path: url.pathname, query: url.searchParams, at: Date.now() });
    if (request.method === 'POST' && url.pathname === `/api/v1/namespaces/${NAMESPACE}/events`) {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        const event = JSON.parse(body) as Json;
        this.events.push(event);
        send(response, 201, { ...event, metadata: { ...event['metadata'], name: `${NAME}.1` } });
      });
      return;
    }
    if (request.method !== 'GET' || url.pathname !== COLLECTION || url.searchParams.get('fieldSelector') !== `metadata.name=${NAME}`) {
      send(response, 403, status(403, `the fake allows only a list or watch of ConfigMap ${NAME} by fieldSelector, got ${request.method} ${request.url}`));
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      if (this.goneOnNextWatch) {
        this.goneOnNextWatch = false;
        send(response, 410, status(410, 'too old resource version'));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
      this.watches.add(response);
      response.on('close', () => this.watches.delete(response));
      return;
    }
    const failure = this.listFailures.shift();
    if (failure) {
      send(response, failure.status, status(failure.status, failure.message));
      return;
    }
    send(response, 200, { apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: String(this.revision) }, items: this.configMap ? [this.configMap] : [] });
  }
}

function status(code: number, message: string): Json {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, message, reason: code === 403 ? 'Forbidden' : code === 410 ? 'Gone' : 'InternalError' };
}

function send(response: ServerResponse, code: number, body: Json): void {
  response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

// --- helpers -------------------------------------------------------------------------------------------------------

function kubeConfigFor(server: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    // client-node takes plain HTTP only with skipTLSVerify; the fake is loopback HTTP.
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'webhook', token: 'webhook-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'webhook' }],
    currentContext: 'fake',
  });
  return kubeConfig;
}

const quietLog: StoreLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Context {
  api: FakeApiServer;
  kubeConfig: KubeConfig;
  store: PolicyStore;
  watching?: PolicyWatch;
}

const Watch = suite<Context>('policy ConfigMap informer against a fake API server', {} as Context);

Watch.before.each(async (context) => {
  context.api = new FakeApiServer();
  context.kubeConfig = kubeConfigFor(await context.api.listen());
  context.store = new PolicyStore({ ref: { namespace: NAMESPACE, name: NAME }, log: quietLog });
  context.watching = undefined;
});

Watch.after.each(async (context) => {
  await context.watching?.stop();
  await context.api.close();
});

function start(context: Context, options: WatchOptions = {}): void {
  context.watching = watchPolicyConfigMap(context.kubeConfig, context.store, { initialBackoffMs: 50, random: () => 0.5, ...options });
}

async function eventually<T>(what: string, check: () => T | undefined, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.unreachable(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const generationInForce = (store: PolicyStore) => store.state().inForce?.generation;
const waitForGeneration = (store: PolicyStore, generation: string) =>
  eventually(`resourceVersion ${generation} in force (now ${generationInForce(store)})`, () => (generationInForce(store) === generation ? true : undefined));

// --- tests ---------------------------------------------------------------------------------------------------------

Watch('list, then watch from its resourceVersion, of that one ConfigMap :: the listed policy, then each edit, in force', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context);
  await waitForGeneration(store, first);
  await eventually('a watch', () => api.openWatches() === 1);
  const [list] = api.lists();
  assert.is(list?.query.get('fieldSelector'), `metadata.name=${NAME}`, 'only the one ConfigMap: RBAC can grant it by resourceNames');
  const [watch] = api.watchRequests();
  assert.equal([watch?.query.get('fieldSelector'), watch?.query.get('resourceVersion')], [`metadata.name=${NAME}`, first]);

  const second = api.put({ 'policy.yaml': policyYaml('audit') });
  await waitForGeneration(store, second);
  assert.is(store.current()?.mode, 'audit');
  const invalid = api.put({ 'policy.yaml': 'mode: nope\n' });
  await eventually('the rejection', () => (store.state().rejected?.generation === invalid ? true : undefined));
  assert.equal([generationInForce(store), store.current()?.mode], [second, 'audit'], 'the last good policy stays');
  assert.is(api.lists().length, 1, 'edits come by the watch, not by relisting');
});

Watch('watched deletion :: the last good policy stays; created again :: applied', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context);
  await waitForGeneration(store, first);
  await eventually('a watch', () => api.openWatches() === 1);
  api.remove();
  await eventually('the deletion noted', () => (store.readiness().detail['note'] ? true : undefined));
  assert.equal([store.readiness().ready, generationInForce(store)], [true, first]);
  const again = api.put({ 'policy.yaml': policyYaml('audit') });
  await waitForGeneration(store, again);
});

Watch('no ConfigMap at start :: not ready, not found; created later :: in force', async (context) => {
  const { api, store } = context;
  start(context);
  await eventually('not found', () => (store.unavailable()?.includes('not found') ? true : undefined));
  await eventually('a watch', () => api.openWatches() === 1);
  const created = api.put({ 'policy.yaml': policyYaml('enforce') });
  await waitForGeneration(store, created);
});

Watch('list fails (500, then 403) :: retried with growing backoff, readiness names the last error; then applied', async (context) => {
  const { api, store } = context;
  api.failNextLists({ status: 500, message: 'etcdserver: request timed out' }, { status: 403, message: 'configmaps "policy" is forbidden: User "system:serviceaccount:entra-rbac-guard:entra-rbac-guard" cannot list resource "configmaps"' });
  const generation = api.put({ 'policy.yaml': policyYaml('enforce') });
  const reasons: string[] = [];
  const original = store.sourceFailed.bind(store);
  store.sourceFailed = (reason, retryInMs) => {
    reasons.push(`${reason} / ${retryInMs}`);
    original(reason, retryInMs);
  };
  start(context, { initialBackoffMs: 100 });
  await eventually('the second failure', () => (reasons.length === 2 ? true : undefined));
  assert.equal(reasons, [
    'HTTP 500: etcdserver: request timed out / 100',
    'HTTP 403: configmaps "policy" is forbidden: User "system:serviceaccount:entra-rbac-guard:entra-rbac-guard" cannot list resource "configmaps" / 200',
  ]);
  assert.match(store.unavailable() ?? '', /^cannot read ConfigMap entra-rbac-guard\/policy: HTTP 403: configmaps "policy" is forbidden/);
  await waitForGeneration(store, generation);
  const times = api.lists().map((list) => list.at);
  assert.is(times.length, 3);
  assert.ok(times[1]! - times[0]! >= 90, `first retry after ~100 ms, was ${times[1]! - times[0]!}`);
  assert.ok(times[2]! - times[1]! >= 180, `second retry after ~200 ms, was ${times[2]! - times[1]!}`);
  assert.is(store.readiness().detail['sourceError'], undefined, 'cleared once the list works');
});

Watch('backoff :: doubles up to the maximum, with ±20 % jitter', async (context) => {
  const { api, store } = context;
  api.failNextLists(...Array.from({ length: 5 }, () => ({ status: 500, message: 'down' })));
  const delays: number[] = [];
  store.sourceFailed = (_reason, retryInMs) => void delays.push(retryInMs);
  let draw = 0;
  const draws = [0, 1, 0.5, 0.5, 0.5];
  start(context, { initialBackoffMs: 10, maxBackoffMs: 40, random: () => draws[draw++ % draws.length]! });
  await eventually('five failures', () => (delays.length >= 5 ? true : undefined));
  assert.equal(delays.slice(0, 5), [8, 24, 40, 40, 40]);
});

Watch('the watch ends (API server timeout or restart) :: watched again from the last resourceVersion, no relist', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context);
  await waitForGeneration(store, first);
  await eventually('a watch', () => api.openWatches() === 1);
  api.dropWatches();
  await eventually('a second watch', () => (api.watchRequests().length === 2 && api.openWatches() === 1 ? true : undefined));
  assert.is(api.watchRequests()[1]?.query.get('resourceVersion'), first);
  assert.is(api.lists().length, 1);
  const second = api.put({ 'policy.yaml': policyYaml('audit') });
  await waitForGeneration(store, second);
});

Watch('the watch breaks (connection reset: API server killed) :: readiness names the error, then relisted and cleared though nothing changed', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  const errors: string[] = [];
  const original = store.sourceFailed.bind(store);
  store.sourceFailed = (reason, retryInMs) => {
    errors.push(reason);
    original(reason, retryInMs);
  };
  start(context);
  await waitForGeneration(store, first);
  await eventually('a watch', () => api.openWatches() === 1);
  api.dropWatches({ abruptly: true });
  await eventually('the failure reported', () => (errors.length === 1 ? true : undefined));
  await eventually('the source error cleared', () => (api.lists().length === 2 && store.readiness().detail['sourceError'] === undefined ? true : undefined));
  assert.is(generationInForce(store), first, 'the same policy, still in force');
  await eventually('a new watch', () => api.openWatches() === 1);
  const second = api.put({ 'policy.yaml': policyYaml('audit') });
  await waitForGeneration(store, second);
});

Watch('410 Gone on the next watch :: relisted, and what changed meanwhile is applied', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context);
  await waitForGeneration(store, first);
  await eventually('a watch', () => api.openWatches() === 1);
  const missed = api.put({ 'policy.yaml': policyYaml('audit') }, { silently: true });
  api.dropWatches({ thenGone: true });
  await waitForGeneration(store, missed);
  assert.is(api.lists().length, 2, 'relisted after 410');
});

Watch('resync :: an edit and a deletion no watch event announced :: applied at the next resync', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context, { resyncMs: 200 });
  await waitForGeneration(store, first);
  const missed = api.put({ 'policy.yaml': policyYaml('audit') }, { silently: true });
  await waitForGeneration(store, missed);
  api.remove({ silently: true });
  await eventually('the deletion noted', () => (store.readiness().detail['note'] ? true : undefined));
  assert.is(generationInForce(store), missed, 'the last good policy stays');
  await eventually('old watches closed', () => (api.openWatches() <= 1 ? true : undefined));
});

Watch('stop :: the watch closes and nothing more is asked', async (context) => {
  const { api, store } = context;
  const first = api.put({ 'policy.yaml': policyYaml('enforce') });
  start(context, { resyncMs: 100 });
  await waitForGeneration(store, first);
  await context.watching!.stop();
  await eventually('the watch closed', () => (api.openWatches() === 0 ? true : undefined));
  // A request already on its way when stop() ran may still land (later on a loaded machine): count from when none
  // has landed for 200 ms.
  let count = -1;
  for (let waited = 0; count !== api.requests.length && waited < 5000; waited += 200) {
    count = api.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.is(api.requests.length, count, 'no list or watch after stop (the resync timer is cleared)');
});

Watch('kubeEventRecorder :: a core/v1 Warning Event whose involvedObject is the ConfigMap', async (context) => {
  const record = kubeEventRecorder(context.kubeConfig);
  const before = Date.now();
  await record(
    { metadata: { name: NAME, namespace: NAMESPACE, uid: 'uid-1', resourceVersion: '321' } },
    { reason: 'InvalidPolicy', type: 'Warning', message: 'Invalid policy in key policy.yaml (resourceVersion 321), not applied; …' },
  );
  const [event] = context.api.events;
  assert.ok(event);
  assert.equal(event['metadata'], { generateName: `${NAME}.`, namespace: NAMESPACE });
  assert.equal(event['involvedObject'], { apiVersion: 'v1', kind: 'ConfigMap', namespace: NAMESPACE, name: NAME, uid: 'uid-1', resourceVersion: '321' });
  assert.equal([event['reason'], event['type'], event['count'], event['source'], event['reportingComponent']], ['InvalidPolicy', 'Warning', 1, { component: 'entra-rbac-guard' }, 'entra-rbac-guard']);
  assert.match(event['message'], /^Invalid policy in key policy\.yaml/);
  const first = Date.parse(event['firstTimestamp']);
  assert.ok(first >= before - 1000 && first <= Date.now() + 1000, `firstTimestamp ${event['firstTimestamp']}`);
  assert.is(event['lastTimestamp'], event['firstTimestamp']);
  assert.is(context.api.requests.at(-1)?.path, `/api/v1/namespaces/${NAMESPACE}/events`);
});

Watch.run();

const Describe = suite('describeKubeError: one line per failure');

const FAILURES: ReadonlyArray<{ readonly name: string; readonly error: unknown; readonly line: string }> = [
  {
    name: 'API error with a Status body (string)',
    error: new ApiException(403, 'Unknown API Status Code!', JSON.stringify(status(403, 'configmaps "policy" is forbidden')), {}),
    line: 'HTTP 403: configmaps "policy" is forbidden',
  },
  { name: 'API error with a parsed body', error: new ApiException(404, 'Not Found', { message: 'namespaces "x" not found' }, {}), line: 'HTTP 404: namespaces "x" not found' },
  { name: 'API error without a body', error: new ApiException(502, 'Bad Gateway', undefined, {}), line: 'HTTP 502' },
  { name: 'watch answered non-200', error: Object.assign(new Error('Forbidden'), { statusCode: 403 }), line: 'HTTP 403: Forbidden' },
  { name: 'connection refused (fetch)', error: Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), line: 'fetch failed (ECONNREFUSED)' },
  { name: 'anything else', error: 'boom', line: 'boom' },
];

for (const failure of FAILURES) {
  Describe(`${failure.name} :: ${failure.line}`, () => {
    assert.is(describeKubeError(failure.error), failure.line);
  });
}

Describe.run();
