import { createServer, type AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CircuitBreaker } from '../../src/directory/breaker.ts';
import { CachedDirectory } from '../../src/directory/cache.ts';
import { credentialFromEnvironment, resolveEndpoints } from '../../src/directory/credentials.ts';
import { GraphDirectory, type GraphDirectoryOptions } from '../../src/directory/graph.ts';
import type { Directory } from '../../src/directory/port.ts';
import { SnapshotDirectory } from '../../src/directory/snapshot.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import { createMetrics } from '../../src/telemetry/metrics.ts';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { CLIENT_SECRET, FEDERATED_TOKEN, captureOutput, startFakes, within, type Fakes } from '../fakes/harness.ts';

// Real @azure/identity and @microsoft/microsoft-graph-client against the loopback fakes (see test/fakes).

const PAYMENTS: FakeGroup = { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Team', securityEnabled: true };
const M365: FakeGroup = { id: '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59', displayName: 'Payments (Microsoft 365)', securityEnabled: false };
const RETAIL: FakeGroup = { id: 'c9f0f895-fb98-4b91-99f5-1a2b3c4d5e6f', displayName: 'Retail Developers', securityEnabled: true };
const MISSING = '0e3b4c5d-6f70-4812-9a3b-4c5d6e7f8091';
const ANOTHER_MISSING = '1f2e3d4c-5b6a-4978-8877-665544332211';

interface Context {
  fakes: Fakes;
  /** The breaker's and the cache's clock. */
  now: number;
}

function directory(context: Context, options: Partial<GraphDirectoryOptions> = {}, env: NodeJS.ProcessEnv = context.fakes.env): GraphDirectory {
  const endpoints = resolveEndpoints({}, env);
  const chosen = credentialFromEnvironment(endpoints, env);
  if (!chosen) throw new Error('the test environment configures no credential');
  return new GraphDirectory({
    credential: chosen.credential,
    graphEndpoint: endpoints.graphEndpoint,
    deadlineMs: 3000,
    breaker: new CircuitBreaker({ now: () => context.now, random: () => 0.5 }),
    now: () => context.now,
    ...options,
  });
}

function clientSecretEnv(context: Context): NodeJS.ProcessEnv {
  const { AZURE_FEDERATED_TOKEN_FILE: _file, ...rest } = context.fakes.env;
  return { ...rest, AZURE_CLIENT_SECRET: CLIENT_SECRET };
}

async function lookup(target: { lookupGroups: GraphDirectory['lookupGroups'] }, ids: readonly string[], signal?: AbortSignal): Promise<ReadonlyMap<string, GroupFact>> {
  return within(10_000, target.lookupGroups(ids, signal), `lookupGroups(${ids.length} IDs)`);
}

function fact(facts: ReadonlyMap<string, GroupFact>, id: string): GroupFact {
  const found = facts.get(id);
  if (!found) throw new assert.Assertion({ message: `no fact for ${id}`, operator: 'has', expects: id, actual: [...facts.keys()] });
  return found;
}

function reasonOf(value: GroupFact): string {
  if (value.state !== 'unavailable') throw new assert.Assertion({ message: `expected unavailable, got ${JSON.stringify(value)}`, operator: 'state', expects: 'unavailable', actual: value.state });
  return value.reason;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function guid(index: number): string {
  return `${index.toString(16).padStart(8, '0')}-aaaa-4bbb-8ccc-${index.toString(16).padStart(12, '0')}`;
}

function setup(name: string) {
  const test = suite<Context>(name, { now: 1_700_000_000_000 } as Context);
  test.before(async (context) => {
    context.fakes = await startFakes([PAYMENTS, M365, RETAIL]);
  });
  test.after(async (context) => {
    await context.fakes.close();
  });
  test.before.each((context) => {
    context.now = 1_700_000_000_000;
    context.fakes.graph.heal();
    context.fakes.graph.resetCounters();
    context.fakes.graph.accessToken = context.fakes.entra.accessToken;
    context.fakes.graph.latencyMs = 0;
    context.fakes.entra.mode = 'ok';
  });
  return test;
}

// ---------------------------------------------------------------------------------------------------------------
const answers = setup('graph :: answers');

answers('group found :: workload identity token, GET with $select, fields read', async (context) => {
  const facts = await lookup(directory(context), [PAYMENTS.id]);
  assert.equal(fact(facts, PAYMENTS.id), { state: 'found', displayName: 'Payments Team', securityEnabled: true });
  const { graph, entra } = context.fakes;
  assert.is(graph.getCalls, 1);
  assert.is(graph.batchCalls, 0);
  assert.is(graph.requests[0]?.url, `/v1.0/groups/${PAYMENTS.id}?$select=id,displayName,securityEnabled`);
  assert.ok(graph.requests[0]?.authorized, 'Graph got the bearer token from the token endpoint');
  const issued = entra.tokenRequests.filter((request) => request.issued).at(-1);
  assert.is(issued?.clientAssertion, FEDERATED_TOKEN, 'the federated token file went to the token endpoint as client_assertion');
  assert.is(issued?.scope, `${graph.endpoint}/.default`);
});

answers('group not found :: 404 Request_ResourceNotFound is not-found', async (context) => {
  const facts = await lookup(directory(context), [MISSING]);
  assert.equal(fact(facts, MISSING), { state: 'not-found' });
  assert.is(context.fakes.graph.groupLookups, 1);
});

answers('Microsoft 365 group :: found, securityEnabled false', async (context) => {
  const facts = await lookup(directory(context), [M365.id]);
  assert.equal(fact(facts, M365.id), { state: 'found', displayName: M365.displayName, securityEnabled: false });
});

answers('invalid object identifier :: 400 Request_BadRequest is not-found (single GET and in a batch)', async (context) => {
  context.fakes.graph.itemFailures.set(MISSING, { kind: 'status', status: 400, code: 'Request_BadRequest', message: `Invalid object identifier '${MISSING}'.` });
  const single = await lookup(directory(context), [MISSING]);
  assert.equal(fact(single, MISSING), { state: 'not-found' });
  const batch = await lookup(directory(context), [MISSING, PAYMENTS.id]);
  assert.equal(fact(batch, MISSING), { state: 'not-found' });
  assert.is(fact(batch, PAYMENTS.id).state, 'found');
  assert.is(context.fakes.graph.batchCalls, 1);
});

answers('batch :: per-item statuses in shuffled order map back to their groups', async (context) => {
  const ids = [PAYMENTS.id, MISSING, M365.id, RETAIL.id, ANOTHER_MISSING];
  const facts = await lookup(directory(context), ids);
  assert.equal(fact(facts, PAYMENTS.id), { state: 'found', displayName: PAYMENTS.displayName, securityEnabled: true });
  assert.equal(fact(facts, MISSING), { state: 'not-found' });
  assert.equal(fact(facts, M365.id), { state: 'found', displayName: M365.displayName, securityEnabled: false });
  assert.equal(fact(facts, RETAIL.id), { state: 'found', displayName: RETAIL.displayName, securityEnabled: true });
  assert.equal(fact(facts, ANOTHER_MISSING), { state: 'not-found' });
  assert.is(context.fakes.graph.batchCalls, 1);
  assert.is(context.fakes.graph.getCalls, 0);
});

answers('batch of 45 IDs :: 3 $batch calls of at most 20, every ID answered', async (context) => {
  const ids = Array.from({ length: 45 }, (_, index) => guid(index + 1));
  for (const id of ids.filter((_, index) => index % 3 === 0)) context.fakes.graph.groups.set(id, { id, displayName: `group ${id}`, securityEnabled: true });
  const facts = await lookup(directory(context), ids);
  assert.is(context.fakes.graph.batchCalls, 3);
  assert.equal(context.fakes.graph.requests.map((request) => request.batchUrls?.length).sort((a, b) => (a ?? 0) - (b ?? 0)), [5, 20, 20]);
  assert.is(facts.size, 45);
  ids.forEach((id, index) => assert.is(fact(facts, id).state, index % 3 === 0 ? 'found' : 'not-found', id));
  for (const id of ids) context.fakes.graph.groups.delete(id);
});

answers('getByIds :: one POST /directoryObjects/getByIds for 1,500 IDs at most 1,000 each; found, missing and Microsoft 365 groups read', async (context) => {
  const ids = [PAYMENTS.id, M365.id, MISSING, ...Array.from({ length: 1497 }, (_, index) => guid(index + 1))];
  const facts = await lookup(directory(context, { lookup: 'getByIds' }), ids);
  const { graph } = context.fakes;
  assert.equal([graph.getByIdsCalls, graph.batchCalls, graph.getCalls], [2, 0, 0]);
  assert.ok(graph.requests.every((request) => request.url === '/v1.0/directoryObjects/getByIds'));
  assert.is(facts.size, 1500);
  assert.equal(fact(facts, PAYMENTS.id), { state: 'found', displayName: PAYMENTS.displayName, securityEnabled: true });
  assert.equal(fact(facts, M365.id), { state: 'found', displayName: M365.displayName, securityEnabled: false });
  assert.equal(fact(facts, MISSING), { state: 'not-found' });
});

answers('getByIds :: one ID :: still getByIds (not GET /groups/{id})', async (context) => {
  const facts = await lookup(directory(context, { lookup: 'getByIds' }), [PAYMENTS.id]);
  assert.is(fact(facts, PAYMENTS.id).state, 'found');
  assert.equal([context.fakes.graph.getByIdsCalls, context.fakes.graph.getCalls], [1, 0]);
});

answers('getByIds without Directory.Read.All (403) :: unavailable, naming the permission and the way back to batch', async (context) => {
  context.fakes.graph.getByIdsAllowed = false;
  try {
    const reason = reasonOf(fact(await lookup(directory(context, { lookup: 'getByIds' }), [PAYMENTS.id, MISSING]), MISSING));
    assert.match(reason, /may not call directoryObjects\/getByIds \(HTTP 403 Authorization_RequestDenied\); grant its app the Microsoft Graph application permission Directory\.Read\.All, with admin consent, or set directory\.lookup: batch/);
  } finally {
    context.fakes.graph.getByIdsAllowed = true;
  }
});

answers('duplicate IDs :: asked once', async (context) => {
  const facts = await lookup(directory(context), [PAYMENTS.id, PAYMENTS.id, PAYMENTS.id]);
  assert.is(facts.size, 1);
  assert.is(context.fakes.graph.getCalls, 1);
});

// ---------------------------------------------------------------------------------------------------------------
const safety = setup('graph :: safety');

const CRAFTED = [
  'https://evil.example/x',
  '../me',
  '../../users',
  `${PAYMENTS.id}/../../me`,
  `${PAYMENTS.id}?$select=id`,
  `${PAYMENTS.id}#x`,
  PAYMENTS.id.toUpperCase(),
  `{${PAYMENTS.id}}`,
  ` ${PAYMENTS.id}`,
  `${PAYMENTS.id}\n`,
  '',
  'me',
  '//evil.example/x',
];

safety('crafted subjects :: never reach a URL, no token requested, no Graph call', async (context) => {
  const facts = await lookup(directory(context), CRAFTED);
  assert.is(facts.size, CRAFTED.length);
  for (const id of CRAFTED) assert.match(reasonOf(fact(facts, id)), /is not an Entra object ID .* not sent to Microsoft Graph/, JSON.stringify(id));
  assert.is(context.fakes.graph.calls, 0);
  assert.is(context.fakes.entra.tokenRequests.length, 0);
});

safety('crafted subjects next to a real one :: only the GUID is sent', async (context) => {
  const facts = await lookup(directory(context), ['https://evil.example/x', PAYMENTS.id, '../me']);
  assert.is(fact(facts, PAYMENTS.id).state, 'found');
  assert.is(context.fakes.graph.calls, 1);
  assert.is(context.fakes.graph.requests[0]?.url, `/v1.0/groups/${PAYMENTS.id}?$select=id,displayName,securityEnabled`);
});

safety('access token :: never in a reason, a log line or the console, even when Graph echoes it', async (context) => {
  const token = context.fakes.entra.accessToken;
  const { result, output } = await captureOutput(async () => {
    const facts: GroupFact[] = [];
    const graph = directory(context);
    facts.push(...(await graph.lookupGroups([PAYMENTS.id])).values());
    // A misbehaving Graph (or proxy) that puts the bearer token in its error code.
    context.fakes.graph.failNext({ kind: 'status', status: 500, code: token, message: `Bearer ${token}` });
    facts.push(...(await directory(context).lookupGroups([RETAIL.id])).values());
    context.fakes.graph.itemFailures.set(RETAIL.id, { kind: 'status', status: 503, code: `Bearer ${token}` });
    facts.push(...(await directory(context).lookupGroups([RETAIL.id, PAYMENTS.id])).values());
    context.fakes.graph.itemFailures.clear();
    context.fakes.graph.failNext({ kind: 'status', status: 403, code: token });
    facts.push(...(await directory(context).lookupGroups([M365.id])).values());
    context.fakes.entra.mode = 'invalid_client';
    facts.push(...(await directory(context, {}, clientSecretEnv(context)).lookupGroups([M365.id])).values());
    return facts;
  });
  const reasons = result.filter((value) => value.state === 'unavailable').map(reasonOf);
  assert.is(reasons.length, 4);
  assert.ok(reasons.some((reason) => reason.includes('[redacted]')), 'the echoed token was there to leak, and was scrubbed');
  assert.not.ok(JSON.stringify(result).includes(token), 'no token in any fact');
  assert.not.ok(output.includes(token), 'no token on stdout, stderr or the console');
  assert.not.ok(output.includes(CLIENT_SECRET), 'no client secret either');
});

// ---------------------------------------------------------------------------------------------------------------
const faults = setup('graph :: faults');

faults('429 with Retry-After :: breaker open for the window, no calls, then one probe', async (context) => {
  const graph = directory(context);
  context.fakes.graph.failNext({ kind: 'throttle', retryAfterSeconds: 30 });
  assert.is(reasonOf(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id)), 'Microsoft Graph is throttling (Retry-After 30s)');
  assert.is(context.fakes.graph.calls, 1);

  context.now += 29_000;
  const held = await lookup(graph, [RETAIL.id, M365.id]);
  assert.is(reasonOf(fact(held, RETAIL.id)), 'Microsoft Graph is throttling (Retry-After 30s)');
  assert.is(reasonOf(fact(held, M365.id)), 'Microsoft Graph is throttling (Retry-After 30s)');
  assert.is(context.fakes.graph.calls, 1, 'no Graph call during the Retry-After window');

  context.now += 2_000;
  const [probe, whileProbing] = await Promise.all([lookup(graph, [PAYMENTS.id]), lookup(graph, [RETAIL.id])]);
  assert.is(fact(probe, PAYMENTS.id).state, 'found', 'the probe went through');
  assert.match(reasonOf(fact(whileProbing, RETAIL.id)), /throttling/, 'a second call while the probe is out is held back');
  assert.is(context.fakes.graph.calls, 2);

  assert.is(fact(await lookup(graph, [RETAIL.id]), RETAIL.id).state, 'found', 'closed again after the probe');
  assert.is(context.fakes.graph.calls, 3);
});

faults('429 on one batch item :: that group unavailable, the others answered, breaker open', async (context) => {
  const graph = directory(context);
  context.fakes.graph.itemFailures.set(RETAIL.id, { kind: 'throttle', retryAfterSeconds: 12 });
  const facts = await lookup(graph, [PAYMENTS.id, RETAIL.id]);
  assert.is(fact(facts, PAYMENTS.id).state, 'found');
  assert.is(reasonOf(fact(facts, RETAIL.id)), 'Microsoft Graph is throttling (Retry-After 12s)');
  context.fakes.graph.itemFailures.clear();
  assert.match(reasonOf(fact(await lookup(graph, [M365.id]), M365.id)), /Retry-After 12s/);
  assert.is(context.fakes.graph.calls, 1);
});

faults('429 answered quickly :: Retry-After is never waited out inside a lookup', async (context) => {
  context.fakes.graph.failNext({ kind: 'throttle', retryAfterSeconds: 120 });
  const started = performance.now();
  await lookup(directory(context), [PAYMENTS.id]);
  assert.ok(performance.now() - started < 2000, `took ${Math.round(performance.now() - started)} ms`);
  assert.is(context.fakes.graph.calls, 1, 'no retry by the SDK');
});

faults('5xx :: unavailable with the status, breaker backs off, probe, recovery', async (context) => {
  const graph = directory(context);
  context.fakes.graph.failure = { kind: 'status', status: 503 };
  assert.is(reasonOf(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id)), 'Microsoft Graph answered HTTP 503 serviceNotAvailable');
  assert.is(context.fakes.graph.calls, 1, 'no SDK retry');

  const held = reasonOf(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id));
  assert.match(held, /HTTP 503.*not called again for 1s/);
  assert.is(context.fakes.graph.calls, 1);

  context.now += 750; // base 1 s, equal jitter with random 0.5: 750 ms
  assert.match(reasonOf(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id)), /HTTP 503/);
  assert.is(context.fakes.graph.calls, 2, 'one probe');

  context.now += 1_000; // second failure: 2 s base, 1.5 s with jitter
  assert.match(reasonOf(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id)), /not called again/);
  assert.is(context.fakes.graph.calls, 2, 'the backoff grew');

  context.fakes.graph.heal();
  context.now += 600;
  assert.is(fact(await lookup(graph, [PAYMENTS.id]), PAYMENTS.id).state, 'found');
  assert.is(context.fakes.graph.calls, 3);
});

