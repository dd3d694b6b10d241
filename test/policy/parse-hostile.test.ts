/**
 * Policy documents the fault suite's fuzzer (faults/scenarios/01-hostile-input.ts) found to make parsePolicy throw or
 * print: each is now a rejection with a `(yaml)` problem, and nothing reaches the process's stderr.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePolicy, type PolicyProblem } from '../../src/policy/parse.ts';

/** The problems of a document that must be rejected; parsePolicy throwing fails the test with what it threw. */
function rejected(text: string): readonly PolicyProblem[] {
  let result;
  try {
    result = parsePolicy(text);
  } catch (error) {
    return assert.unreachable(`parsePolicy threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`) as never;
  }
  if (result.ok) return assert.unreachable(`expected a rejection of:\n${text.slice(0, 200)}`) as never;
  assert.ok(result.errors.length > 0, 'a rejection names at least one problem');
  return result.errors;
}

const BILLION_LAUGHS = [
  'a: &a ["x","x","x","x","x","x","x","x","x"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
].join('\n');

const Hostile = suite('parsePolicy :: hostile YAML');

const CASES: readonly [name: string, text: string, message: RegExp][] = [
  ['alias bomb (billion laughs)', BILLION_LAUGHS, /aliases|alias count/i],
  ['mapping nested 20,000 deep', `mode: ${'{a: '.repeat(20_000)}x${'}'.repeat(20_000)}\n`, /./],
  ['list nested 20,000 deep', `mode: ${'['.repeat(20_000)}x${']'.repeat(20_000)}\n`, /./],
];

for (const [name, text, message] of CASES) {
  Hostile(`parsePolicy :: ${name} :: rejected with a (yaml) problem, not thrown`, () => {
    const errors = rejected(text);
    assert.ok(errors.some((error) => error.path === '(yaml)' && message.test(error.message)), JSON.stringify(errors).slice(0, 500));
  });
}

Hostile('parsePolicy :: a mapping used as a key :: reported as an unknown field, no process warning', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  process.on('warning', onWarning);
  try {
    const errors = rejected('? {mode: audit}\n: x\n? [a, b]\n: y\n');
    assert.ok(errors.some((error) => /unknown field/.test(error.message)), JSON.stringify(errors));
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings, []);
});

Hostile.run();
