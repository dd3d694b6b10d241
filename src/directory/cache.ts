import type { GroupFact } from '../policy/facts.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Directory, MemberFact } from './port.ts';

export interface CachedDirectoryOptions {
  /** How long "this group exists" is believed. Default 10 min. */
  readonly positiveTtlMs?: number;
  /** How long "no such group" is believed; shorter, so a group created after a denial is soon accepted. Default 1 min. */
  readonly negativeTtlMs?: number;
  /**
   * Stale-if-error: while the directory cannot answer, a group it said exists is still served, marked stale, as long
   * as that answer is younger than this (counted from when the directory gave it). 0 turns it off. Default 1 h.
   */
  readonly staleIfErrorMs?: number;
  /** At most this many groups are kept; the least recently used goes first. Default 50,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
  readonly metrics?: Metrics;
}

type Answer = Extract<GroupFact, { state: 'found' | 'not-found' }>;

interface Entry {
  readonly fact: Answer;
  readonly storedAt: number;
  readonly expiresAt: number;
  /** Served since it was stored or last given its second chance (see store). */
  used: boolean;
}

/**
 * Any directory behind a cache, so that a review whose groups are all known makes no call at all:
 *
 * - positive and (shorter) negative TTLs; `unavailable` is never cached, so the next review asks again (the Graph
 *   directory's circuit breaker keeps that from hammering a failing Graph);
 * - single flight: concurrent lookups of one ID share one underlying request;
 * - one underlying `lookupGroups` call for all the misses of a call (Graph batches them);
 * - stale-if-error, see `staleIfErrorMs`; the stale fact carries the reason the directory could not answer;
 * - beyond `maxEntries`, eviction of the least recently used, approximated by second chance ("clock"): a hit only
 *   marks its entry, so the webhook's hot path never reorders the map (a delete and re-insert per group per review
 *   was the cache's largest cost at 50 subjects).
 *
 * A caller's AbortSignal stops that caller's wait, not the shared request: other callers may be waiting for the same
 * groups, and an answer arriving later still fills the cache. The underlying directory's own deadline bounds it.
 */
export class CachedDirectory implements Directory {
  readonly source: string;
  readonly lookupSlice: number | undefined;
  private readonly positiveTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly staleIfErrorMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly metrics: Metrics | undefined;
  /** Insertion order: eviction looks at the front; an entry used since it got there moves to the end instead. */
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<GroupFact>>();
  /** Members are not cached: only `preflight` asks, once per admin group. */
  readonly probeMembers?: (id: string, signal?: AbortSignal) => Promise<MemberFact>;

  constructor(
    private readonly inner: Directory,
    options: CachedDirectoryOptions = {},
  ) {
    this.source = inner.source;
    this.lookupSlice = inner.lookupSlice;
    this.positiveTtlMs = nonNegative(options.positiveTtlMs ?? 10 * 60_000, 'positiveTtlMs');
    this.negativeTtlMs = nonNegative(options.negativeTtlMs ?? 60_000, 'negativeTtlMs');
    this.staleIfErrorMs = nonNegative(options.staleIfErrorMs ?? 60 * 60_000, 'staleIfErrorMs');
    this.maxEntries = Math.max(1, Math.floor(nonNegative(options.maxEntries ?? 50_000, 'maxEntries')));
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    if (inner.probeMembers) this.probeMembers = (id, signal) => inner.probeMembers!(id, signal);
  }

  /** Groups held, fresh or kept for stale-if-error. */
  get size(): number {
    return this.entries.size;
  }

  /** Forgets everything (e.g. after the directory's configuration changed). */
  clear(): void {
    this.entries.clear();
    this.updateSizeMetric();
  }

