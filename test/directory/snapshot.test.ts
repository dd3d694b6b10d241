import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidInputError } from '../../src/admission/narrow.ts';
import { gatherFacts, type Directory } from '../../src/directory/port.ts';
import { SnapshotDirectory, parseSnapshot, type SnapshotGroup } from '../../src/directory/snapshot.ts';
import { NO_DIRECTORY, type GroupFact } from '../../src/policy/facts.ts';
import { ADMIN_GROUP_ID, GROUP_ID } from '../helpers.ts';

const M365_ID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const ABSENT_ID = 'ffffffff-eeee-4ddd-8ccc-bbbbbbbbbbbb';
const PATH = 'groups.yaml';

const SNAPSHOT = `groups:
  - id: ${GROUP_ID}
    displayName: Payments Team
    securityEnabled: true
  - id: ${M365_ID}
    displayName: Payments (Microsoft 365)
    securityEnabled: false
`;

/** The InvalidInputError that parsing `text` throws. */
function parseError(text: string, path = PATH): InvalidInputError {
  try {
    parseSnapshot(text, path);
  } catch (error) {
    assert.instance(error, InvalidInputError, `expected InvalidInputError, got ${String(error)}`);
    return error as InvalidInputError;
  }
  return assert.unreachable(`expected parseSnapshot to reject:\n${text}`) as never;
}

// --- parseSnapshot ------------------------------------------------------------------------------------------------

const Parse = suite('parseSnapshot');

Parse('parseSnapshot :: valid YAML :: every group with its fields', () => {
  assert.equal(parseSnapshot(SNAPSHOT, PATH), [
    { id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true },
    { id: M365_ID, displayName: 'Payments (Microsoft 365)', securityEnabled: false },
  ]);
});

Parse('parseSnapshot :: JSON :: accepted', () => {
  const text = JSON.stringify({ groups: [{ id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true }] });
  assert.equal(parseSnapshot(text, 'groups.json'), [{ id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true }]);
});

Parse('parseSnapshot :: displayName missing :: empty display name', () => {
  assert.equal(parseSnapshot(`groups:\n  - {id: ${GROUP_ID}, securityEnabled: true}\n`, PATH), [
    { id: GROUP_ID, displayName: '', securityEnabled: true },
  ]);
});

Parse('parseSnapshot :: empty list :: no groups', () => {
  assert.equal(parseSnapshot('groups: []\n', PATH), []);
});

