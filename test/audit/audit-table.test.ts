/**
 * The audit from listing to table without an API server: runAudit over a ListPage that serves objects as
 * kube-apiserver lists them, the real engine, a snapshot directory, then the report for people.
 * test/e2e/audit.e2e.ts runs the CLI against a real kube-apiserver.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findingsByRule } from '../../src/audit/findings.ts';
import type { AuditProgress } from '../../src/audit/progress.ts';
import { runAudit, type AuditOutcome } from '../../src/audit/run-audit.ts';
import { SnapshotDirectory } from '../../src/directory/snapshot.ts';
import type { ListPage } from '../../src/kube/inventory.ts';
import type { RbacKind } from '../../src/kube/role-cache.ts';
import type { Policy } from '../../src/policy/model.ts';
import { auditTable } from '../../src/report/audit-table.ts';
import { RULE_HELP } from '../../src/report/rule-help.ts';
import { ADMIN_GROUP_ID, GROUP_ID, policyWith } from '../helpers.ts';

const RBAC = 'rbac.authorization.k8s.io';
const UNKNOWN_GROUP_ID = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';

// --- helpers ---------------------------------------------------------------------------------------------------------

type Item = Record<string, unknown>;

const subject = (kind: 'User' | 'Group', name: string) => ({ kind, apiGroup: RBAC, name });
const roleRef = (name: string) => ({ apiGroup: RBAC, kind: 'ClusterRole', name });
const rb = (namespace: string, name: string, role: string, ...subjects: object[]): Item => ({ metadata: { namespace, name }, roleRef: roleRef(role), subjects });
const crb = (name: string, role: string, ...subjects: object[]): Item => ({ metadata: { name }, roleRef: roleRef(role), subjects });
const clusterRole = (name: string, rules: object[]): Item => ({ metadata: { name }, rules });

/** A small cluster: compliant, violating, exempt and allow-listed objects, and a binding to a role that does not exist. */
function clusterObjects(extra: Partial<Record<RbacKind, Item[]>> = {}): Record<RbacKind, Item[]> {
  return {
    ClusterRole: [
      clusterRole('cluster-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }]),
      clusterRole('view', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]),
      clusterRole('edit', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['*'] }]),
      ...(extra.ClusterRole ?? []),
    ],
    Role: extra.Role ?? [],
    ClusterRoleBinding: [
      crb('cluster-admin', 'cluster-admin', subject('Group', 'system:masters')),
      crb('payments-cluster-admin', 'cluster-admin', subject('Group', GROUP_ID)),
      crb('everyone-view', 'view', subject('Group', 'system:authenticated')),
      crb('break-glass', 'view', subject('User', 'break-glass@contoso.com')),
      ...(extra.ClusterRoleBinding ?? []),
    ],
    RoleBinding: [
      rb('payments', 'payments-viewers', 'view', subject('Group', GROUP_ID)),
      rb('payments', 'carol-admin', 'edit', subject('User', 'carol@fabrikam.com')),
      rb('payments', 'two-users', 'view', subject('User', 'alice@fabrikam.com'), subject('User', 'bob@fabrikam.com')),
      rb('payments', 'stale-team', 'edit', subject('Group', UNKNOWN_GROUP_ID)),
      rb('payments', 'ghost-role', 'ghost', subject('Group', GROUP_ID)),
      rb('platform-tools', 'tools', 'edit', subject('User', 'dave@fabrikam.com')),
      ...(extra.RoleBinding ?? []),
    ],
  };
}

/** Serves `objects` as the API server does, in pages of `limit`. */
function lister(objects: Record<RbacKind, Item[]>): ListPage {
  return async (kind, limit, token) => {
    const start = Number(token ?? 0);
    const end = Math.min(objects[kind].length, start + limit);
    return { items: objects[kind].slice(start, end), continueToken: end < objects[kind].length ? String(end) : undefined };
  };
}

const DIRECTORY = new SnapshotDirectory(
  [
    { id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true },
    { id: ADMIN_GROUP_ID, displayName: 'Cluster Admins', securityEnabled: true },
  ],
  'snapshot groups.yaml',
);

function policy(overrides: Partial<Policy> = {}): Policy {
  const base = policyWith();
  return policyWith({ allow: { ...base.allow, users: ['break-glass@contoso.com'], namespaces: ['platform-tools'] }, ...overrides });
}

