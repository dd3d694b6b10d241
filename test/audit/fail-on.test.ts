import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { enforcedAction, failsAudit, isFailOn, type FailOn } from '../../src/audit/fail-on.ts';
import type { CheckedObject } from '../../src/check/judge.ts';
import type { Violation } from '../../src/policy/decision.ts';

// --- helpers ---------------------------------------------------------------------------------------------------------

const DENY: Violation = { rule: 'user-subject', action: 'deny', subject: { kind: 'User', name: 'carol@fabrikam.com' }, message: 'm' };
const WARN: Violation = { ...DENY, rule: 'directory-unavailable', action: 'warn' };
/** A deny rule's violation under a policy in audit mode. */
const AUDIT_MODE_DENY: Violation = { ...DENY, action: 'warn', downgradedBecause: 'the policy is in audit mode' };

function checked(...violations: Violation[]): CheckedObject {
  return {
    source: 'cluster',
    object: { kind: 'RoleBinding', namespace: 'payments', name: 'carol-admin' },
    decision: { allowed: !violations.some((violation) => violation.action === 'deny'), violations, notes: [] },
  };
}

const CLEAN = checked();
const EXEMPT: CheckedObject = { ...CLEAN, decision: { allowed: true, violations: [], notes: [], exemption: 'Kubernetes bootstrap binding' } };

// --- the table -------------------------------------------------------------------------------------------------------

const FailOnSuite = suite('fail-on');

const CASES: { name: string; objects: CheckedObject[]; expected: Record<FailOn, boolean> }[] = [
  { name: 'nothing at all', objects: [], expected: { deny: false, warn: false, never: false } },
  { name: 'compliant and exempt objects', objects: [CLEAN, EXEMPT], expected: { deny: false, warn: false, never: false } },
  { name: 'a deny violation', objects: [CLEAN, checked(DENY)], expected: { deny: true, warn: true, never: false } },
  { name: 'a warn violation only', objects: [checked(WARN)], expected: { deny: false, warn: true, never: false } },
  { name: 'a deny rule lowered to warn by audit mode', objects: [checked(AUDIT_MODE_DENY)], expected: { deny: true, warn: true, never: false } },
  { name: 'warn and deny on one object', objects: [checked(WARN, DENY)], expected: { deny: true, warn: true, never: false } },
];

for (const { name, objects, expected } of CASES) {
  for (const level of ['deny', 'warn', 'never'] as const) {
    FailOnSuite(`fail-on ${level} :: ${name} :: ${expected[level] ? 'fails (exit 1)' : 'passes (exit 0)'}`, () => {
      assert.is(failsAudit(objects, level), expected[level]);
    });
  }
}

FailOnSuite('enforcedAction :: deny, warn, and deny lowered by audit mode', () => {
  assert.is(enforcedAction(DENY), 'deny');
  assert.is(enforcedAction(WARN), 'warn');
  assert.is(enforcedAction(AUDIT_MODE_DENY), 'deny');
});

FailOnSuite('isFailOn :: the three levels, nothing else', () => {
  assert.equal(['deny', 'warn', 'never', 'error', 'Deny', ''].map(isFailOn), [true, true, true, false, false, false]);
});

FailOnSuite.run();
