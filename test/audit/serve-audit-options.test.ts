/**
 * `serve --audit-interval` and `--audit-write-reports` as users type them: bin/entra-rbac-guard (dist/, so
 * `make build` first) with a clean environment (HOME an empty dir: no ~/.kube/config, no pod service account). Each
 * mistake is exit 2 with a message naming it, before anything listens; a child that does not end is killed.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../cli/spawn-cli.ts';

interface Context {
  dir: string;
  env: NodeJS.ProcessEnv;
}

const Options = suite<Context>('serve :: --audit-interval, --audit-write-reports', {} as Context);

Options.before((context) => {
  context.dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-audit-options-'));
  const home = join(context.dir, 'home');
  mkdirSync(home);
  context.env = { PATH: process.env['PATH'], HOME: home };
});

Options.after((context) => rmSync(context.dir, { recursive: true, force: true }));

for (const [name, args, extraEnv, message] of [
  [
    'no cluster to audit',
    ['serve', '--audit-interval', '5m'],
    {},
    '--audit-interval audits the RBAC objects of a cluster, and no cluster configuration found',
  ],
  [
    'no cluster, set through the environment',
    ['serve'],
    { ENTRA_RBAC_GUARD_AUDIT_INTERVAL: '5m' },
    '--audit-interval audits the RBAC objects of a cluster',
  ],
  ['not a duration', ['serve', '--audit-interval', '5 minutes'], {}, '--audit-interval: "5 minutes" is not a duration: write it like 500ms, 30s, 10m or 1h'],
  ['below a second', ['serve', '--audit-interval', '100ms'], {}, '--audit-interval must be at least 1s'],
  ['reports without an interval', ['serve', '--audit-write-reports'], {}, '--audit-write-reports goes with --audit-interval DURATION'],
  ['a report API that does not exist', ['serve', '--audit-interval', '5m', '--audit-write-reports', '--audit-reports-api', 'policyreports'], {}, '--audit-reports-api must be one of wgpolicyk8s, openreports, got "policyreports"'],
  ['a report API without writing reports', ['serve', '--audit-interval', '5m', '--audit-reports-api', 'openreports'], {}, '--audit-reports-api goes with --audit-write-reports'],
] as const) {
  Options(`${name} :: exit 2, saying what to fix`, async ({ env }) => {
    const ran = await runCli(args, { ...env, ...extraEnv }, { timeoutMs: 20_000 });
    assert.is(ran.code, 2, `exit code; stderr: ${ran.stderr}`);
    assert.match(ran.stderr, message);
    assert.not.match(ran.stderr, '    at ', 'no stack trace');
  });
}

Options('usage :: the serve section names both options', async ({ env }) => {
  const ran = await runCli(['help'], env);
  assert.is(ran.code, 0);
  assert.match(ran.stdout, '[--audit-interval DURATION [--audit-write-reports]]');
});

Options.run();
