import type { Directory } from '../directory/port.ts';
import type { GroupFact } from '../policy/facts.ts';

export interface GroupCount {
  /** Distinct groups the directory answered for so far. */
  readonly resolved: number;
}

/**
 * `directory` telling `onResolved` how many distinct groups it has answered for, after each answer: the audit's
 * progress line and its summary ("N Entra groups looked up").
 */
export function progressDirectory(directory: Directory, onResolved: (resolved: number) => void): Directory & GroupCount {
  const seen = new Set<string>();
  const record = (answers: ReadonlyMap<string, GroupFact>) => {
    for (const id of answers.keys()) seen.add(id);
    onResolved(seen.size);
    return answers;
  };
  const cachedGroups = directory.cachedGroups?.bind(directory);
  return {
    source: directory.source,
    ...(directory.lookupSlice === undefined ? {} : { lookupSlice: directory.lookupSlice }),
    get resolved() {
      return seen.size;
    },
    ...(cachedGroups
      ? {
          cachedGroups: (ids: readonly string[]) => {
            const answers = cachedGroups(ids);
            return answers && record(answers);
          },
        }
      : {}),
    lookupGroups: async (ids, signal) => record(await directory.lookupGroups(ids, signal)),
  };
}
