import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Binding, Subject } from '../../src/admission/types.ts';
import type { Decision } from '../../src/policy/decision.ts';
import { evaluate } from '../../src/policy/engine.ts';
import { NO_DIRECTORY } from '../../src/policy/facts.ts';
import { RULE_IDS, type RuleId, type SubjectRef } from '../../src/policy/model.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import { RULES } from '../../src/policy/rules/index.ts';
import { ADMIN_GROUP_ID, GROUP_ID, SECURITY_GROUP, clusterRoleBinding, createReview, directoryFacts, group, policyWith, policyWithRules, roleBinding, user } from '../helpers.ts';
import { RULE_CASES, type Case, type Expected } from './rule-cases.ts';

/**
 * One suite per rule, table-style: each rule has a default case, and every variant spreads it and changes what it
 * needs. Every case goes through the engine (a CREATE by a requester nobody exempts), so the action is the one the
 * policy gives, and a case where the rule must not fire checks that the decision has no violation of that rule.
 */

/** The binding as a message names it, written out here rather than taken from src. */
function bindingText(binding: Binding): string {
  return binding.kind === 'RoleBinding' ? `RoleBinding ${binding.namespace}/${binding.name}` : `ClusterRoleBinding ${binding.name}`;
}

function subjectText(subject: SubjectRef): string {
  return subject.kind === 'ServiceAccount' ? `"${subject.namespace}/${subject.name}"` : `"${subject.name}"`;
}

function ref(subject: Subject): SubjectRef {
  return { kind: subject.kind, name: subject.name, ...(subject.namespace ? { namespace: subject.namespace } : {}) };
}

function outcome(expected: readonly Expected[]): string {
  if (expected.length === 0) return 'not reported';
  return expected.some((entry) => entry.action === 'deny') ? 'denied' : 'warned';
}

function judge(testCase: Pick<Case, 'binding' | 'policy' | 'facts'>): Decision {
  return evaluate(createReview(testCase.binding), testCase.policy, testCase.facts);
}

function ruleSuite(rule: RuleId, cases: readonly Case[]): void {
  const test = suite(rule);
  for (const testCase of cases) {
    test(`${rule} :: ${testCase.name} :: ${outcome(testCase.expected)}`, () => {
      const decision = judge(testCase);
      const mine = decision.violations.filter((violation) => violation.rule === rule);
      assert.equal(
        mine.map(({ rule: id, action, subject }) => ({ rule: id, action, subject })),
        testCase.expected.map(({ action, subject }) => ({ rule, action, subject: ref(subject) })),
        `violations of ${rule}`,
      );
      for (const violation of mine) {
        assert.is(violation.downgradedBecause, undefined, 'nothing downgrades a CREATE by a plain requester in enforce mode');
        assert.ok(violation.message.includes(bindingText(testCase.binding)), `message names the binding: ${violation.message}`);
        assert.ok(violation.message.includes(subjectText(violation.subject)), `message names the subject: ${violation.message}`);
        assert.ok(violation.message.includes(`[${rule}]`), `message names the rule: ${violation.message}`);
        assert.ok(testCase.fix.length > 0, 'a firing case must say which fix its message gives');
        for (const fix of testCase.fix) assert.ok(violation.message.includes(fix), `message gives the fix "${fix}": ${violation.message}`);
      }
      assert.is(decision.allowed, testCase.allowed, 'decision.allowed');
      if (testCase.notes) {
        assert.is(decision.notes.length, testCase.notes.length, `notes: ${JSON.stringify(decision.notes)}`);
        testCase.notes.forEach((text, index) => assert.ok(decision.notes[index]?.includes(text), `note ${index} mentions ${text}`));
      }
    });
  }
  test.run();
}
for (const [rule, cases] of Object.entries(RULE_CASES)) ruleSuite(rule as RuleId, cases);

// ---------------------------------------------------------------- every rule together

const Combined = suite('combined');
const adminGroup = group(ADMIN_GROUP_ID);

Combined('combined :: several bad subjects in one binding :: every violation reported, in RULES order', () => {
  const binding = clusterRoleBinding(
    [
      group('system:masters'),
      group('Payments Team'),
      user('alice@contoso.com'),
      group('system:authenticated'),
      adminGroup,
      user('clusterUser'),
      group(GROUP_ID),
      user('bob@contoso.com'),
    ],
    'cluster-admin',
    { name: 'everything-wrong' },
  );
  const facts = directoryFacts({ [GROUP_ID]: { state: 'not-found' }, [ADMIN_GROUP_ID]: SECURITY_GROUP });
  const decision = evaluate(createReview(binding), policyWith(), facts);
  assert.not.ok(decision.allowed);
  assert.equal(
    decision.violations.map((violation) => `${violation.rule} ${violation.action} ${violation.subject.kind} ${violation.subject.name}`),
    [
      'user-subject deny User alice@contoso.com',
      'user-subject deny User bob@contoso.com',
      'group-format deny Group Payments Team',
      `group-unknown deny Group ${GROUP_ID}`,
      'cluster-admin deny Group system:masters',
      'cluster-admin deny Group Payments Team',
      'cluster-admin deny User alice@contoso.com',
      'cluster-admin deny Group system:authenticated',
      'cluster-admin deny User clusterUser',
      `cluster-admin deny Group ${GROUP_ID}`,
      'cluster-admin deny User bob@contoso.com',
      'broad-group deny Group system:authenticated',
      'local-account deny Group system:masters',
      'local-account deny User clusterUser',
    ],
  );
  for (const violation of decision.violations) {
    assert.ok(violation.message.includes('ClusterRoleBinding everything-wrong'), violation.message);
    assert.ok(violation.message.includes(`[${violation.rule}]`), violation.message);
  }
});

Combined('combined :: mixed actions :: warn rules do not deny, deny rules still do', () => {
  const binding = roleBinding([user('alice@contoso.com'), group('Payments Team')]);
  const decision = evaluate(createReview(binding), policyWithRules({ 'user-subject': 'warn' }), NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(
    decision.violations.map((violation) => `${violation.rule} ${violation.action}`),
    ['user-subject warn', 'group-format deny'],
  );
});

Combined.run();

// ---------------------------------------------------------------- the rule list itself

const Registry = suite('RULES');

Registry('RULES :: ids :: equal RULE_IDS in order', () => {
  assert.equal(
    RULES.map((rule) => rule.id),
    [...RULE_IDS],
  );
});

Registry('RULES :: defaultAction :: equals DEFAULT_POLICY.rules for each rule', () => {
  assert.is(RULES.length, RULE_IDS.length);
  for (const rule of RULES) {
    assert.is(rule.defaultAction, DEFAULT_POLICY.rules[rule.id], `${rule.id} defaultAction`);
  }
});

Registry.run();
