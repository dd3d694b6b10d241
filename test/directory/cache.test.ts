import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CachedDirectory, type CachedDirectoryOptions } from '../../src/directory/cache.ts';
import type { Directory } from '../../src/directory/port.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import { createMetrics } from '../../src/telemetry/metrics.ts';
import { within } from '../fakes/harness.ts';

const A = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
const B = 'c9f0f895-fb98-4b91-99f5-1a2b3c4d5e6f';
const C = '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59';
const GONE = '0e3b4c5d-6f70-4812-9a3b-4c5d6e7f8091';

const FOUND_A: GroupFact = { state: 'found', displayName: 'Payments Team', securityEnabled: true };

/**
 * A directory that answers from a table, records every call, and can be held (answers wait for `release()`) or
 * made to fail (`unavailable`, or throwing, which a Directory must not do but a cache must survive).
 */
class ScriptedDirectory implements Directory {
  readonly source = 'scripted';
  readonly calls: string[][] = [];
  readonly facts = new Map<string, GroupFact>([
    [A, FOUND_A],
    [B, { state: 'found', displayName: 'Retail', securityEnabled: true }],
    [C, { state: 'found', displayName: 'Microsoft 365 group', securityEnabled: false }],
  ]);
  failure: string | undefined;
  throws = false;
  private held: (() => void)[] | undefined;

  hold(): void {
    this.held = [];
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = undefined;
    for (const resume of waiting) resume();
  }

  async lookupGroups(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>> {
    this.calls.push([...ids]);
    if (this.held) await new Promise<void>((resolve) => this.held?.push(resolve));
    if (this.throws) throw new Error('directory exploded');
    return new Map(
      ids.map((id): [string, GroupFact] => [id, this.failure ? { state: 'unavailable', reason: this.failure } : (this.facts.get(id) ?? { state: 'not-found' })]),
    );
  }
}

interface Context {
  now: number;
  inner: ScriptedDirectory;
}

function cacheOf(context: Context, options: CachedDirectoryOptions = {}): CachedDirectory {
  return new CachedDirectory(context.inner, { now: () => context.now, ...options });
}

async function lookup(cache: Directory, ids: readonly string[], signal?: AbortSignal): Promise<ReadonlyMap<string, GroupFact>> {
  return within(2000, cache.lookupGroups(ids, signal), 'lookupGroups');
}

const cache = suite<Context>('cache', {} as Context);
cache.before.each((context) => {
  context.now = 1_700_000_000_000;
  context.inner = new ScriptedDirectory();
});

cache('all cached :: no underlying call', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A, GONE]);
  const again = await lookup(directory, [GONE, A]);
  assert.equal(context.inner.calls, [[A, GONE]]);
  assert.equal(again.get(A), FOUND_A);
  assert.equal(again.get(GONE), { state: 'not-found' });
  assert.is(directory.source, 'scripted');
});

cache('misses of one call :: one underlying call with all of them, hits left out', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A]);
  const facts = await lookup(directory, [A, B, C, GONE, B]);
  assert.equal(context.inner.calls, [[A], [B, C, GONE]]);
  assert.is(facts.size, 4);
});

cache('positive TTL :: fresh before, asked again after (default 10 min)', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A]);
  context.now += 10 * 60_000 - 1;
  await lookup(directory, [A]);
  assert.is(context.inner.calls.length, 1);
  context.now += 1;
  await lookup(directory, [A]);
  assert.is(context.inner.calls.length, 2);
});

cache('negative TTL :: shorter (default 1 min)', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [GONE]);
  context.now += 59_999;
  await lookup(directory, [GONE]);
  assert.is(context.inner.calls.length, 1);
  context.now += 1;
  context.inner.facts.set(GONE, { state: 'found', displayName: 'Created after the denial', securityEnabled: true });
  assert.is((await lookup(directory, [GONE])).get(GONE)?.state, 'found');
  assert.is(context.inner.calls.length, 2);
});

