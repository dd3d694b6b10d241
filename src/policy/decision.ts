import type { AllowList, RuleId, SubjectRef } from './model.ts';
import { subjectKey } from './subjects.ts';

/** A time-boxed allow-list entry as decisions name it. */
export interface TimeBoxedExemption {
  readonly list: AllowList;
  readonly name: string;
  readonly expires: string;
  readonly reason?: string;
}

export interface Violation {
  readonly rule: RuleId;
  /** The effective action: what the policy says, lowered to warn by audit mode, an exempt requester or a pre-existing violation. */
  readonly action: 'deny' | 'warn';
  readonly subject: SubjectRef;
  readonly message: string;
  /** Why a violation the policy would deny is only a warning here. */
  readonly downgradedBecause?: string;
  /** For a Role or ClusterRole under review: the binding through which the subject holds it (`ClusterRoleBinding x`). */
  readonly via?: string;
  /** The namespace of that binding, when it is a RoleBinding: what an allow.namespaces entry is matched against. */
  readonly viaNamespace?: string;
  /** The time-boxed allow-list entry that would exempt this violation, had it not expired: a leftover break-glass grant. */
  readonly expiredExemption?: TimeBoxedExemption;
}

export interface Decision {
  readonly allowed: boolean;
  readonly violations: readonly Violation[];
  /** Warnings that are not violations, e.g. that no directory checked the groups. */
  readonly notes: readonly string[];
  /** Set when the object was not judged, or allowed regardless: which exemption applied and where it is configured. */
  readonly exemption?: string;
  /** Time-boxed allow-list entries without which this decision would be stricter: each is named in a warning. */
  readonly timeBoxedExemptions?: readonly TimeBoxedExemption[];
  /** Groups judged on a cached answer because the directory could not answer now (stale-if-error), with why. */
  readonly staleGroups?: readonly { readonly id: string; readonly reason: string }[];
}

export function allow(notes: readonly string[] = [], exemption?: string): Decision {
  return { allowed: true, violations: [], notes, ...(exemption ? { exemption } : {}) };
}

export function deniedViolations(decision: Decision): Violation[] {
  return decision.violations.filter((violation) => violation.action === 'deny');
}

/** One violation's identity across two judgements (before and after an UPDATE, with and without an entry): rule, subject, and the binding it came through. */
export function violationKey(violation: Violation): string {
  return `${violation.rule} ${subjectKey(violation.subject)} ${violation.via ?? ''}`;
}
