import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse } from 'yaml';
import { InvalidInputError, expectRecord, expectString } from '../admission/narrow.ts';
import type { GroupFact } from '../policy/facts.ts';
import { isEntraObjectId } from '../policy/subjects.ts';
import type { Directory } from './port.ts';

export interface SnapshotGroup {
  readonly id: string;
  readonly displayName: string;
  readonly securityEnabled: boolean;
}

/**
 * An offline directory: `groups: [{id, displayName, securityEnabled}]`, taken as the complete list of groups,
 * so an object ID that is not in it does not exist.
 */
export class SnapshotDirectory implements Directory {
  private readonly groups: ReadonlyMap<string, SnapshotGroup>;

  constructor(
    groups: readonly SnapshotGroup[],
    readonly source: string,
  ) {
    this.groups = new Map(groups.map((group) => [group.id, group]));
  }

  static async fromFile(path: string): Promise<SnapshotDirectory> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new InvalidInputError(path, `cannot read the directory snapshot (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
    return new SnapshotDirectory(parseSnapshot(text, path), `snapshot ${basename(path)}`);
  }

  async lookupGroups(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>> {
    return this.cachedGroups(ids);
  }

  /** A snapshot is all in memory: it always answers at once. */
  cachedGroups(ids: readonly string[]): ReadonlyMap<string, GroupFact> {
    return new Map(
      ids.map((id): [string, GroupFact] => {
        const group = this.groups.get(id);
        return [id, group ? { state: 'found', displayName: group.displayName, securityEnabled: group.securityEnabled } : { state: 'not-found' }];
      }),
    );
  }
}

export function parseSnapshot(text: string, path: string): SnapshotGroup[] {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new InvalidInputError(path, `is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  const groups = expectRecord(document, path)['groups'];
  if (!Array.isArray(groups)) throw new InvalidInputError(`${path}: groups`, 'must be a list of {id, displayName, securityEnabled}');
  const seen = new Set<string>();
  return groups.map((item, index) => {
    const at = `${path}: groups[${index}]`;
    const group = expectRecord(item, at);
    const id = expectString(group['id'], `${at}.id`);
    if (!isEntraObjectId(id)) throw new InvalidInputError(`${at}.id`, `"${id}" is not a lower-case GUID (an Entra object ID)`);
    if (seen.has(id)) throw new InvalidInputError(`${at}.id`, `"${id}" is listed twice`);
    seen.add(id);
    const securityEnabled = group['securityEnabled'];
    if (typeof securityEnabled !== 'boolean') throw new InvalidInputError(`${at}.securityEnabled`, 'must be true or false');
    return { id, displayName: expectString(group['displayName'], `${at}.displayName`, { optional: true }), securityEnabled };
  });
}