  cachedGroups(ids: readonly string[]): ReadonlyMap<string, GroupFact> | undefined {
    const now = this.now();
    const answers = new Map<string, GroupFact>();
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry || now >= entry.expiresAt) return undefined;
      entry.used = true;
      answers.set(id, entry.fact);
    }
    this.metrics?.directoryLookups.inc({ outcome: 'hit' }, answers.size);
    return answers;
  }

  async lookupGroups(ids: readonly string[], signal?: AbortSignal): Promise<ReadonlyMap<string, GroupFact>> {
    const now = this.now();
    const answers = new Map<string, GroupFact | Promise<GroupFact>>();
    const misses: string[] = [];
    for (const id of new Set(ids)) {
      const entry = this.entries.get(id);
      if (entry && now < entry.expiresAt) {
        entry.used = true;
        this.metrics?.directoryLookups.inc({ outcome: 'hit' });
        answers.set(id, entry.fact);
        continue;
      }
      if (entry && !this.staleUsable(entry, now)) this.entries.delete(id);
      const shared = this.inflight.get(id);
      if (shared) answers.set(id, shared);
      else misses.push(id);
    }
    if (misses.length > 0 && signal?.aborted) {
      // Nobody will wait for the answer: do not start a request for it.
      for (const id of misses) answers.set(id, untilAborted(new Promise<GroupFact>(() => undefined), signal));
    } else if (misses.length > 0) {
      const flight = this.fetch(misses);
      for (const id of misses) {
        const answer = flight.then((facts) => facts.get(id) as GroupFact);
        this.inflight.set(id, answer);
        answers.set(id, answer);
        void answer.finally(() => {
          if (this.inflight.get(id) === answer) this.inflight.delete(id);
        });
      }
    }
    this.updateSizeMetric();
    const settled = await Promise.all(
      [...answers].map(async ([id, answer]): Promise<[string, GroupFact]> => [id, answer instanceof Promise ? await untilAborted(answer, signal) : answer]),
    );
    return new Map(settled);
  }

  /** Every ID asked of the directory again, fresh or not, in one underlying call; stores the answers (see Directory). */
  refreshGroups(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>> {
    return this.fetch([...new Set(ids)]);
  }

  /** One underlying call for all of `ids`; never rejects. Stores what it learnt, serves stale answers where allowed. */
  private async fetch(ids: readonly string[]): Promise<Map<string, GroupFact>> {
    let facts: ReadonlyMap<string, GroupFact>;
    try {
      facts = await this.inner.lookupGroups(ids);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      facts = new Map(ids.map((id) => [id, { state: 'unavailable', reason }]));
    }
    const now = this.now();
    const result = new Map<string, GroupFact>();
    for (const id of ids) {
      const fact = facts.get(id) ?? { state: 'unavailable', reason: `${this.source} gave no answer for the group` };
      if (fact.state === 'found') {
        const answer: Answer = { state: 'found', displayName: fact.displayName, securityEnabled: fact.securityEnabled };
        this.store(id, { fact: answer, storedAt: now, expiresAt: now + this.positiveTtlMs, used: false });
        result.set(id, answer);
      } else if (fact.state === 'not-found') {
        this.store(id, { fact, storedAt: now, expiresAt: now + this.negativeTtlMs, used: false });
        result.set(id, fact);
      } else {
        const old = this.entries.get(id);
        if (old && old.fact.state === 'found' && this.staleUsable(old, now)) {
          this.metrics?.directoryLookups.inc({ outcome: 'stale' });
          result.set(id, { ...old.fact, stale: { reason: `${fact.reason}; using the answer from ${ago(now - old.storedAt)} ago` } });
        } else {
          result.set(id, fact);
        }
      }
    }
    this.updateSizeMetric();
    return result;
  }

  /** Still worth keeping after expiry: a positive answer young enough to serve under stale-if-error. */
  private staleUsable(entry: Entry, now: number): boolean {
    return entry.fact.state === 'found' && now - entry.storedAt < this.staleIfErrorMs;
  }

  private store(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.entries().next();
      if (oldest.done) break;
      const [oldestId, oldestEntry] = oldest.value;
      this.entries.delete(oldestId);
      if (oldestEntry.used) {
        // Second chance: used since it came to the front, so it goes to the back, unmarked.
        oldestEntry.used = false;
        this.entries.set(oldestId, oldestEntry);
      }
    }
  }

  private updateSizeMetric(): void {
    this.metrics?.directoryCacheEntries.set(this.entries.size);
  }
}

/** The answer, or `unavailable` as soon as the caller's signal aborts. */
function untilAborted(answer: Promise<GroupFact>, signal: AbortSignal | undefined): Promise<GroupFact> {
  if (!signal) return answer;
  const cancelled = (): GroupFact => ({
    state: 'unavailable',
    reason: signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? 'the directory did not answer before the review\'s deadline' : 'the lookup was cancelled',
  });
  if (signal.aborted) return Promise.resolve(cancelled());
  return new Promise((resolve) => {
    const onAbort = () => resolve(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    void answer.then((fact) => {
      signal.removeEventListener('abort', onAbort);
      resolve(fact);
    });
  });
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  return `${Math.round(seconds / 60)} min`;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number of milliseconds, got ${value}`);
  return value;
}
