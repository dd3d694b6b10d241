import type { CheckOutcome } from '../check/run-check.ts';
import { summarize } from './summary.ts';

/** The machine-readable result of `check` (and later `audit`): scripts rely on this shape. */
export function jsonReport(outcome: CheckOutcome): string {
  const results = outcome.checked.map(({ source, binding, decision }) => ({
    kind: binding.kind,
    namespace: binding.namespace,
    name: binding.name,
    source,
    allowed: decision.allowed,
    violations: decision.violations.map(({ rule, action, subject, message }) => ({ rule, action, subject, message })),
    ...(decision.notes.length > 0 ? { notes: decision.notes } : {}),
    ...(decision.exemption ? { exemption: decision.exemption } : {}),
  }));
  return `${JSON.stringify({ results, summary: summarize(outcome) }, null, 2)}\n`;
}