faults('5xx on one batch item :: that group unavailable, the others answered', async (context) => {
  context.fakes.graph.itemFailures.set(RETAIL.id, { kind: 'status', status: 502, code: 'badGateway' });
  const facts = await lookup(directory(context), [PAYMENTS.id, RETAIL.id, MISSING]);
  assert.is(fact(facts, PAYMENTS.id).state, 'found');
  assert.is(fact(facts, MISSING).state, 'not-found');
  assert.is(reasonOf(fact(facts, RETAIL.id)), 'Microsoft Graph answered HTTP 502 badGateway');
});

faults('malformed JSON :: unavailable, single GET and $batch', async (context) => {
  context.fakes.graph.failNext({ kind: 'malformed' });
  assert.match(reasonOf(fact(await lookup(directory(context), [PAYMENTS.id]), PAYMENTS.id)), /malformed answer/);
  context.fakes.graph.failNext({ kind: 'malformed' });
  const batch = await lookup(directory(context), [PAYMENTS.id, RETAIL.id]);
  assert.match(reasonOf(fact(batch, PAYMENTS.id)), /malformed answer/);
  assert.match(reasonOf(fact(batch, RETAIL.id)), /malformed answer/);
});

faults('Graph hanging :: answered at the deadline', async (context) => {
  context.fakes.graph.failure = { kind: 'hang' };
  const started = performance.now();
  const facts = await lookup(directory(context, { deadlineMs: 300 }), [PAYMENTS.id, RETAIL.id]);
  const elapsed = performance.now() - started;
  assert.is(reasonOf(fact(facts, PAYMENTS.id)), 'Microsoft Graph did not answer within 300 ms');
  assert.ok(elapsed >= 250 && elapsed < 1500, `answered after ${Math.round(elapsed)} ms`);
});

