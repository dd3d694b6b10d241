/**
 * Break-glass allow-list entries that expire (`{name, expires, reason}`): read from YAML, weighed by the pure engine
 * with the clock in the facts, named in every decision they change before they expire, and flagged on every
 * violation they would have exempted after.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeDecision } from '../../src/admission/encode.ts';
import type { Decision } from '../../src/policy/decision.ts';
import { evaluate } from '../../src/policy/engine.ts';
import { NO_DIRECTORY, type Facts } from '../../src/policy/facts.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import type { Policy } from '../../src/policy/model.ts';
import { formatProblems, parsePolicy } from '../../src/policy/parse.ts';
import { expiredWarnings } from '../../src/policy/time-boxed.ts';
import { ADMIN_GROUP_ID, GROUP_ID, clusterRoleBinding, createReview, directoryFacts, group, roleBinding, SECURITY_GROUP, serviceAccount, user } from '../helpers.ts';

const EXPIRES = '2026-12-08T18:00:00Z';
const BEFORE = Date.parse('2026-12-08T17:59:59Z');
const AFTER = Date.parse('2026-12-08T18:00:00Z');

function policyOf(allowYaml: string, extra = ''): Policy {
  const result = parsePolicy(`adminGroups: [${ADMIN_GROUP_ID}]\ndirectory: {verify: false}\n${extra}allow:\n${allowYaml}`);
  if (!result.ok) assert.unreachable(formatProblems(result.errors));
  return (result as { policy: Policy }).policy;
}

function problemsOf(allowYaml: string): string {
  const result = parsePolicy(`allow:\n${allowYaml}`);
  if (result.ok) assert.unreachable('expected the policy to be rejected');
  return formatProblems((result as { errors: readonly { path: string; message: string }[] }).errors);
}

const at = (now: number | undefined, facts: Facts = NO_DIRECTORY): Facts => (now === undefined ? facts : { ...facts, now });
const rulesOf = (decision: Decision) => decision.violations.map((violation) => `${violation.rule}:${violation.action}`);

// --- reading -------------------------------------------------------------------------------------------------------

const Read = suite('time-boxed entries :: read from the policy');

Read('every allow-list takes {name, expires, reason} beside plain entries; the value lands in its list', () => {
  const policy = policyOf(`  users: [permanent@contoso.com, {name: alice@contoso.com, expires: "${EXPIRES}", reason: INC-4711}]
  groups: [{name: oidc:ops, expires: "${EXPIRES}"}]
  clusterAdminSubjects: [{kind: User, name: alice@contoso.com, expires: "${EXPIRES}", reason: INC-4711}]
  namespaces: [{name: sandbox, reason: "permanent, documented"}]
  requesters: {usernames: [{name: deployer, expires: "${EXPIRES}"}], groups: [{name: ${GROUP_ID}, expires: "2026-12-08T19:00:00+01:00"}]}
`);
  assert.equal(policy.allow.users, ['permanent@contoso.com', 'alice@contoso.com']);
  assert.equal(policy.allow.namespaces, ['sandbox']);
  assert.equal(policy.allow.requesters.groups, [GROUP_ID]);
  assert.equal(
    policy.timeBoxed.map((entry) => [entry.list, entry.index, entry.name, entry.expiresAtMs, entry.reason]),
    [
      ['allow.users', 1, 'alice@contoso.com', AFTER, 'INC-4711'],
      ['allow.groups', 0, 'oidc:ops', AFTER, undefined],
      ['allow.clusterAdminSubjects', 0, 'alice@contoso.com', AFTER, 'INC-4711'],
      ['allow.requesters.usernames', 0, 'deployer', AFTER, undefined],
      ['allow.requesters.groups', 0, GROUP_ID, AFTER, undefined],
    ],
    'a reason without expires is documentation: the entry never expires',
  );
});

for (const [what, value] of [
  ['a date without a time', '"2026-12-08"'],
  ['a time without an offset', '"2026-12-08T18:00:00"'],
  ['words', 'tomorrow'],
  ['a number', '1796752800'],
] as const) {
  Read(`expires as ${what} :: rejected with the path and the form it takes`, () => {
    const problems = problemsOf(`  users: [{name: alice@contoso.com, expires: ${value}}]\n`);
    assert.match(problems, 'allow.users[0].expires: must be an RFC 3339 time with its offset, like "2026-12-08T18:00:00Z"');
  });
}

Read('an unknown field in an entry, or an entry without a name :: rejected, naming the known fields', () => {
  assert.match(problemsOf(`  users: [{name: alice@contoso.com, expiry: "${EXPIRES}"}]\n`), 'allow.users[0].expiry: unknown field (did you mean expires?)');
  assert.match(problemsOf(`  namespaces: [{expires: "${EXPIRES}"}]\n`), 'allow.namespaces[0].name: must be a non-empty string');
});

Read('a policy whose entries all lie in the past :: valid; each expired entry is a warning that says what to do', () => {
  const policy = policyOf(`  users: [{name: alice@contoso.com, expires: "2020-01-01T00:00:00Z", reason: INC-1}]\n`);
  const warnings = expiredWarnings(policy, AFTER);
  assert.equal(warnings.map((warning) => warning.path), ['allow.users[0]']);
  assert.match(warnings[0]!.message, '"alice@contoso.com" (INC-1) expired at 2020-01-01T00:00:00Z and exempts nothing now: remove it');
  assert.equal(expiredWarnings(policyOf(`  users: [{name: alice@contoso.com, expires: "${EXPIRES}"}]\n`), BEFORE), []);
});

Read.run();

// --- judging -------------------------------------------------------------------------------------------------------

const Judge = suite('time-boxed entries :: judged at the time in the facts');

const ALICE_UNTIL = `  users: [{name: alice@contoso.com, expires: "${EXPIRES}", reason: INC-4711}]\n`;
const aliceBinding = createReview(roleBinding([user('alice@contoso.com')]));

Judge('allow.users before it expires :: allowed, with a warning naming the entry, its reason, its expiry and what happens after', () => {
  const decision = evaluate(aliceBinding, policyOf(ALICE_UNTIL), at(BEFORE));
  assert.is(decision.allowed, true);
  assert.equal(decision.violations, []);
  assert.equal(decision.notes, [
    'Allowed by the break-glass entry allow.users "alice@contoso.com" (INC-4711) until 2026-12-08T18:00:00Z; once it expires: ' +
      'RoleBinding retail-app/alice-edit binds User "alice@contoso.com" directly [user-subject]: bind a Microsoft Entra group by object ID instead (workloads: a ServiceAccount)',
  ]);
  assert.is(decision.exemption, 'break-glass allow.users "alice@contoso.com" (INC-4711) until 2026-12-08T18:00:00Z');
  const encoded = encodeDecision('uid-1', 'admission.k8s.io/v1', decision).response;
  assert.equal(encoded.auditAnnotations?.['break-glass'], 'allow.users "alice@contoso.com" (INC-4711) until 2026-12-08T18:00:00Z');
  assert.ok(encoded.warnings?.some((warning) => warning.includes('break-glass entry allow.users "alice@contoso.com"')));
});

Judge('allow.users at and after the expiry :: denied as if the entry were not there, the message naming the expired entry', () => {
  for (const now of [AFTER, AFTER + 86_400_000]) {
    const decision = evaluate(aliceBinding, policyOf(ALICE_UNTIL), at(now));
    assert.is(decision.allowed, false);
    assert.equal(rulesOf(decision), ['user-subject:deny']);
    assert.match(decision.violations[0]!.message, '(the break-glass entry allow.users "alice@contoso.com" (INC-4711) expired at 2026-12-08T18:00:00Z: remove the grant');
    assert.equal(decision.violations[0]!.expiredExemption, { list: 'allow.users', name: 'alice@contoso.com', expires: EXPIRES, reason: 'INC-4711' });
    assert.is(decision.exemption, undefined);
  }
});

Judge('no clock in the facts :: a time-boxed entry counts as expired (a front door that forgets the time never extends a grant)', () => {
  assert.is(evaluate(aliceBinding, policyOf(ALICE_UNTIL), NO_DIRECTORY).allowed, false);
});

Judge('a permanent entry of the same name stays when the time-boxed one expires', () => {
  const policy = policyOf(`  users: [alice@contoso.com, {name: alice@contoso.com, expires: "${EXPIRES}"}]\n`);
  const decision = evaluate(aliceBinding, policy, at(AFTER));
  assert.is(decision.allowed, true);
  assert.equal(decision.violations, []);
  assert.equal(decision.notes, [], 'the permanent entry exempts: the time-boxed one changed nothing');
});

Judge('an entry that exempts nothing in this review :: no note, no annotation', () => {
  const decision = evaluate(createReview(roleBinding([group(GROUP_ID)])), policyOf(ALICE_UNTIL), at(BEFORE));
  assert.equal([decision.allowed, decision.notes, decision.timeBoxedExemptions], [true, [], undefined]);
});

const CASES: ReadonlyArray<{ name: string; allow: string; review: ReturnType<typeof createReview>; after: string[] }> = [
  {
    name: 'allow.clusterAdminSubjects: a user holding cluster-admin',
    allow: `  users: [alice@contoso.com]\n  clusterAdminSubjects: [{kind: User, name: alice@contoso.com, expires: "${EXPIRES}", reason: INC-4711}]\n`,
    review: createReview(clusterRoleBinding([user('alice@contoso.com')], 'cluster-admin')),
    after: ['cluster-admin:deny'],
  },
  {
    name: 'allow.clusterAdminSubjects: a ServiceAccount',
    allow: `  clusterAdminSubjects: [{kind: ServiceAccount, name: velero, namespace: velero, expires: "${EXPIRES}"}]\n`,
    review: createReview(clusterRoleBinding([serviceAccount('velero', 'velero')], 'cluster-admin')),
    after: ['cluster-admin:deny'],
  },
  {
    name: 'allow.groups: a non-Entra group name',
    allow: `  groups: [{name: oidc:ops, expires: "${EXPIRES}"}]\n`,
    review: createReview(roleBinding([group('oidc:ops')])),
    after: ['group-format:deny'],
  },
  {
    name: 'allow.namespaces',
    allow: `  namespaces: [{name: retail-app, expires: "${EXPIRES}", reason: migration}]\n`,
    review: aliceBinding,
    after: ['user-subject:deny'],
  },
  {
    name: 'allow.requesters.usernames (deny becomes warn)',
    allow: `  requesters: {usernames: [{name: dev@contoso.com, expires: "${EXPIRES}"}]}\n`,
    review: aliceBinding,
    after: ['user-subject:deny'],
  },
  {
    name: 'allow.requesters.groups (deny becomes warn)',
    allow: `  requesters: {groups: [{name: ${GROUP_ID}, expires: "${EXPIRES}"}]}\n`,
    review: aliceBinding,
    after: ['user-subject:deny'],
  },
];

for (const testCase of CASES) {
  Judge(`${testCase.name} :: allowed and named before the expiry; denied and flagged after`, () => {
    const policy = policyOf(testCase.allow);
    const before = evaluate(testCase.review, policy, at(BEFORE));
    assert.is(before.allowed, true, JSON.stringify(before));
    assert.is(before.timeBoxedExemptions?.length, 1, JSON.stringify(before));
    assert.ok(before.notes.some((note) => note.startsWith('Allowed by the break-glass entry allow.')), before.notes.join('\n'));
    const after = evaluate(testCase.review, policy, at(AFTER));
    assert.equal(rulesOf(after), testCase.after);
    assert.ok(after.violations[0]!.expiredExemption, 'the violation names the entry that expired');
    assert.is(after.allowed, false);
  });
}

Judge('two entries for one subject (allow.users and allow.clusterAdminSubjects) :: each named for the rule it exempts', () => {
  const policy = policyOf(`${ALICE_UNTIL}  clusterAdminSubjects: [{kind: User, name: alice@contoso.com, expires: "${EXPIRES}", reason: INC-4711}]\n`);
  const review = createReview(clusterRoleBinding([user('alice@contoso.com')], 'cluster-admin'));
  const before = evaluate(review, policy, at(BEFORE));
  assert.equal(before.notes.map((note) => /entry (\S+) .*\[([a-z-]+)\]/.exec(note)?.slice(1)), [
    ['allow.users', 'user-subject'],
    ['allow.clusterAdminSubjects', 'cluster-admin'],
  ]);
  const after = evaluate(review, policy, at(AFTER));
  assert.equal(after.violations.map((violation) => [violation.rule, violation.expiredExemption?.list]), [
    ['user-subject', 'allow.users'],
    ['cluster-admin', 'allow.clusterAdminSubjects'],
  ]);
});

Judge('the facts needed do not depend on the clock: a namespace entry that will expire still has its groups looked up', () => {
  const policy = policyOf(`  namespaces: [{name: retail-app, expires: "${EXPIRES}"}]\n`, '');
  const verifying: Policy = { ...policy, directory: { ...policy.directory, verify: true } };
  const review = createReview(roleBinding([group(GROUP_ID)]));
  assert.equal(factsNeeded(review, verifying).groupIds, [GROUP_ID]);
  const after = evaluate(review, verifying, at(AFTER, directoryFacts({ [GROUP_ID]: SECURITY_GROUP })));
  assert.equal([after.allowed, after.violations], [true, []], 'judged on the looked-up group, not "not looked up"');
});

Judge.run();
