/**
 * The CLI installed without cloning, as docs/ci.md tells pipelines to: `npm pack`, then `npm install` of the tarball in
 * an empty folder (dependencies only, no pinned Node.js), and the installed `entra-rbac-guard` run on Node.js 24 and
 * on the machine's own older Node.js, which must get one line naming the versions instead of a stack trace.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './spawn-cli.ts';

const Packed = suite<{ dir: string; bin: string }>('the packed CLI, installed in an empty folder', { dir: '', bin: '' });

/** A user's environment: none of the test run's settings (its extra CA file is a path relative to the clone). */
const userEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_EXTRA_CA_CERTS' && !name.startsWith('ENTRA_RBAC_GUARD_')));

/** The npm that came with the machine runs the install, as a user's would. */
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

Packed.before((context) => {
  context.dir = mkdtempSync(join(tmpdir(), 'erg-packed-'));
  const packed = execFileSync(NPM, ['pack', '--pack-destination', context.dir, '--silent'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  const app = join(context.dir, 'app');
  execFileSync('mkdir', ['-p', app]);
  // --prefer-offline: the packages npm ci fetched for the clone are in npm's cache already.
  execFileSync(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error', join(context.dir, packed)], { cwd: app, encoding: 'utf8', env: userEnv() });
  context.bin = join(app, 'node_modules', '.bin', 'entra-rbac-guard');
});

Packed.after((context) => {
  rmSync(context.dir, { recursive: true, force: true });
});

Packed('on Node.js 24 :: check judges a file and standard input as in the clone', ({ bin }) => {
  const denied = spawnSync(process.execPath, [bin, 'check', join(ROOT, 'examples', 'rolebinding-denied.yaml')], { encoding: 'utf8', env: userEnv() });
  assert.is(denied.status, 1, denied.stderr);
  assert.match(denied.stdout, 'DENIED RoleBinding payments/carol-edit');
  const stdin = readFileSync(join(ROOT, 'examples', 'rolebinding-compliant.yaml'), 'utf8');
  const allowed = spawnSync(process.execPath, [bin, 'check', '-', '--output', 'json'], { encoding: 'utf8', input: stdin, env: userEnv() });
  assert.is(allowed.status, 0, allowed.stderr);
  assert.is(JSON.parse(allowed.stdout).summary.allowed, 1);
});

Packed('the package holds the CLI and what it runs, nothing of the clone besides', ({ dir }) => {
  const listing = execFileSync('tar', ['-tzf', join(dir, 'entra-rbac-guard-0.1.0.tgz')], { encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.ok(listing.includes('package/bin/entra-rbac-guard'));
  assert.ok(listing.includes('package/dist/bin.js'));
  assert.equal(listing.filter((file) => /^package\/(src|test|charts|node_modules)\//.test(file)), []);
});

/** The machine's own Node.js (20 on this project's machines): whatever its version, the CLI must not crash. */
const systemNode = spawnSync('/usr/bin/env', ['-i', `PATH=${process.env['PATH']?.split(':').filter((part) => !part.includes('node_modules')).join(':')}`, 'node', '--version'], { encoding: 'utf8' });
const systemMajor = Number(/^v(\d+)/.exec(systemNode.stdout ?? '')?.[1] ?? Number.NaN);

Packed(`on the machine's Node.js (${systemNode.stdout?.trim() || 'none'}) :: below 24, exit 2 with one line naming both versions; from 24, it runs`, ({ bin }) => {
  assert.ok(Number.isFinite(systemMajor), `no node on the PATH without node_modules: ${systemNode.stderr}`);
  const path = process.env['PATH']!.split(':').filter((part) => !part.includes('node_modules')).join(':');
  const ran = spawnSync('node', [bin, 'check', join(ROOT, 'examples', 'rolebinding-denied.yaml')], { encoding: 'utf8', env: { PATH: path } });
  if (systemMajor < 24) {
    assert.is(ran.status, 2, ran.stderr);
    assert.is(ran.stdout, '');
    const lines = ran.stderr.trim().split('\n');
    assert.is(lines.length, 1, ran.stderr);
    assert.match(lines[0]!, `entra-rbac-guard: needs Node.js 24 or later, and this is Node.js ${systemNode.stdout.trim().slice(1)}`);
    assert.not.match(ran.stderr, /\n\s+at /, 'no stack trace');
  } else {
    assert.is(ran.status, 1, ran.stderr);
  }
});

Packed.run();
