/**
 * `serve` shutting down as Kubernetes ends it (the real CLI, bin/entra-rbac-guard: `make build` first): on SIGTERM
 * /readyz drops to 503 at once, reviews are still answered with `Connection: close` during --drain-period, and the
 * process exits 0 after it. Then the flags' validation.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RECORDED_REVIEWS } from '../helpers.ts';
import { call, logLines, runCli, servingAt, startCli, stopCli, waitForLine } from './spawn-cli.ts';

const REVIEW = readFileSync(`${RECORDED_REVIEWS}02-CREATE-RoleBinding-carol-admin.json`, 'utf8');

const Serve = suite('serve :: SIGTERM drain');

Serve('SIGTERM :: /readyz 503 at once, reviews answered with Connection: close during --drain-period, then exit 0', async () => {
  const started = startCli(['serve', '--port', '0', '--drain-period', '3s', '--log-level', 'info'], { ...process.env });
  let caDir: string | undefined;
  try {
    const serving = await servingAt(started);
    caDir = serving.caDir;
    const { ca, validate } = serving;
    const readyz = validate.replace(/\/validate$/, '/readyz');
    assert.is((await call(readyz, ca, 'GET')).status, 200);

    const exited = started.exited;
    started.child.kill('SIGTERM');
    await waitForLine(started, (line) => line['signal'] === 'SIGTERM');
    const ready = await call(readyz, ca, 'GET');
    assert.is(ready.status, 503, ready.body);
    assert.is(JSON.parse(ready.body)['draining'], true);
    const review = await call(validate, ca, 'POST', REVIEW);
    assert.is(review.status, 200, review.body);
    assert.is(JSON.parse(review.body)['response']['allowed'], false);
    assert.is(review.connection, 'close');
    assert.is(started.child.exitCode, null, 'still running during the drain');

    const { code, signal } = await exited;
    assert.is(code, 0, `exit ${code} ${signal}: ${started.stderr()}`);
    const messages = logLines(started).map((line) => String(line.msg));
    assert.ok(messages.some((msg) => /still answering reviews for 3000 ms/.test(msg)), messages.join('\n'));
    assert.ok(messages.some((msg) => /drain over/.test(msg)), messages.join('\n'));
    assert.is(started.stderr(), '');
  } finally {
    await stopCli(started);
    if (caDir) await rm(caDir, { recursive: true, force: true });
  }
});

const BAD_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['--drain-period', 'ten'],
  ['--shed-lag', '1 second'],
];
for (const [flag, value] of BAD_FLAGS) {
  Serve(`${flag} ${value} :: exit 2 naming the flag, before listening`, async () => {
    const ran = await runCli(['serve', '--port', '0', flag, value], { ...process.env });
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, new RegExp(`${flag}.*"${value}" is not a duration`));
  });
}

Serve.run();