cache('TTLs :: configurable', async (context) => {
  const directory = cacheOf(context, { positiveTtlMs: 5_000, negativeTtlMs: 1_000 });
  await lookup(directory, [A, GONE]);
  context.now += 1_000;
  await lookup(directory, [A, GONE]);
  assert.equal(context.inner.calls, [[A, GONE], [GONE]]);
  context.now += 4_000;
  await lookup(directory, [A]);
  assert.equal(context.inner.calls.at(-1), [A]);
});

cache('unavailable :: never cached, asked again next time', async (context) => {
  const directory = cacheOf(context);
  context.inner.failure = 'Microsoft Graph answered HTTP 503';
  assert.equal((await lookup(directory, [A])).get(A), { state: 'unavailable', reason: 'Microsoft Graph answered HTTP 503' });
  context.inner.failure = undefined;
  assert.equal((await lookup(directory, [A])).get(A), FOUND_A);
  assert.is(context.inner.calls.length, 2);
});

cache('single flight :: 100 concurrent lookups of one ID share one call', async (context) => {
  const directory = cacheOf(context);
  context.inner.hold();
  const pending = Array.from({ length: 100 }, () => directory.lookupGroups([A]));
  context.inner.release();
  const all = await within(2000, Promise.all(pending));
  assert.equal(context.inner.calls, [[A]]);
  for (const facts of all) assert.equal(facts.get(A), FOUND_A);
});

cache('single flight :: a call joins the flight for one ID and fetches the others', async (context) => {
  const directory = cacheOf(context);
  context.inner.hold();
  const first = directory.lookupGroups([A, B]);
  const second = directory.lookupGroups([B, C]);
  context.inner.release();
  const [one, two] = await within(2000, Promise.all([first, second]));
  assert.equal(context.inner.calls, [[A, B], [C]]);
  assert.is(one.get(B)?.state, 'found');
  assert.is(two.get(B)?.state, 'found');
  assert.is(two.get(C)?.state, 'found');
});

cache('stale-if-error :: expired positive entry served marked stale, with the reason', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A]);
  context.now += 15 * 60_000;
  context.inner.failure = 'Microsoft Graph is throttling (Retry-After 30s)';
  const fact = (await lookup(directory, [A])).get(A);
  assert.equal(fact, { ...FOUND_A, stale: { reason: 'Microsoft Graph is throttling (Retry-After 30s); using the answer from 15 min ago' } });
  assert.is(context.inner.calls.length, 2, 'the directory was asked before the stale answer was used');
});

cache('stale-if-error :: not beyond staleIfErrorMs after the answer', async (context) => {
  const directory = cacheOf(context, { staleIfErrorMs: 30 * 60_000 });
  await lookup(directory, [A]);
  context.now += 30 * 60_000;
  context.inner.failure = 'Microsoft Graph answered HTTP 503';
  assert.equal((await lookup(directory, [A])).get(A), { state: 'unavailable', reason: 'Microsoft Graph answered HTTP 503' });
});

cache('stale-if-error :: never for not-found, and off with 0', async (context) => {
  const negative = cacheOf(context);
  await lookup(negative, [GONE]);
  const off = cacheOf(context, { staleIfErrorMs: 0 });
  await lookup(off, [A]);
  context.now += 11 * 60_000;
  context.inner.failure = 'down';
  assert.is((await lookup(negative, [GONE])).get(GONE)?.state, 'unavailable');
  assert.is((await lookup(off, [A])).get(A)?.state, 'unavailable');
});

cache('stale-if-error :: a fresh answer replaces the stale one and is not marked', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A]);
  context.now += 11 * 60_000;
  context.inner.failure = 'down';
  assert.ok(((await lookup(directory, [A])).get(A) as { stale?: unknown }).stale);
  context.inner.failure = undefined;
  assert.equal((await lookup(directory, [A])).get(A), FOUND_A);
  assert.equal((await lookup(directory, [A])).get(A), FOUND_A);
  assert.is(context.inner.calls.length, 3, 'the last answer came from the cache');
});