async function audit(options: { policy?: Policy; extra?: Partial<Record<RbacKind, Item[]>>; progress?: AuditProgress } = {}): Promise<AuditOutcome> {
  return runAudit({ listPage: lister(clusterObjects(options.extra)), server: 'https://127.0.0.1:6443', policy: options.policy ?? policy(), directory: DIRECTORY, pageSize: 2, progress: options.progress });
}

function table(outcome: AuditOutcome, used = policy()): string {
  return auditTable(outcome, { cluster: 'context admin, server https://127.0.0.1:6443', policySource: 'policy.yaml', policy: used, directory: 'snapshot groups.yaml' });
}

/** The lines of `text` from the one that starts with `heading` up to the next blank line. */
function section(text: string, heading: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(heading));
  assert.ok(start >= 0, `no section "${heading}" in:\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end < 0 ? undefined : end);
}

// --- grouping --------------------------------------------------------------------------------------------------------

const Grouping = suite('audit table :: violations by rule, then by binding');

Grouping('grouping :: rules :: in the rule list order, each with what it protects and the fix', async () => {
  const text = table(await audit());
  const headings = text.split('\n').filter((line) => /^[a-z-]+: /.test(line) && !line.startsWith('policy:'));
  assert.equal(headings.map((line) => line.split(':')[0]), ['user-subject', 'group-unknown', 'cluster-admin', 'broad-group']);
  for (const rule of ['user-subject', 'group-unknown', 'cluster-admin', 'broad-group']) {
    const lines = section(text, `${rule}: `);
    assert.ok(lines[0]!.includes(RULE_HELP[rule]!.summary), `${rule} heading says what the rule protects`);
    assert.is(lines[1], `  fix: ${RULE_HELP[rule]!.fix}`);
  }
});

Grouping('grouping :: bindings :: in name order under their rule, each subject with its action and message', async () => {
  const lines = section(table(await audit()), 'user-subject: ');
  assert.match(lines[0]!, /3 findings in 2 bindings\.$/);
  assert.equal(
    lines.filter((line) => /^  \S/.test(line) && !line.startsWith('  fix:')),
    ['  RoleBinding payments/carol-admin', '  RoleBinding payments/two-users'],
  );
  const twoUsers = lines.slice(lines.indexOf('  RoleBinding payments/two-users'));
  assert.is(twoUsers[1], '    deny  User "alice@fabrikam.com"');
  assert.match(twoUsers[2]!, /^ {9}RoleBinding payments\/two-users binds User "alice@fabrikam.com" directly \[user-subject\]/);
  assert.is(twoUsers[3], '    deny  User "bob@fabrikam.com"');
});

Grouping('grouping :: a binding of cluster-admin to a non-admin :: one finding, on the binding; the built-in role itself carries none', async () => {
  const outcome = await audit();
  const roleEntry = outcome.checked.find((entry) => entry.object.kind === 'ClusterRole' && entry.object.name === 'cluster-admin')!;
  assert.equal(roleEntry.decision.violations, [], 'an audit has no change: the role is not judged again through its bindings');
  assert.is(roleEntry.decision.allowed, true);
  const lines = section(table(outcome), 'cluster-admin: ');
  assert.match(lines[0]!, /1 finding in 1 binding\.$/);
  assert.is(lines[2], '  ClusterRoleBinding payments-cluster-admin');
  assert.is(lines[3], `    deny  Group "${GROUP_ID}"`);
  assert.not.ok(lines.some((line) => line.includes('also found on')));
  const clusterAdmin = findingsByRule(outcome.checked).find((rule) => rule.rule === 'cluster-admin')!;
  assert.is(clusterAdmin.count, 1);
});

Grouping('grouping :: audit mode :: deny rules still show deny, with why they were only warned', async () => {
  const used = policy({ mode: 'audit' });
  const lines = section(table(await audit({ policy: used }), used), 'broad-group: ');
  assert.is(lines[3], '    deny  Group "system:authenticated" (warned, not denied: the policy is in audit mode)');
});

Grouping('grouping :: nothing wrong :: says so', async () => {
  const clean: Record<RbacKind, Item[]> = { ClusterRole: [], Role: [], ClusterRoleBinding: [crb('cluster-admin', 'cluster-admin', subject('Group', 'system:masters'))], RoleBinding: [] };
  const outcome = await runAudit({ listPage: lister(clean), server: 'https://127.0.0.1:6443', policy: policy(), directory: DIRECTORY });
  const text = table(outcome);
  assert.ok(text.includes('\nNo violations.\n'));
  assert.ok(text.includes('\nViolations: none.\n'));
});

Grouping.run();

// --- exempt, notes, summary ------------------------------------------------------------------------------------------

const Rest = suite('audit table :: exempt objects, notes and the summary');

Rest('exempt :: bootstrap, exempt namespace and allow-listed subjects :: each listed under why', async () => {
  const lines = section(table(await audit()), 'Exempt: ');
  assert.is(lines[0], 'Exempt: 2 objects not judged, and 1 binding with allow-listed subjects.');
  assert.equal(lines.slice(1), [
    '  Kubernetes bootstrap binding (kube-apiserver default RBAC): 1',
    '    ClusterRoleBinding cluster-admin',
    "  namespace platform-tools is listed in the policy's allow.namespaces: 1",
    '    RoleBinding platform-tools/tools',
    "  subjects the policy's allow lists permit: 1",
    '    ClusterRoleBinding break-glass: User "break-glass@contoso.com" (allow.users)',
  ]);
});

Rest('exempt :: more than 100 for one reason :: the first 100, then how many more', async () => {
  const many = Array.from({ length: 105 }, (_, index) => rb('platform-tools', `tools-${String(index).padStart(3, '0')}`, 'edit', subject('User', 'x@fabrikam.com')));
  const lines = section(table(await audit({ extra: { RoleBinding: many } })), 'Exempt: ');
  const start = lines.indexOf("  namespace platform-tools is listed in the policy's allow.namespaces: 106");
  assert.ok(start > 0, lines.join('\n'));
  assert.is(lines[start + 101], '    … and 6 more (--output json lists every one)');
});

Rest('notes :: a binding to a role the cluster does not have :: noted with the object', async () => {
  const lines = section(table(await audit()), 'Notes: ');
  assert.is(lines[0], 'Notes: 1');
  assert.match(lines[1]!, /^ {2}RoleBinding payments\/ghost-role: ClusterRole ghost does not exist yet/);
});

Rest('summary :: objects by kind, requests, groups, violations by rule, exempt by reason', async () => {
  const outcome = await audit();
  const lines = table(outcome).trimEnd().split('\n').slice(-4);
  assert.equal(lines, [
    'Scanned 13 objects (3 ClusterRoles, 0 Roles, 4 ClusterRoleBindings, 6 RoleBindings) in 8 list requests; 2 Entra groups looked up.',
    'Objects: 5 with violations, 2 exempt, 6 compliant.',
    'Violations: 6 (6 deny, 0 warn) — user-subject 3, group-unknown 1, cluster-admin 1, broad-group 1.',
    "Exempt: 2 — 1 Kubernetes bootstrap binding (kube-apiserver default RBAC); 1 namespace platform-tools is listed in the policy's allow.namespaces.",
  ]);
  assert.is(outcome.pages, 8, 'pages of 2: ClusterRoles 2, Roles 1 (empty), ClusterRoleBindings 2, RoleBindings 3');
});

Rest('progress :: objects listed per kind after each page, then groups resolved, then done', async () => {
  const events: string[] = [];
  await audit({
    progress: {
      listed: (kind, count) => events.push(`${kind} ${count}`),
      groups: (resolved, total) => events.push(`groups ${resolved}/${total}`),
      done: () => events.push('done'),
    },
  });
  assert.equal(events, ['ClusterRole 2', 'ClusterRole 3', 'Role 0', 'ClusterRoleBinding 2', 'ClusterRoleBinding 4', 'RoleBinding 2', 'RoleBinding 4', 'RoleBinding 6', 'groups 2/2', 'done']);
});

Rest('progress :: the listing fails :: done is still called, so the terminal line is cleared', async () => {
  const events: string[] = [];
  const failing: ListPage = async () => {
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
  };
  const progress: AuditProgress = { listed: () => undefined, groups: () => undefined, done: () => events.push('done') };
  try {
    await runAudit({ listPage: failing, server: 'https://127.0.0.1:1', policy: policy(), directory: DIRECTORY, progress });
    assert.unreachable('the audit should fail');
  } catch (error) {
    assert.match((error as Error).message, /cannot reach the API server at https:\/\/127\.0\.0\.1:1/);
  }
  assert.equal(events, ['done']);
});

Rest.run();
