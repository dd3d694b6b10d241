import type { CheckOutcome } from '../check/run-check.ts';
import { RULE_IDS, type RuleId } from '../policy/model.ts';

export interface Summary {
  readonly objects: number;
  readonly checked: number;
  readonly skipped: number;
  readonly allowed: number;
  readonly denied: number;
  readonly exempt: number;
  readonly violations: { readonly deny: number; readonly warn: number };
  readonly byRule: Readonly<Partial<Record<RuleId, number>>>;
  /** Violations a break-glass allow-list entry exempted until it expired. */
  readonly expiredExemptions: number;
}

export function summarize(outcome: CheckOutcome): Summary {
  const violations = outcome.checked.flatMap((entry) => entry.decision.violations);
  const byRule: Partial<Record<RuleId, number>> = {};
  for (const rule of RULE_IDS) {
    const count = violations.filter((violation) => violation.rule === rule).length;
    if (count > 0) byRule[rule] = count;
  }
  const denied = outcome.checked.filter((entry) => !entry.decision.allowed).length;
  return {
    objects: outcome.checked.length + outcome.skipped,
    checked: outcome.checked.length,
    skipped: outcome.skipped,
    allowed: outcome.checked.length - denied,
    denied,
    exempt: outcome.checked.filter((entry) => entry.decision.exemption !== undefined).length,
    violations: {
      deny: violations.filter((violation) => violation.action === 'deny').length,
      warn: violations.filter((violation) => violation.action === 'warn').length,
    },
    byRule,
    expiredExemptions: violations.filter((violation) => violation.expiredExemption !== undefined).length,
  };
}
