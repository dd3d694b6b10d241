import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { progressLine, terminalProgress } from '../../src/audit/progress.ts';

const Progress = suite('audit progress');

const LINE_CASES: { name: string; state: Parameters<typeof progressLine>[0]; expected: string }[] = [
  { name: 'nothing listed yet', state: { listed: new Map() }, expected: 'entra-rbac-guard audit: listed nothing yet' },
  {
    name: 'a kind under way, with the server estimate',
    state: { listed: new Map([['ClusterRole', { count: 62, expected: undefined }], ['RoleBinding', { count: 500, expected: 1200 }]]) },
    expected: 'entra-rbac-guard audit: listed 62 ClusterRoles, 500/1200 RoleBindings',
  },
  {
    name: 'groups being resolved',
    state: { listed: new Map([['Role', { count: 3, expected: 3 }]]), groups: { resolved: 80, total: 2000 } },
    expected: 'entra-rbac-guard audit: listed 3 Roles · groups resolved 80/2000',
  },
];

for (const { name, state, expected } of LINE_CASES) {
  Progress(`line :: ${name}`, () => assert.is(progressLine(state), expected));
}

Progress('terminal :: redraws one line in place, and erases it when done', () => {
  const writes: string[] = [];
  const progress = terminalProgress((text) => writes.push(text));
  progress.listed('ClusterRole', 5, 12);
  progress.listed('ClusterRole', 12, undefined);
  progress.groups(2, 2);
  progress.done();
  assert.equal(writes, [
    '\r\x1b[2Kentra-rbac-guard audit: listed 5/12 ClusterRoles',
    '\r\x1b[2Kentra-rbac-guard audit: listed 12 ClusterRoles',
    '\r\x1b[2Kentra-rbac-guard audit: listed 12 ClusterRoles · groups resolved 2/2',
    '\r\x1b[2K',
  ]);
  assert.ok(writes.every((text) => !text.includes('\n')), 'never a new line: the report that follows starts clean');
});

Progress.run();