for (const [name, text, path, problem] of [
  ['upper-case id', `groups:\n  - {id: ${GROUP_ID.toUpperCase()}, securityEnabled: true}\n`, `${PATH}: groups[0].id`, 'is not a lower-case GUID'],
  ['display name as id', 'groups:\n  - {id: Payments Team, securityEnabled: true}\n', `${PATH}: groups[0].id`, '"Payments Team" is not a lower-case GUID'],
  ['id in braces', `groups:\n  - {id: "{${GROUP_ID}}", securityEnabled: true}\n`, `${PATH}: groups[0].id`, 'is not a lower-case GUID'],
  ['id missing', 'groups:\n  - {securityEnabled: true}\n', `${PATH}: groups[0].id`, 'is required'],
  ['id a number', 'groups:\n  - {id: 12, securityEnabled: true}\n', `${PATH}: groups[0].id`, 'must be a string, got number 12'],
  [
    'duplicate id',
    `groups:\n  - {id: ${GROUP_ID}, securityEnabled: true}\n  - {id: ${ADMIN_GROUP_ID}, securityEnabled: true}\n  - {id: ${GROUP_ID}, securityEnabled: false}\n`,
    `${PATH}: groups[2].id`,
    `"${GROUP_ID}" is listed twice`,
  ],
  ['securityEnabled missing', `groups:\n  - {id: ${GROUP_ID}, displayName: Payments}\n`, `${PATH}: groups[0].securityEnabled`, 'must be true or false'],
  ['securityEnabled a string', `groups:\n  - {id: ${GROUP_ID}, securityEnabled: "true"}\n`, `${PATH}: groups[0].securityEnabled`, 'must be true or false'],
  ['displayName a number', `groups:\n  - {id: ${GROUP_ID}, displayName: 5, securityEnabled: true}\n`, `${PATH}: groups[0].displayName`, 'must be a string'],
  ['group entry a string', `groups:\n  - ${GROUP_ID}\n`, `${PATH}: groups[0]`, 'must be an object'],
  ['groups a mapping', `groups:\n  ${GROUP_ID}: true\n`, `${PATH}: groups`, 'must be a list of {id, displayName, securityEnabled}'],
  ['groups a string', 'groups: everyone\n', `${PATH}: groups`, 'must be a list'],
  ['groups missing', 'users: []\n', `${PATH}: groups`, 'must be a list'],
  ['document a list', `- {id: ${GROUP_ID}, securityEnabled: true}\n`, PATH, 'must be an object, got an array'],
  ['empty document', '', PATH, 'must be an object, got null'],
  ['invalid YAML', 'groups: [\n  {id: x\n', PATH, 'is not valid YAML or JSON'],
  ['invalid JSON', '{"groups": [}', PATH, 'is not valid YAML or JSON'],
  ['duplicate key', 'groups: []\ngroups: []\n', PATH, 'is not valid YAML or JSON'],
] as const) {
  Parse(`parseSnapshot :: ${name} :: rejected, naming the file and field`, () => {
    const error = parseError(text);
    assert.is(error.path, path);
    assert.ok(error.problem.includes(problem), `problem ${JSON.stringify(error.problem)} should contain ${JSON.stringify(problem)}`);
    assert.ok(error.message.startsWith(`${PATH}`), `the message names the file: ${error.message}`);
  });
}

Parse('parseSnapshot :: invalid YAML :: one-line problem', () => {
  const error = parseError('groups: [\n  {id: x\n');
  assert.not.ok(error.problem.includes('\n'), JSON.stringify(error.problem));
});

Parse('parseSnapshot :: another path :: the error names that path', () => {
  const error = parseError('groups: 3\n', '/etc/entra-rbac-guard/directory.yaml');
  assert.is(error.path, '/etc/entra-rbac-guard/directory.yaml: groups');
});

Parse.run();

// --- SnapshotDirectory --------------------------------------------------------------------------------------------

const Snapshot = suite('SnapshotDirectory');

const GROUPS: readonly SnapshotGroup[] = parseSnapshot(SNAPSHOT, PATH);

Snapshot('SnapshotDirectory :: listed security group :: found with display name and securityEnabled true', async () => {
  const facts = await new SnapshotDirectory(GROUPS, 'snapshot test').lookupGroups([GROUP_ID]);
  assert.equal(facts.get(GROUP_ID), { state: 'found', displayName: 'Payments Team', securityEnabled: true });
});

Snapshot('SnapshotDirectory :: listed Microsoft 365 group :: found with securityEnabled false', async () => {
  const facts = await new SnapshotDirectory(GROUPS, 'snapshot test').lookupGroups([M365_ID]);
  assert.equal(facts.get(M365_ID), { state: 'found', displayName: 'Payments (Microsoft 365)', securityEnabled: false });
});

Snapshot('SnapshotDirectory :: absent ID :: not-found (the snapshot is the complete list)', async () => {
  const facts = await new SnapshotDirectory(GROUPS, 'snapshot test').lookupGroups([ABSENT_ID]);
  assert.equal(facts.get(ABSENT_ID), { state: 'not-found' });
});

Snapshot('SnapshotDirectory :: several IDs :: one answer per ID asked, nothing else', async () => {
  const facts = await new SnapshotDirectory(GROUPS, 'snapshot test').lookupGroups([ABSENT_ID, GROUP_ID]);
  assert.equal([...facts.keys()], [ABSENT_ID, GROUP_ID]);
  assert.is(facts.get(GROUP_ID)?.state, 'found');
  assert.is(facts.get(ABSENT_ID)?.state, 'not-found');
  assert.not.ok(facts.has(M365_ID));
});

