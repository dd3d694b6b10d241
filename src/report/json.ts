import type { CheckOutcome } from '../check/run-check.ts';
import { summarize } from './summary.ts';

/** The machine-readable result of `check` (and later `audit`): scripts rely on this shape. */
export function jsonReport(outcome: CheckOutcome): string {
  const results = outcome.checked.map(({ source, object, decision }) => ({
    kind: object.kind,
    namespace: object.namespace,
    name: object.name,
    source,
    allowed: decision.allowed,
    violations: decision.violations.map(({ rule, action, subject, message, via, expiredExemption }) => ({
      rule,
      action,
      subject,
      message,
      ...(via ? { via } : {}),
      ...(expiredExemption ? { expiredExemption } : {}),
    })),
    ...(decision.notes.length > 0 ? { notes: decision.notes } : {}),
    ...(decision.exemption ? { exemption: decision.exemption } : {}),
    ...(decision.timeBoxedExemptions ? { breakGlass: decision.timeBoxedExemptions } : {}),
  }));
  return `${JSON.stringify({ results, summary: summarize(outcome) }, null, 2)}\n`;
}
