import type { DirectoryFacts, GroupFact } from '../policy/facts.ts';
import { NO_DIRECTORY } from '../policy/facts.ts';
import type { FactsNeeded } from '../policy/needs.ts';

/** Where group facts come from: an offline snapshot file, or Microsoft Graph. */
export interface Directory {
  /** Named in messages, e.g. `snapshot groups.yaml`. */
  readonly source: string;
  /**
   * How many groups one lookup should ask about when there are thousands (an audit): what the source answers in one
   * wave of requests within its deadline. Unset: the audit's default.
   */
  readonly lookupSlice?: number;
  /**
   * Answers for every ID asked; an ID it cannot answer for is `unavailable` with the reason, never an exception.
   * Stops waiting when `signal` aborts.
   */
  lookupGroups(ids: readonly string[], signal?: AbortSignal): Promise<ReadonlyMap<string, GroupFact>>;
  /**
   * The hot path: answers at once, with no promise, timer or request, when every ID is known without asking
   * anyone (fresh in a cache, or in a snapshot); otherwise undefined, and the caller uses lookupGroups.
   */
  cachedGroups?(ids: readonly string[]): ReadonlyMap<string, GroupFact> | undefined;
  /**
   * Asks the source itself, not a cache, about every ID and keeps the answers as a lookup would: the continuous
   * audit sees a group deleted in Entra within one round, and renews the webhook's cached answers as it goes.
   * Only a directory with a cache has it.
   */
  refreshGroups?(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>>;
  /**
   * Whether the group has at least one member (`preflight`: an empty admin group makes nobody an admin). Only
   * Microsoft Graph can tell; a snapshot holds no members. Never on the webhook's hot path; never throws.
   */
  probeMembers?(id: string, signal?: AbortSignal): Promise<MemberFact>;
}

/** What the directory said about a group's members. */
export type MemberFact =
  | { readonly state: 'has-members' }
  | { readonly state: 'empty' }
  | { readonly state: 'not-found' }
  /** The identity may not read members: `reason` names the permission to grant. */
  | { readonly state: 'forbidden'; readonly reason: string }
  | { readonly state: 'unavailable'; readonly reason: string };

/** Fetches exactly the facts the engine said it needs. With no directory, the engine notes that nothing was checked. */
export async function gatherFacts(
  needs: FactsNeeded,
  directory: Directory | undefined,
  deadline?: AbortSignal | (() => AbortSignal),
): Promise<DirectoryFacts> {
  if (!directory) return NO_DIRECTORY;
  const known = knownFacts(needs, directory);
  if (known) return known;
  // The deadline's timer is made only now, when something must really be waited for.
  const signal = typeof deadline === 'function' ? deadline() : deadline;
  try {
    return { source: directory.source, groups: await untilAborted(directory.lookupGroups(needs.groupIds, signal), signal) };
  } catch (error) {
    return { source: directory.source, groups: new Map(needs.groupIds.map((id) => [id, { state: 'unavailable', reason: failureReason(error, directory) }])) };
  }
}

/**
 * The facts, when they are known without waiting (no directory, no group to ask about, or every group fresh in the
 * cache); otherwise undefined, and gatherFacts asks. The webhook's hot path: no promise, no timer.
 */
export function knownFacts(needs: FactsNeeded, directory: Directory | undefined): DirectoryFacts | undefined {
  if (!directory) return NO_DIRECTORY;
  if (needs.groupIds.length === 0) return { source: directory.source, groups: new Map() };
  const cached = directory.cachedGroups?.(needs.groupIds);
  return cached ? { source: directory.source, groups: cached } : undefined;
}

/** The deadline's own error says only "The operation was aborted due to timeout": say what happened instead. */
function failureReason(error: unknown, directory: Directory): string {
  const name = error instanceof Error ? error.name : undefined;
  if (name === 'TimeoutError') return `${directory.source} did not answer before the review's deadline`;
  if (name === 'AbortError') return `the lookup in ${directory.source} was cancelled`;
  return error instanceof Error ? error.message : String(error);
}

/** The deadline holds even for a directory that ignores the signal: the review is answered when it aborts. */
function untilAborted<T>(lookup: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return lookup;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    lookup.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
