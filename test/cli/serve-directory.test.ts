/**
 * `serve` (the real CLI: `make build` first) with a policy that verifies groups and nothing to verify them with: the
 * directory is unavailable, never skipped. Decisions follow directory.onError and name what is missing, the start-up
 * log says so once, /readyz and /metrics report it. A snapshot, or `directory.verify: false`, serve as before.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP_ID, RECORDED_REVIEWS } from '../helpers.ts';
import { call, logLines, ROOT, servingAt, startCli, stopCli, type LogLine } from './spawn-cli.ts';

const GROUP_REVIEW = readFileSync(`${RECORDED_REVIEWS}01-CREATE-RoleBinding-payments-viewers.json`, 'utf8');
const SNAPSHOT = join(ROOT, 'examples', 'directory-snapshot.yaml');

const Serve = suite('serve :: a policy that verifies groups, with or without a directory');

interface Served {
  readonly decision: Record<string, any>;
  readonly readyz: { status: number; body: Record<string, any> };
  readonly directoryConfigured: string | undefined;
  readonly log: LogLine[];
}

/** Starts serve with `args` and `env`, asks it about the recorded group binding, /readyz and /metrics, and stops it. */
async function serveAndAsk(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const started = startCli(['serve', '--port', '0', ...args], { PATH: process.env['PATH'], ...env });
  let caDir: string | undefined;
  try {
    const serving = await servingAt(started);
    caDir = serving.caDir;
    const { ca, validate } = serving;
    const review = await call(validate, ca, 'POST', GROUP_REVIEW);
    assert.is(review.status, 200, review.body);
    const readyz = await call(validate.replace(/\/validate$/, '/readyz'), ca, 'GET');
    const metrics = await call(validate.replace(/\/validate$/, '/metrics'), ca, 'GET');
    return {
      decision: JSON.parse(review.body)['response'],
      readyz: { status: readyz.status, body: JSON.parse(readyz.body) },
      directoryConfigured: /^entra_rbac_guard_directory_configured (\d)$/m.exec(metrics.body)?.[1],
      log: logLines(started),
    };
  } finally {
    await stopCli(started);
    if (caDir) await rm(caDir, { recursive: true, force: true });
  }
}

function policyFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'erg-serve-directory-')), 'policy.yaml');
  writeFileSync(file, `apiVersion: entra-rbac-guard/v1\nkind: Policy\n${yaml}`);
  return file;
}

const directoryErrors = (log: LogLine[]) => log.filter((line) => line['level'] === 50 && /groups cannot be verified/.test(String(line.msg)));

Serve('embedded policy, no snapshot, no credentials :: the group binding is denied naming what is missing; said once at start-up, in /readyz and /metrics', async () => {
  const served = await serveAndAsk([]);
  assert.is(served.decision['allowed'], false);
  const message = String(served.decision['status']['message']);
  assert.match(message, `binds Group "${GROUP_ID}" [directory-unavailable]`);
  assert.match(message, 'neither --directory FILE nor Azure credentials are given; to use Microsoft Graph, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET');
  assert.match(message, 'set directory.verify: false in the policy to stop verifying groups');
  assert.not.match(message, 'retry shortly', 'nothing will change by retrying');

  const errors = directoryErrors(served.log);
  assert.is(errors.length, 1, JSON.stringify(served.log));
  assert.is(errors[0]!['directoryOnError'], 'deny');
  assert.is(served.readyz.status, 200, 'served, not unready: each review follows directory.onError');
  assert.is(served.readyz.body['directory']['state'], 'not configured');
  assert.match(served.readyz.body['directory']['problem'], 'AZURE_CLIENT_ID');
  assert.is(served.directoryConfigured, '0');
});

Serve('half the variables set :: the message names only the ones missing', async () => {
  const served = await serveAndAsk([], { AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', AZURE_CLIENT_ID: '3c2a5f2e-1b4d-4c6e-9f8a-7b6c5d4e3f2a' });
  assert.is(served.decision['allowed'], false);
  assert.match(served.decision['status']['message'], 'to use Microsoft Graph, set AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET)');
});

Serve('directory.onError: allow :: allowed with a warning naming what is missing', async () => {
  const served = await serveAndAsk(['--policy', policyFile('directory:\n  onError: allow\n')]);
  assert.is(served.decision['allowed'], true);
  const warnings: string[] = served.decision['warnings'] ?? [];
  assert.ok(warnings.some((warning) => warning.includes('[directory-unavailable]') && warning.includes('neither --directory FILE nor Azure credentials')), warnings.join('\n'));
  assert.is(directoryErrors(served.log)[0]?.['directoryOnError'], 'allow');
});

Serve('a snapshot :: the group is found and allowed; directory configured', async () => {
  const served = await serveAndAsk(['--directory', SNAPSHOT]);
  assert.is(served.decision['allowed'], true, JSON.stringify(served.decision));
  assert.is(served.decision['warnings'], undefined);
  assert.equal(served.readyz.body['directory'], { state: 'configured', source: 'snapshot directory-snapshot.yaml' });
  assert.is(served.directoryConfigured, '1');
  assert.is(directoryErrors(served.log).length, 0);
});

Serve('directory.verify: false :: a policy choice: allowed, no directory error, /readyz says not used', async () => {
  const served = await serveAndAsk(['--policy', policyFile('directory:\n  verify: false\n')]);
  assert.is(served.decision['allowed'], true, JSON.stringify(served.decision));
  assert.is(served.decision['warnings'], undefined);
  assert.is(served.readyz.body['directory']['state'], 'not used');
  assert.match(served.readyz.body['directory']['source'], 'directory.verify to false');
  assert.is(directoryErrors(served.log).length, 0);
});

Serve.run();
