/** The agreement figure, gathered over every input the backstop's tests judge, printed by the last suite. */
import type { Comparison } from './compare.ts';

export const tally = { inputs: 0, agree: 0, stricter: 0, denied: 0, updates: 0, lenient: new Map<string, number>() };

export function record(comparison: Comparison): void {
  tally.inputs += 1;
  if (comparison.agree) tally.agree += 1;
  if (comparison.denied) tally.denied += 1;
  if (comparison.operation === 'UPDATE') tally.updates += 1;
  if (comparison.problems.some((problem) => problem.startsWith('stricter'))) tally.stricter += 1;
  if (comparison.lenient) tally.lenient.set(comparison.lenient, (tally.lenient.get(comparison.lenient) ?? 0) + 1);
}

export function describeTally(): string {
  const percent = ((100 * tally.agree) / tally.inputs).toFixed(2);
  const lenient = [...tally.lenient].map(([why, count]) => `${count} ${why}`).join(', ') || 'none';
  const leniencies = [...tally.lenient.values()].reduce((sum, count) => sum + count, 0);
  return (
    `backstop agreement: ${tally.agree} of ${tally.inputs} inputs (${percent}%) get the webhook's verdict (denied or not, by the same rules); ` +
    `${tally.stricter} stricter; more lenient by design: ${lenient}; ` +
    `where no leniency applies: ${tally.agree} of ${tally.inputs - leniencies} (${((100 * tally.agree) / (tally.inputs - leniencies)).toFixed(2)}%)`
  );
}