Snapshot('SnapshotDirectory :: empty snapshot :: every ID not-found', async () => {
  const facts = await new SnapshotDirectory([], 'snapshot empty').lookupGroups([GROUP_ID]);
  assert.equal(facts.get(GROUP_ID), { state: 'not-found' });
});

Snapshot('SnapshotDirectory :: upper-case spelling of a listed ID :: not found (IDs compare exactly)', async () => {
  const facts = await new SnapshotDirectory(GROUPS, 'snapshot test').lookupGroups([GROUP_ID.toUpperCase()]);
  assert.equal(facts.get(GROUP_ID.toUpperCase()), { state: 'not-found' });
});

let workDir = '';

Snapshot.before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'entra-rbac-guard-snapshot-'));
});

Snapshot.after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

Snapshot('SnapshotDirectory.fromFile :: readable snapshot :: source names the file, lookups answer', async () => {
  const file = join(workDir, 'groups.yaml');
  await writeFile(file, SNAPSHOT);
  const directory = await SnapshotDirectory.fromFile(file);
  assert.is(directory.source, 'snapshot groups.yaml');
  const facts = await directory.lookupGroups([GROUP_ID, ABSENT_ID]);
  assert.is(facts.get(GROUP_ID)?.state, 'found');
  assert.is(facts.get(ABSENT_ID)?.state, 'not-found');
});

Snapshot('SnapshotDirectory.fromFile :: missing file :: InvalidInputError naming the path and ENOENT', async () => {
  const file = join(workDir, 'does-not-exist.yaml');
  try {
    await SnapshotDirectory.fromFile(file);
    assert.unreachable('a missing snapshot must be rejected');
  } catch (error) {
    assert.instance(error, InvalidInputError);
    assert.is((error as InvalidInputError).path, file);
    assert.ok((error as InvalidInputError).problem.includes('cannot read the directory snapshot'));
    assert.ok((error as InvalidInputError).problem.includes('ENOENT'));
  }
});

Snapshot('SnapshotDirectory.fromFile :: a directory instead of a file :: InvalidInputError naming the path', async () => {
  try {
    await SnapshotDirectory.fromFile(workDir);
    assert.unreachable('a directory is not a snapshot');
  } catch (error) {
    assert.instance(error, InvalidInputError);
    assert.is((error as InvalidInputError).path, workDir);
    assert.ok((error as InvalidInputError).problem.includes('EISDIR'));
  }
});

Snapshot('SnapshotDirectory.fromFile :: invalid content :: InvalidInputError naming the file and field', async () => {
  const file = join(workDir, 'bad.yaml');
  await writeFile(file, `groups:\n  - {id: ${GROUP_ID}}\n`);
  try {
    await SnapshotDirectory.fromFile(file);
    assert.unreachable('a snapshot without securityEnabled must be rejected');
  } catch (error) {
    assert.instance(error, InvalidInputError);
    assert.is((error as InvalidInputError).path, `${file}: groups[0].securityEnabled`);
  }
});

Snapshot.run();

// --- gatherFacts --------------------------------------------------------------------------------------------------

const Gather = suite('gatherFacts');

