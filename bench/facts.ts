import type { DirectoryFacts } from '../src/policy/facts.ts';
import { groupId } from './payloads.ts';

/** Facts for the first `count` benchmark groups: all exist and are security-enabled. */
export function directoryFacts(count: number): DirectoryFacts {
  return {
    source: 'bench',
    groups: new Map(Array.from({ length: count }, (_, index) => [groupId(index), { state: 'found', displayName: `Team ${index}`, securityEnabled: true }])),
  };
}