faults("Graph hanging :: the caller's signal ends the wait first", async (context) => {
  context.fakes.graph.failure = { kind: 'hang' };
  const started = performance.now();
  const facts = await lookup(directory(context, { deadlineMs: 10_000 }), [PAYMENTS.id], AbortSignal.timeout(250));
  const elapsed = performance.now() - started;
  assert.match(reasonOf(fact(facts, PAYMENTS.id)), /did not answer before the review's deadline/);
  assert.ok(elapsed < 1500, `answered after ${Math.round(elapsed)} ms`);
});

faults('slow Graph within the deadline :: answered', async (context) => {
  context.fakes.graph.latencyMs = 150;
  assert.is(fact(await lookup(directory(context, { deadlineMs: 2000 }), [PAYMENTS.id]), PAYMENTS.id).state, 'found');
});

faults('token endpoint says invalid_client :: unavailable, authentication failed, no Graph call', async (context) => {
  context.fakes.entra.mode = 'invalid_client';
  const reason = reasonOf(fact(await lookup(directory(context, {}, clientSecretEnv(context)), [PAYMENTS.id]), PAYMENTS.id));
  assert.match(reason, /^authentication to Microsoft Entra ID failed: /);
  assert.match(reason, /invalid_client/);
  assert.ok(reason.length < 400, 'one readable line');
  assert.not.match(reason, /\n/);
  assert.is(context.fakes.graph.calls, 0);
});

faults('token endpoint down :: unavailable within the deadline', async (context) => {
  context.fakes.entra.mode = 'down';
  const started = performance.now();
  const reason = reasonOf(fact(await lookup(directory(context, { deadlineMs: 2000 }), [PAYMENTS.id]), PAYMENTS.id));
  assert.ok(performance.now() - started < 3000);
  assert.match(reason, /authentication to Microsoft Entra ID failed|did not answer within 2000 ms/);
  assert.is(context.fakes.graph.calls, 0);
});

faults("Graph refuses the token (401) :: unavailable, says so", async (context) => {
  context.fakes.graph.accessToken = 'some-other-token';
  assert.match(reasonOf(fact(await lookup(directory(context), [PAYMENTS.id]), PAYMENTS.id)), /refused the webhook's token \(HTTP 401 InvalidAuthenticationToken\)/);
});

faults('no permission (403) :: unavailable, names GroupMember.Read.All', async (context) => {
  context.fakes.graph.failNext({ kind: 'status', status: 403, code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' });
  assert.match(reasonOf(fact(await lookup(directory(context), [PAYMENTS.id]), PAYMENTS.id)), /HTTP 403 Authorization_RequestDenied.*GroupMember\.Read\.All/);
});

faults('a wrong Graph endpoint :: its errors are not taken for "no such group"', async (context) => {
  const wrong = directory(context, { graphEndpoint: `${context.fakes.graph.endpoint}/not-graph` });
  const facts = await lookup(wrong, [PAYMENTS.id, MISSING]);
  assert.match(reasonOf(fact(facts, PAYMENTS.id)), /HTTP 400 BadRequest/);
  assert.match(reasonOf(fact(facts, MISSING)), /HTTP 400 BadRequest/);
});

faults('Graph unreachable :: unavailable, says it could not be reached', async (context) => {
  const closed = `https://127.0.0.1:${await closedPort()}`;
  const facts = await lookup(directory(context, { graphEndpoint: closed }), [PAYMENTS.id]);
  const reason = reasonOf(fact(facts, PAYMENTS.id));
  assert.match(reason, /could not be reached .*ECONNREFUSED/, reason);
});

// ---------------------------------------------------------------------------------------------------------------
const cached = setup('graph :: behind the cache');

cached('100 concurrent lookups of one new ID :: one Graph call', async (context) => {
  const cache = new CachedDirectory(directory(context), { now: () => context.now });
  const all = await within(10_000, Promise.all(Array.from({ length: 100 }, () => cache.lookupGroups([RETAIL.id]))));
  assert.is(context.fakes.graph.calls, 1);
  assert.is(context.fakes.graph.groupLookups, 1);
  for (const facts of all) assert.equal(fact(facts, RETAIL.id), { state: 'found', displayName: RETAIL.displayName, securityEnabled: true });
});

cached('cached answers :: no call at all, found and not-found', async (context) => {
  const cache = new CachedDirectory(directory(context), { now: () => context.now });
  await lookup(cache, [PAYMENTS.id, MISSING]);
  assert.is(context.fakes.graph.calls, 1);
  context.now += 30_000;
  const again = await lookup(cache, [MISSING, PAYMENTS.id]);
  assert.is(context.fakes.graph.calls, 1, 'no call for a review whose groups are all cached');
  assert.is(fact(again, PAYMENTS.id).state, 'found');
  assert.is(fact(again, MISSING).state, 'not-found');
});

cached('misses of one review :: one $batch with all of them', async (context) => {
  const cache = new CachedDirectory(directory(context), { now: () => context.now });
  await lookup(cache, [PAYMENTS.id]);
  await lookup(cache, [PAYMENTS.id, RETAIL.id, M365.id, MISSING]);
  assert.is(context.fakes.graph.calls, 2);
  assert.equal(context.fakes.graph.requests[1]?.batchUrls?.length, 3);
});

cached('stale-if-error :: Graph down, the expired entry is served marked stale, up to the limit', async (context) => {
  const cache = new CachedDirectory(directory(context), { now: () => context.now, positiveTtlMs: 600_000, staleIfErrorMs: 3_600_000 });
  await lookup(cache, [PAYMENTS.id]);
  context.now += 11 * 60_000;
  context.fakes.graph.failure = { kind: 'status', status: 503 };
  const stale = fact(await lookup(cache, [PAYMENTS.id]), PAYMENTS.id);
  assert.is(stale.state, 'found');
  assert.ok(stale.state === 'found' && stale.stale, 'marked stale');
  assert.match(stale.state === 'found' ? (stale.stale?.reason ?? '') : '', /HTTP 503.*using the answer from 11 min ago/);
  assert.is(context.fakes.graph.calls, 2, 'Graph was asked first');

  context.now += 50 * 60_000; // 61 min after the answer: too old
  assert.match(reasonOf(fact(await lookup(cache, [PAYMENTS.id]), PAYMENTS.id)), /HTTP 503/);
});

cached('metrics :: lookups by outcome, cache size, circuit state', async (context) => {
  const metrics = createMetrics();
  const graph = directory(context, { metrics, breaker: undefined });
  const cache = new CachedDirectory(graph, { now: () => context.now, metrics });
  await lookup(cache, [PAYMENTS.id, MISSING]);
  await lookup(cache, [PAYMENTS.id]);
  context.fakes.graph.failNext({ kind: 'throttle', retryAfterSeconds: 5 });
  await lookup(cache, [RETAIL.id]);
  const text = await metrics.registry.metrics();
  assert.match(text, /entra_rbac_guard_directory_lookups_total\{outcome="miss"\} 2/);
  assert.match(text, /entra_rbac_guard_directory_lookups_total\{outcome="hit"\} 1/);
  assert.match(text, /entra_rbac_guard_directory_lookups_total\{outcome="throttled"\} 1/);
  assert.match(text, /entra_rbac_guard_directory_cache_entries 2/);
  assert.match(text, /entra_rbac_guard_directory_circuit_state 1/);
  assert.match(text, /entra_rbac_guard_directory_request_duration_seconds_count\{operation="batch",outcome="ok"\} 1/);
  assert.not.ok(text.includes(context.fakes.entra.accessToken));
});

// ---------------------------------------------------------------------------------------------------------------
/** `preflight`'s member probe: GET /groups/{id}/members?$top=1&$select=id, under the lookups' deadline and breaker. */
const members = setup('graph :: member probe');

members.before.each((context) => {
  context.fakes.graph.members.clear();
  context.fakes.graph.members.set(PAYMENTS.id, ['11111111-2222-4333-8444-555555555555', '21111111-2222-4333-8444-555555555555']);
});

members('a group with members :: has-members, asking for one member only', async (context) => {
  assert.equal(await within(5000, directory(context).probeMembers(PAYMENTS.id)), { state: 'has-members' });
  const request = context.fakes.graph.requests.at(-1)!;
  assert.match(decodeURIComponent(request.url), `/v1.0/groups/${PAYMENTS.id}/members?$top=1&$select=id`);
  assert.is(context.fakes.graph.memberCalls, 1);
});

members('no members :: empty; no such group :: not-found', async (context) => {
  const graph = directory(context);
  assert.equal(await graph.probeMembers(RETAIL.id), { state: 'empty' });
  assert.equal(await graph.probeMembers(MISSING), { state: 'not-found' });
});

members('403 :: forbidden, naming GroupMember.Read.All; the breaker stays closed', async (context) => {
  context.fakes.graph.membersAllowed = false;
  const breaker = new CircuitBreaker({ now: () => context.now });
  const fact = await directory(context, { breaker }).probeMembers(PAYMENTS.id);
  assert.is(fact.state, 'forbidden');
  assert.match(fact.state === 'forbidden' ? fact.reason : '', /HTTP 403 Authorization_RequestDenied.*GroupMember\.Read\.All/);
  assert.is(breaker.state, 'closed');
});

members('5xx :: unavailable with the status, and the breaker opens as for lookups', async (context) => {
  context.fakes.graph.failure = { kind: 'status', status: 503 };
  const graph = directory(context);
  const first = await graph.probeMembers(PAYMENTS.id);
  assert.equal(first, { state: 'unavailable', reason: 'Microsoft Graph answered HTTP 503 serviceNotAvailable' });
  const calls = context.fakes.graph.calls;
  const second = await graph.probeMembers(PAYMENTS.id);
  assert.is(second.state, 'unavailable');
  assert.match(second.state === 'unavailable' ? second.reason : '', /not called again/);
  assert.is(context.fakes.graph.calls, calls, 'no request while the breaker is open');
});

members('not a GUID :: no request at all', async (context) => {
  const fact = await directory(context).probeMembers('https://evil.example/x');
  assert.is(fact.state, 'unavailable');
  assert.is(context.fakes.graph.calls, 0);
});

members('through the cache :: probes every time (not cached); a snapshot has no probe', async (context) => {
  const cache = new CachedDirectory(directory(context));
  assert.equal(await cache.probeMembers!(PAYMENTS.id), { state: 'has-members' });
  assert.equal(await cache.probeMembers!(PAYMENTS.id), { state: 'has-members' });
  assert.is(context.fakes.graph.memberCalls, 2);
  assert.is(new CachedDirectory(new SnapshotDirectory([], 'snapshot x')).probeMembers, undefined);
  assert.is((new SnapshotDirectory([], 'snapshot x') as Directory).probeMembers, undefined);
});

answers.run();
safety.run();
faults.run();
cached.run();
members.run();
