/**
 * The fault suite's report: CI may keep only the end of a run's output, so each failed row is said again last, in a
 * line of its own with its note; rows that could not run fail only in a strict run.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renderFailures, renderTable, rowFailed, type SectionResult } from '../../faults/lib/table.ts';

const SURVIVED = { fault: 'slow-loris', cases: 10, survived: 10, note: 'all cut in time' };
const SHED = { fault: 'shed answers: fast and explicit', cases: 1, survived: 0, note: 'no review was shed' };
const AUDIT = { fault: 'npm audit', cases: 1, survived: 0, notRun: 'the registry did not answer' };

const section = (overrides: Partial<SectionResult>): SectionResult => ({ scenario: 'Overload', file: '06-overload.ts', rows: [], seconds: 1, ...overrides });

const table = suite('faults :: table');

table('a row that survived every case does not fail; one short of its cases does', () => {
  assert.is(rowFailed(SURVIVED, false), false);
  assert.is(rowFailed(SHED, false), true);
});

table('a row that could not run fails in a strict run only', () => {
  assert.is(rowFailed(AUDIT, false), false);
  assert.is(rowFailed(AUDIT, true), true);
});

table('failures :: each failed row once, with scenario, counts and note', () => {
  const text = renderFailures([section({ rows: [SURVIVED, SHED, AUDIT] })], false);
  assert.equal(text.trimEnd().split('\n'), ['✘ Overload: shed answers: fast and explicit: 0 of 1 survived; no review was shed']);
});

table('failures :: a scenario that threw names its first line', () => {
  const text = renderFailures([section({ scenario: 'Soak', error: 'Error: spawn failed\n    at stack frame' })], false);
  assert.is(text, '✘ Soak: the scenario itself failed: Error: spawn failed\n');
});

table('table :: a failed row is marked, one that could not run says so', () => {
  const rendered = renderTable([section({ rows: [SURVIVED, SHED, AUDIT] })]);
  const row = (fault: string) => rendered.split('\n').find((line) => line.startsWith(`| ${fault}`)) ?? '';
  assert.match(row('shed answers'), /\| 0 ✘ /);
  assert.match(row('slow-loris'), /\| 10 +\|/);
  assert.match(row('npm audit'), /NOT RUN/);
});

table.run();