cache('a throwing directory :: unavailable with its message, no exception', async (context) => {
  const directory = cacheOf(context);
  context.inner.throws = true;
  assert.equal((await lookup(directory, [A])).get(A), { state: 'unavailable', reason: 'directory exploded' });
});

cache('LRU :: beyond maxEntries the least recently used goes', async (context) => {
  const directory = cacheOf(context, { maxEntries: 2 });
  await lookup(directory, [A]);
  await lookup(directory, [B]);
  await lookup(directory, [A]); // A is now the most recently used
  await lookup(directory, [C]); // evicts B
  assert.is(directory.size, 2);
  const before = context.inner.calls.length;
  await lookup(directory, [A, C]);
  assert.is(context.inner.calls.length, before, 'A and C still cached');
  await lookup(directory, [B]);
  assert.is(context.inner.calls.length, before + 1, 'B was evicted');
});

cache('LRU :: an entry served since it was stored outlives older unused ones (second chance), also via cachedGroups', async (context) => {
  const [D, E] = ['1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', '2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b'];
  const directory = cacheOf(context, { maxEntries: 3 });
  await lookup(directory, [A]);
  await lookup(directory, [B]);
  await lookup(directory, [C]);
  assert.ok(directory.cachedGroups([A]), 'A served from the cache without a call');
  await lookup(directory, [D]); // B and C are older and unused: B goes first
  await lookup(directory, [E]); // then C
  const before = context.inner.calls.length;
  assert.ok(directory.cachedGroups([A, D, E]), 'A survived two evictions; D and E are cached');
  await lookup(directory, [B, C]);
  assert.is(context.inner.calls.length, before + 1, 'B and C were evicted (one call for both)');
});

cache('abort :: the caller stops waiting, the shared answer still fills the cache', async (context) => {
  const directory = cacheOf(context);
  context.inner.hold();
  const controller = new AbortController();
  const waiting = directory.lookupGroups([A], controller.signal);
  controller.abort();
  assert.equal((await within(500, waiting)).get(A), { state: 'unavailable', reason: 'the lookup was cancelled' });
  context.inner.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((await lookup(directory, [A])).get(A), FOUND_A);
  assert.is(context.inner.calls.length, 1);
});

cache("abort :: a timeout says the review's deadline passed", async (context) => {
  const directory = cacheOf(context);
  context.inner.hold();
  const facts = await within(1000, directory.lookupGroups([A], AbortSignal.timeout(50)));
  assert.match((facts.get(A) as { reason: string }).reason, /before the review's deadline/);
  context.inner.release();
});

cache('abort :: already aborted, cached answers still given and no call started', async (context) => {
  const directory = cacheOf(context);
  await lookup(directory, [A]);
  const facts = await lookup(directory, [A, B], AbortSignal.abort());
  assert.equal(facts.get(A), FOUND_A);
  assert.is(facts.get(B)?.state, 'unavailable');
  assert.is(context.inner.calls.length, 1);
});

cache('metrics :: hits, stale and cache size', async (context) => {
  const metrics = createMetrics();
  const directory = cacheOf(context, { metrics });
  await lookup(directory, [A, B, GONE]);
  await lookup(directory, [A]);
  context.now += 11 * 60_000;
  context.inner.failure = 'down';
  await lookup(directory, [A]);
  const text = await metrics.registry.metrics();
  assert.match(text, /entra_rbac_guard_directory_lookups_total\{outcome="hit"\} 1\n/);
  assert.match(text, /entra_rbac_guard_directory_lookups_total\{outcome="stale"\} 1\n/);
  assert.match(text, /entra_rbac_guard_directory_cache_entries 3\n/);
});

cache('options :: a negative TTL is refused', () => {
  assert.throws(() => new CachedDirectory(new ScriptedDirectory(), { positiveTtlMs: -1 }), /positiveTtlMs must be a non-negative/);
});

cache.run();
