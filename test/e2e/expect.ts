import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { WEBHOOK_NAME } from './harness.ts';

/** What kubectl and helm runs give back. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function show(result: CommandResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

export function expectOk<T extends CommandResult>(result: T, what: string): T {
  assert.is(result.code, 0, `${what} should succeed:\n${show(result)}`);
  return result;
}

/** Denied by our webhook (not by RBAC, not by a failed call), with the rule's tag and every given text in the message. */
export function expectDeniedBy(result: CommandResult, rule: string, ...texts: string[]): void {
  expectDeniedByWebhook(WEBHOOK_NAME, result, rule, ...texts);
}

/** Denied by the webhook named `webhookName` in its configuration, as expectDeniedBy. */
export function expectDeniedByWebhook(webhookName: string, result: CommandResult, rule: string, ...texts: string[]): void {
  assert.is.not(result.code, 0, `should be denied:\n${show(result)}`);
  assert.ok(result.stderr.includes(`admission webhook "${webhookName}" denied the request`), `not denied by our webhook:\n${show(result)}`);
  assert.ok(result.stderr.includes(`[${rule}]`), `no [${rule}] in the denial:\n${show(result)}`);
  for (const text of texts) assert.ok(result.stderr.includes(text), `"${text}" missing from the denial:\n${show(result)}`);
}

export interface SetupState {
  setupError?: Error;
  setupErrorReported?: boolean;
}

/**
 * uvu 0.5.6 drops an error thrown in a `before` hook and reports the run as passed, so setup stores its error and
 * every test fails instead: the first with the whole reason, the others pointing at it.
 */
export function failEveryTestOnSetupError<T extends SetupState>(tests: Test<T>): void {
  tests.before.each((context) => {
    if (!context.setupError) return;
    if (context.setupErrorReported) throw new Error('the e2e harness did not start: see the first failure');
    context.setupErrorReported = true;
    throw context.setupError;
  });
}

export interface E2eHooks<T> {
  /** Starts what the suite needs; returns what came up, for the line that says how long it took. */
  setup(context: T): Promise<string>;
  /** Stops it all; runs after a failed setup too, so it must cope with a half-filled context. */
  teardown(context: T): Promise<void>;
}

/** An end-to-end suite: setup whose failure fails every test (see failEveryTestOnSetupError), timed; teardown after. */
export function e2eSuite<T extends SetupState>(name: string, hooks: E2eHooks<T>): Test<T> {
  const tests = suite<T>(name, {} as T);
  tests.before(async (context) => {
    const started = Date.now();
    try {
      const what = await hooks.setup(context);
      process.stderr.write(`  (${what} in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    } catch (error) {
      context.setupError = error instanceof Error ? error : new Error(String(error));
    }
  });
  failEveryTestOnSetupError(tests);
  tests.after((context) => hooks.teardown(context));
  return tests;
}

/** Polls `check` every 100 ms until it gives a value, failing the test after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.unreachable(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