/** A Directory that records every call and answers with `answer`. */
function countingDirectory(answer: (ids: readonly string[]) => Promise<ReadonlyMap<string, GroupFact>>): Directory & {
  calls: (readonly string[])[];
  signals: (AbortSignal | undefined)[];
} {
  const calls: (readonly string[])[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  return {
    source: 'counting test directory',
    calls,
    signals,
    lookupGroups(ids, signal) {
      calls.push([...ids]);
      signals.push(signal);
      return answer(ids);
    },
  };
}

Gather('gatherFacts :: no directory :: NO_DIRECTORY', async () => {
  const facts = await gatherFacts({ groupIds: [GROUP_ID] }, undefined);
  assert.is(facts, NO_DIRECTORY);
  assert.is(facts.source, undefined);
  assert.is(facts.groups.size, 0);
});

Gather('gatherFacts :: nothing asked :: no call made, empty answer with the source', async () => {
  const directory = countingDirectory(async () => new Map());
  const facts = await gatherFacts({ groupIds: [] }, directory);
  assert.is(directory.calls.length, 0);
  assert.is(facts.source, 'counting test directory');
  assert.is(facts.groups.size, 0);
});

Gather('gatherFacts :: IDs asked :: one call with exactly those IDs, answers passed through', async () => {
  const directory = countingDirectory(async (ids) => new Map(ids.map((id): [string, GroupFact] => [id, { state: 'not-found' }])));
  const facts = await gatherFacts({ groupIds: [GROUP_ID, ADMIN_GROUP_ID] }, directory);
  assert.equal(directory.calls, [[GROUP_ID, ADMIN_GROUP_ID]]);
  assert.is(facts.source, 'counting test directory');
  assert.equal([...facts.groups.entries()], [
    [GROUP_ID, { state: 'not-found' }],
    [ADMIN_GROUP_ID, { state: 'not-found' }],
  ]);
});

Gather('gatherFacts :: signal given :: forwarded to the directory', async () => {
  const directory = countingDirectory(async () => new Map());
  const controller = new AbortController();
  await gatherFacts({ groupIds: [GROUP_ID] }, directory, controller.signal);
  assert.is(directory.signals[0], controller.signal);
});

Gather('gatherFacts :: lookupGroups throws :: every asked ID unavailable with the error message', async () => {
  const directory = countingDirectory(async () => {
    throw new Error('Microsoft Graph answered 503 Service Unavailable');
  });
  const facts = await gatherFacts({ groupIds: [GROUP_ID, ADMIN_GROUP_ID] }, directory);
  assert.is(directory.calls.length, 1);
  assert.is(facts.source, 'counting test directory');
  assert.equal([...facts.groups.entries()], [
    [GROUP_ID, { state: 'unavailable', reason: 'Microsoft Graph answered 503 Service Unavailable' }],
    [ADMIN_GROUP_ID, { state: 'unavailable', reason: 'Microsoft Graph answered 503 Service Unavailable' }],
  ]);
});

Gather('gatherFacts :: lookupGroups throws synchronously :: still every ID unavailable', async () => {
  const directory: Directory = {
    source: 'sync thrower',
    lookupGroups() {
      throw new Error('not configured');
    },
  };
  const facts = await gatherFacts({ groupIds: [GROUP_ID] }, directory);
  assert.equal(facts.groups.get(GROUP_ID), { state: 'unavailable', reason: 'not configured' });
});

Gather('gatherFacts :: lookupGroups rejects with a non-Error :: reason is its text', async () => {
  const directory = countingDirectory(() => Promise.reject('socket hang up'));
  const facts = await gatherFacts({ groupIds: [GROUP_ID] }, directory);
  assert.equal(facts.groups.get(GROUP_ID), { state: 'unavailable', reason: 'socket hang up' });
});

Gather('gatherFacts :: snapshot directory :: found, not-found and securityEnabled false from one call', async () => {
  const facts = await gatherFacts({ groupIds: [GROUP_ID, M365_ID, ABSENT_ID] }, new SnapshotDirectory(GROUPS, 'snapshot groups.yaml'));
  assert.is(facts.source, 'snapshot groups.yaml');
  assert.equal(facts.groups.get(GROUP_ID), { state: 'found', displayName: 'Payments Team', securityEnabled: true });
  assert.equal(facts.groups.get(M365_ID), { state: 'found', displayName: 'Payments (Microsoft 365)', securityEnabled: false });
  assert.equal(facts.groups.get(ABSENT_ID), { state: 'not-found' });
});

Gather.run();
