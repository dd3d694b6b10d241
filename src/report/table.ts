import { warningText } from '../admission/encode.ts';
import type { CheckOutcome } from '../check/run-check.ts';
import { describeObject } from '../policy/subjects.ts';
import { summarize } from './summary.ts';

/** The report for people: each object with its verdict, one line per violation, then a summary line. */
export function tableReport(outcome: CheckOutcome): string {
  const lines: string[] = [];
  for (const { source, object, decision } of outcome.checked) {
    const verdict = !decision.allowed ? 'DENIED' : decision.violations.length > 0 ? 'WARN' : decision.exemption ? 'EXEMPT' : 'ok';
    lines.push(`${verdict.padEnd(7)}${describeObject(object)}  (${source})`);
    for (const violation of decision.violations) {
      lines.push(`  ${violation.action.padEnd(5)}${warningText(violation)}`);
    }
    for (const note of decision.notes) lines.push(`  note ${note}`);
    if (decision.exemption) lines.push(`  exempt: ${decision.exemption}`);
  }
  const summary = summarize(outcome);
  const roles = outcome.checked.filter((entry) => entry.role).length;
  const rules = Object.entries(summary.byRule).map(([rule, count]) => `${rule} ${count}`);
  lines.push(
    '',
    `${summary.checked - roles} RBAC bindings${roles > 0 ? ` and ${roles} roles` : ''} checked: ${summary.denied} denied, ${summary.allowed} allowed` +
      ` (${summary.exempt} exempt); ${summary.skipped} other objects skipped.` +
      (rules.length > 0 ? ` Violations by rule: ${rules.join(', ')}.` : ' No violations.'),
  );
  return `${lines.join('\n')}\n`;
}
