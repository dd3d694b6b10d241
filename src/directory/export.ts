import { stringify } from 'yaml';
import { isBindingKind, readBinding } from '../admission/binding.ts';
import type { ManifestObject } from '../check/manifests.ts';
import type { Policy } from '../policy/model.ts';
import { groupIdsOf } from '../policy/needs.ts';
import { isEntraObjectId } from '../policy/subjects.ts';
import type { Directory } from './port.ts';
import type { SnapshotGroup } from './snapshot.ts';

export interface ExportResult {
  /** The snapshot `--directory FILE` reads: the groups that exist, with a header saying what was asked. */
  readonly yaml: string;
  /** IDs that could not be exported, each with the reason; a non-empty list makes the command fail. */
  readonly problems: readonly string[];
}

/**
 * Looks up the given IDs and every Entra group the bindings in `objects` name, and writes the offline snapshot.
 * A group that does not exist is left out, as the snapshot is the complete list: `check` then says group-unknown.
 */
export async function exportSnapshot(
  ids: readonly string[],
  objects: readonly ManifestObject[],
  policy: Policy,
  directory: Directory,
): Promise<ExportResult> {
  const problems = ids
    .filter((id) => !isEntraObjectId(id))
    .map((id) => `--id "${id}" is not an Entra object ID: give the group's object ID as a lower-case GUID`);
  const fromManifests = objects.flatMap(({ source, object }) =>
    isBindingKind(object['kind']) ? groupIdsOf(readBinding(object, source), policy) : [],
  );
  const wanted = [...new Set([...ids.filter(isEntraObjectId), ...fromManifests])].sort();
  const facts = wanted.length > 0 ? await directory.lookupGroups(wanted) : new Map();
  const groups: SnapshotGroup[] = [];
  const missing: string[] = [];
  for (const id of wanted) {
    const fact = facts.get(id);
    if (fact?.state === 'found') groups.push({ id, displayName: fact.displayName, securityEnabled: fact.securityEnabled });
    else if (fact?.state === 'not-found') missing.push(id);
    else problems.push(`group ${id} could not be looked up in ${directory.source}: ${fact?.reason ?? 'no answer'}`);
  }
  const header = [
    `# Directory snapshot for entra-rbac-guard --directory, exported from ${directory.source}.`,
    `# ${wanted.length} group IDs asked, ${groups.length} found.`,
    ...(missing.length > 0 ? [`# Not found (check reports them as group-unknown): ${missing.join(', ')}`] : []),
  ];
  return { yaml: `${header.join('\n')}\n${stringify({ groups })}`, problems };
}
