import type { Directory } from '../directory/port.ts';
import { MAX_BATCH_REQUESTS } from '../directory/graph.ts';
import type { GroupFact } from '../policy/facts.ts';

/**
 * Groups per directory call in an audit, unless the directory says (Directory.lookupSlice: one wave of its requests):
 * one wave of the Graph directory's 4 concurrent $batch requests of 20. Each call gets the Graph directory's own
 * deadline (5 s, sized for one review), so thousands of groups are looked up in many short calls rather than one that
 * the deadline would cut short.
 */
export const AUDIT_LOOKUP_SLICE = 4 * MAX_BATCH_REQUESTS;

export interface AuditDirectoryOptions {
  /**
   * Ask the directory itself about every group, even those fresh in the cache (and renew them there): the
   * continuous audit then sees a group deleted in Entra within one round, not once the cache entry expires.
   */
  readonly refresh: boolean;
  readonly sliceSize?: number;
  /** Told how many groups each call asks about (for the audit's metrics and the benchmark). */
  readonly onLookup?: (count: number) => void;
}

/** `directory` as an audit uses it: lookups in slices, refreshed or from the cache. */
export function auditDirectory(directory: Directory, options: AuditDirectoryOptions): Directory {
  const size = Math.max(1, options.sliceSize ?? directory.lookupSlice ?? AUDIT_LOOKUP_SLICE);
  const refresh = options.refresh ? directory.refreshGroups?.bind(directory) : undefined;
  const lookup = (ids: readonly string[], signal?: AbortSignal) => (refresh ? refresh(ids) : directory.lookupGroups(ids, signal));
  const cachedGroups = directory.cachedGroups?.bind(directory);
  return {
    source: directory.source,
    lookupSlice: size,
    ...(!refresh && cachedGroups ? { cachedGroups } : {}),
    async lookupGroups(ids, signal) {
      options.onLookup?.(ids.length);
      const answers = new Map<string, GroupFact>();
      for (let start = 0; start < ids.length; start += size) {
        signal?.throwIfAborted();
        for (const [id, fact] of await lookup(ids.slice(start, start + size), signal)) answers.set(id, fact);
      }
      return answers;
    },
  };
}
