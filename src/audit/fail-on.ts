import type { CheckedObject } from '../check/judge.ts';
import type { Violation } from '../policy/decision.ts';

/** `audit --fail-on`: the lowest level of violation that makes the audit exit 1. */
export const FAIL_ON_LEVELS = ['deny', 'warn', 'never'] as const;
export type FailOn = (typeof FAIL_ON_LEVELS)[number];
export const DEFAULT_FAIL_ON: FailOn = 'deny';

export function isFailOn(value: string): value is FailOn {
  return (FAIL_ON_LEVELS as readonly string[]).includes(value);
}

/**
 * What the violation would do were the policy enforced: its rule's action. An audit asks what is wrong in the
 * cluster, so a deny rule's violation counts as deny even when audit mode lowered it to a warning (`downgradedBecause`;
 * with no requester and no old object, audit mode is the only thing that lowers it in an audit).
 */
export function enforcedAction(violation: Violation): 'deny' | 'warn' {
  return violation.downgradedBecause ? 'deny' : violation.action;
}

/** True when some violation is at or above `failOn`: deny counts deny violations, warn counts every violation. */
export function failsAudit(checked: readonly CheckedObject[], failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  return checked.some(({ decision }) => decision.violations.some((violation) => failOn === 'warn' || enforcedAction(violation) === 'deny'));
}
