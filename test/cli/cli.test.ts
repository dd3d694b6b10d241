/**
 * The real CLI, as users run it: bin/entra-rbac-guard (which loads dist/, so `make build` first) spawned with this
 * Node.js 24 as a child process. Every child is stopped at the end of its suite, even when a test fails.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { GROUP_ID, RECORDED_REVIEWS } from '../helpers.ts';
import { ROOT, runCli, startCli, stopAllCli, type Ran, type Started } from './spawn-cli.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const UNKNOWN_GROUP_ID = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
const M365_GROUP_ID = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';

type Json = Record<string, any>;

// --- child processes -------------------------------------------------------------------------------------------

/** The environment of the test, without any ENTRA_RBAC_GUARD_* setting that would change what the CLI does. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_')));
}

const start = (args: readonly string[]): Started => startCli(args, cleanEnv());
const run = (args: readonly string[], options?: { stdin?: string; timeoutMs?: number }): Promise<Ran> => runCli(args, cleanEnv(), options);
const stopAll = stopAllCli;

// --- manifests -------------------------------------------------------------------------------------------------

const COMPLIANT = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: payments-viewers
  namespace: payments
subjects:
  - kind: Group
    apiGroup: rbac.authorization.k8s.io
    name: ${GROUP_ID}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
`;

const USER_BINDING = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: carol-admin
  namespace: payments
subjects:
  - kind: User
    apiGroup: rbac.authorization.k8s.io
    name: carol@fabrikam.com
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
`;

const CONFIG_MAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: payments
data:
  color: blue
`;

const MULTI = `${COMPLIANT}---\n${USER_BINDING}---\n${CONFIG_MAP}`;

function groupBinding(name: string, groupId: string): string {
  return COMPLIANT.replace('name: payments-viewers', `name: ${name}`).replace(`name: ${GROUP_ID}`, `name: ${groupId}`);
}

const SNAPSHOT = `groups:
  - id: ${GROUP_ID}
    displayName: Payments Team
    securityEnabled: true
  - id: ${M365_GROUP_ID}
    displayName: Payments (Microsoft 365)
    securityEnabled: false
`;

/** A fresh temporary directory per suite, removed after it. */
function withWorkdir<T extends { dir: string }>(test: Test<T>): void {
  test.before(async (context) => {
    context.dir = await mkdtemp(join(tmpdir(), 'erg-cli-'));
  });
  test.after(async (context) => {
    await stopAll();
    if (context.dir) await rm(context.dir, { recursive: true, force: true });
  });
}

async function file(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return path;
}

function json(ran: Ran): Json {
  try {
    return JSON.parse(ran.stdout) as Json;
  } catch {
    assert.unreachable(`stdout is not JSON: ${ran.stdout}\nstderr: ${ran.stderr}`);
    throw new Error('unreachable');
  }
}

// --- check -----------------------------------------------------------------------------------------------------

const Check = suite('cli check', { dir: '' });
withWorkdir(Check);

Check('check :: multi-document YAML (compliant, User binding, ConfigMap) :: exit 1, table names binding and rule, 1 skipped', async ({ dir }) => {
  const path = await file(dir, 'multi.yaml', MULTI);
  const ran = await run(['check', path]);
  assert.is(ran.code, 1, ran.stderr);
  const lines = ran.stdout.split('\n');
  assert.ok(lines.includes(`ok     RoleBinding payments/payments-viewers  (${path}#1)`), ran.stdout);
  assert.ok(lines.includes(`DENIED RoleBinding payments/carol-admin  (${path}#2)`), ran.stdout);
  assert.ok(
    lines.some((line) => /^ {2}deny RoleBinding payments\/carol-admin binds User "carol@fabrikam\.com" directly \[user-subject\]/.test(line)),
    ran.stdout,
  );
  assert.not.match(ran.stdout, /ConfigMap|settings/, 'a skipped object is not listed');
  assert.ok(
    lines.includes('2 RBAC bindings checked: 1 denied, 1 allowed (0 exempt); 1 other objects skipped. Violations by rule: user-subject 1.'),
    ran.stdout,
  );
});

Check('check :: kind: List JSON :: every item judged, sources name the item', async ({ dir }) => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'everyone-view' },
        subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'payments-viewers', namespace: 'payments' },
        subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: GROUP_ID }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'payments' } },
    ],
  };
  const path = await file(dir, 'list.json', JSON.stringify(list, null, 2));
  const ran = await run(['check', '--output', 'json', path]);
  assert.is(ran.code, 1, ran.stderr);
  const report = json(ran);
  assert.equal(
    report['results'].map((result: Json) => [result['source'], result['kind'], result['name'], result['allowed']]),
    [
      [`${path}#1.items[0]`, 'ClusterRoleBinding', 'everyone-view', false],
      [`${path}#1.items[1]`, 'RoleBinding', 'payments-viewers', true],
    ],
  );
  assert.is(report['results'][0]['violations'][0]['rule'], 'broad-group');
  assert.is(report['summary']['skipped'], 1);
  assert.is(report['summary']['objects'], 3);
});

Check('check :: - reads standard input :: sources are stdin#N', async () => {
  const ran = await run(['check', '-'], { stdin: MULTI });
  assert.is(ran.code, 1, ran.stderr);
  assert.match(ran.stdout, /^ok {5}RoleBinding payments\/payments-viewers {2}\(stdin#1\)$/m);
  assert.match(ran.stdout, /^DENIED RoleBinding payments\/carol-admin {2}\(stdin#2\)$/m);
  assert.match(ran.stdout, /1 other objects skipped/);
  const compliant = await run(['check', '-'], { stdin: COMPLIANT });
  assert.is(compliant.code, 0, compliant.stdout + compliant.stderr);
});

Check('check :: a directory :: read recursively (.yaml, .yml, .json), other files ignored', async ({ dir }) => {
  const root = join(dir, 'manifests');
  const a = await file(root, 'a.yaml', COMPLIANT);
  const b = await file(root, 'nested/deeper/b.json', JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'masters' },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:masters' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  }));
  const c = await file(root, 'nested/c.yml', CONFIG_MAP);
  await file(root, 'nested/notes.txt', `${USER_BINDING}---\nthis: [is not yaml`);
  await file(root, 'README.md', '# not a manifest: [');
  const ran = await run(['check', '--output', 'json', root]);
  assert.is(ran.code, 1, ran.stderr);
  const report = json(ran);
  assert.equal(report['results'].map((result: Json) => result['source']).sort(), [`${a}#1`, `${b}#1`].sort());
  assert.is(report['results'].find((result: Json) => result['source'] === `${b}#1`)['violations'][0]['rule'], 'local-account');
  assert.is(report['summary']['skipped'], 1, `${c} holds one ConfigMap`);
  assert.is(report['summary']['objects'], 3, 'the .txt and .md files are not read');
  assert.not.match(ran.stdout, /carol/);
});

Check('check :: --output json :: exactly {results:[{kind, namespace, name, source, allowed, violations}], summary}', async ({ dir }) => {
  const snapshot = await file(dir, 'groups.yaml', SNAPSHOT);
  const path = await file(
    dir,
    'shape.yaml',
    `${COMPLIANT}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops-dave
subjects:
  - kind: User
    apiGroup: rbac.authorization.k8s.io
    name: dave@contoso.com
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ci-cluster-admin
subjects:
  - kind: ServiceAccount
    name: deployer
    namespace: ci
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
---
${CONFIG_MAP}`,
  );
  const ran = await run(['check', '--output', 'json', '--directory', snapshot, path]);
  assert.is(ran.code, 1, ran.stderr);
  const report = json(ran);
  assert.equal(Object.keys(report).sort(), ['results', 'summary']);
  for (const result of report['results']) {
    assert.equal(Object.keys(result).sort(), ['allowed', 'kind', 'name', 'namespace', 'source', 'violations'], JSON.stringify(result));
    for (const violation of result['violations']) {
      assert.equal(Object.keys(violation).sort(), ['action', 'message', 'rule', 'subject']);
      assert.type(violation['message'], 'string');
      assert.match(violation['message'], new RegExp(`\\[${violation['rule']}\\]`));
    }
  }
  const withoutMessages = report['results'].map((result: Json) => ({
    ...result,
    violations: result['violations'].map(({ message: _message, ...rest }: Json) => rest),
  }));
  assert.equal(withoutMessages, [
    { kind: 'RoleBinding', namespace: 'payments', name: 'payments-viewers', source: `${path}#1`, allowed: true, violations: [] },
    {
      kind: 'ClusterRoleBinding',
      namespace: '',
      name: 'ops-dave',
      source: `${path}#2`,
      allowed: false,
      violations: [{ rule: 'user-subject', action: 'deny', subject: { kind: 'User', name: 'dave@contoso.com' } }],
    },
    {
      kind: 'ClusterRoleBinding',
      namespace: '',
      name: 'ci-cluster-admin',
      source: `${path}#3`,
      allowed: false,
      violations: [{ rule: 'cluster-admin', action: 'deny', subject: { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' } }],
    },
  ]);
  assert.equal(report['summary'], {
    objects: 4,
    checked: 3,
    skipped: 1,
    allowed: 1,
    denied: 2,
    exempt: 0,
    violations: { deny: 2, warn: 0 },
    byRule: { 'user-subject': 1, 'cluster-admin': 1 },
    expiredExemptions: 0,
  });
});

Check('check :: only compliant input :: exit 0', async ({ dir }) => {
  const path = await file(dir, 'compliant.yaml', `${COMPLIANT}---\n${CONFIG_MAP}`);
  const ran = await run(['check', path]);
  assert.is(ran.code, 0, ran.stdout + ran.stderr);
  assert.match(ran.stdout, /1 RBAC bindings checked: 0 denied, 1 allowed \(0 exempt\); 1 other objects skipped\. No violations\./);
});

Check('check :: --policy in audit mode :: exit 0, the violation shown as a warning', async ({ dir }) => {
  const policy = await file(dir, 'audit-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: audit\n');
  const path = await file(dir, 'audit.yaml', MULTI);
  const ran = await run(['check', '--policy', policy, path]);
  assert.is(ran.code, 0, ran.stdout + ran.stderr);
  assert.match(ran.stdout, /^WARN {3}RoleBinding payments\/carol-admin {2}\(.*#2\)$/m);
  assert.match(ran.stdout, /^ {2}warn Not denied because the policy is in audit mode: RoleBinding payments\/carol-admin .*\[user-subject\]/m);
  assert.match(ran.stdout, /0 denied, 2 allowed/);
});

Check('check :: --directory snapshot :: unknown GUID denied group-unknown, non-security group denied group-not-security-enabled', async ({ dir }) => {
  const snapshot = await file(dir, 'snapshot.yaml', SNAPSHOT);
  const path = await file(
    dir,
    'groups.yaml',
    [COMPLIANT, groupBinding('typo-group', UNKNOWN_GROUP_ID), groupBinding('m365-group', M365_GROUP_ID)].join('---\n'),
  );
  const ran = await run(['check', '--output', 'json', '--directory', snapshot, path]);
  assert.is(ran.code, 1, ran.stderr);
  const byName = Object.fromEntries(json(ran)['results'].map((result: Json) => [result['name'], result]));
  assert.is(byName['payments-viewers']['allowed'], true);
  assert.equal(byName['payments-viewers']['violations'], []);
  assert.is(byName['typo-group']['allowed'], false);
  assert.equal(byName['typo-group']['violations'].map((v: Json) => [v['rule'], v['action'], v['subject']['name']]), [['group-unknown', 'deny', UNKNOWN_GROUP_ID]]);
  assert.match(byName['typo-group']['violations'][0]['message'], /snapshot snapshot\.yaml/);
  assert.is(byName['m365-group']['allowed'], false);
  assert.equal(byName['m365-group']['violations'].map((v: Json) => [v['rule'], v['action']]), [['group-not-security-enabled', 'deny']]);
  assert.match(byName['m365-group']['violations'][0]['message'], /"Payments \(Microsoft 365\)"/);
  // Without the snapshot, the same file is allowed with notes: the directory made the difference.
  const unchecked = await run(['check', '--output', 'json', path]);
  assert.is(unchecked.code, 0, unchecked.stderr);
});

Check.run();

// --- usage and input errors ------------------------------------------------------------------------------------

const Errors = suite('cli usage and input errors', { dir: '' });
withWorkdir(Errors);

for (const [name, args, message] of [
  ['check without paths', ['check'], /check needs at least one PATH, or - to read standard input/],
  ['unknown option', ['check', '--bogus', 'x.yaml'], /Unknown option '--bogus'/],
  ['--output xml', ['check', '--output', 'xml', 'x.yaml'], /--output must be table, json or sarif, got "xml"/],
  ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
  ['policy without subcommand', ['policy'], /policy takes `validate FILE`, `default` or `vap \[--policy FILE\]`/],
  ['serve --tls-cert without --tls-key', ['serve', '--tls-cert', 'tls.crt'], /--tls-cert and --tls-key go together/],
  ['serve --port that is no port', ['serve', '--port', 'eighty'], /--port must be a port number, got "eighty"/],
] as const) {
  Errors(`usage :: ${name} :: exit 2 with a message and the usage`, async () => {
    const ran = await run(args);
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, /^entra-rbac-guard: /);
    assert.match(ran.stderr, message);
    assert.match(ran.stderr, /Usage: entra-rbac-guard <command> \[options\]/);
    assert.is(ran.stdout, '', 'nothing on stdout');
  });
}

Errors('usage :: no command at all :: exit 2 with the usage', async () => {
  const ran = await run([]);
  assert.is(ran.code, 2);
  assert.match(ran.stdout + ran.stderr, /Usage: entra-rbac-guard <command>/);
});

Errors('input :: invalid YAML in the 2nd document :: exit 2 naming FILE#2, no report', async ({ dir }) => {
  const path = await file(dir, 'broken.yaml', `${COMPLIANT}---\nkind: RoleBinding\nmetadata: [unclosed\n  name: : x\n`);
  const ran = await run(['check', path]);
  assert.is(ran.code, 2, ran.stdout + ran.stderr);
  assert.match(ran.stderr, new RegExp(`entra-rbac-guard: ${escapeRegExp(path)}#2: is not valid YAML or JSON`));
  assert.is(ran.stdout, '', 'no partial report');
});

Errors('--require-directory with no directory :: exit 2 saying what to give, no report; with a snapshot :: judged', async ({ dir }) => {
  const path = await file(dir, 'rbac.yaml', COMPLIANT);
  const env = Object.fromEntries(Object.entries(cleanEnv()).filter(([name]) => !name.startsWith('AZURE_')));
  const refused = await runCli(['check', '--require-directory', path], env);
  assert.is(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /\nentra-rbac-guard: --require-directory: groups would not be checked in Microsoft Entra ID \(directory none: neither --directory FILE nor Azure credentials are given/);
  assert.match(refused.stderr, /give --directory FILE \(a snapshot from `entra-rbac-guard directory export`\) or Azure credentials/);
  assert.is(refused.stdout, '', 'no report');
  const verifyOff = await file(dir, 'no-verify.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\ndirectory: {verify: false}\n');
  const off = await runCli(['check', '--require-directory', '--policy', verifyOff, path], env);
  assert.is(off.code, 2);
  assert.match(off.stderr, /\(directory none: the policy sets directory\.verify to false\)/);
  const snapshot = join(ROOT, 'examples', 'directory-snapshot.yaml');
  const judged = await runCli(['check', '--require-directory', '--directory', snapshot, '--policy', join(ROOT, 'examples', 'policy-aks.yaml'), join(ROOT, 'examples', 'rolebinding-compliant.yaml')], env);
  assert.is(judged.code, 0, judged.stdout + judged.stderr);
});

Errors('input :: a missing file :: exit 2 naming the file', async ({ dir }) => {
  const path = join(dir, 'does-not-exist.yaml');
  const ran = await run(['check', path]);
  assert.is(ran.code, 2);
  assert.match(ran.stderr, new RegExp(`entra-rbac-guard: ${escapeRegExp(path)}: cannot read it \\(ENOENT\\)`));
  assert.is(ran.stdout, '');
});

Errors('input :: a binding whose subjects is a string :: exit 2 naming file, document and field', async ({ dir }) => {
  const path = await file(dir, 'subjects.yaml', `${CONFIG_MAP}---\n${COMPLIANT.replace(/subjects:\n(?: {2}.*\n)+/, 'subjects: carol\n')}`);
  assert.match(readFileSync(path, 'utf8'), /subjects: carol/);
  const ran = await run(['check', path]);
  assert.is(ran.code, 2, ran.stdout + ran.stderr);
  assert.match(ran.stderr, new RegExp(`${escapeRegExp(path)}#2\\.subjects: must be a list, got string "carol"`));
});

Errors('input :: a document that is not an object :: exit 2 naming the document', async ({ dir }) => {
  const path = await file(dir, 'scalar.yaml', `${COMPLIANT}---\njust a string\n`);
  const ran = await run(['check', path]);
  assert.is(ran.code, 2);
  assert.match(ran.stderr, new RegExp(`${escapeRegExp(path)}#2: is not a Kubernetes object`));
});

Errors('input :: --policy with an invalid policy :: exit 2 listing the path rules.user-subjct', async ({ dir }) => {
  const policy = await file(dir, 'bad-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nrules:\n  user-subjct: deny\nmode: strict\n');
  const path = await file(dir, 'ok.yaml', COMPLIANT);
  const ran = await run(['check', '--policy', policy, path]);
  assert.is(ran.code, 2, ran.stdout + ran.stderr);
  assert.match(ran.stderr, new RegExp(`${escapeRegExp(policy)}: invalid policy`));
  assert.match(ran.stderr, /^ {2}rules\.user-subjct: unknown rule \(did you mean user-subject\?\)/m);
  assert.match(ran.stderr, /^ {2}mode: must be one of enforce, audit, got "strict"/m, 'every problem is listed, not only the first');
  assert.is(ran.stdout, '');
});

Errors('input :: --directory snapshot that is not valid :: exit 2 naming the entry', async ({ dir }) => {
  const snapshot = await file(dir, 'bad-snapshot.yaml', 'groups:\n  - id: Payments Team\n    securityEnabled: true\n');
  const path = await file(dir, 'ok2.yaml', COMPLIANT);
  const ran = await run(['check', '--directory', snapshot, path]);
  assert.is(ran.code, 2);
  assert.match(ran.stderr, /groups\[0\]\.id: "Payments Team" is not a lower-case GUID/);
});

Errors.run();

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// --- policy and version ----------------------------------------------------------------------------------------

const Policy = suite('cli policy and version', { dir: '' });
withWorkdir(Policy);

Policy('policy default :: prints YAML that policy validate accepts', async ({ dir }) => {
  const printed = await run(['policy', 'default']);
  assert.is(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^apiVersion: entra-rbac-guard\/v1$/m);
  assert.match(printed.stdout, /^kind: Policy$/m);
  const path = await file(dir, 'default-policy.yaml', printed.stdout);
  const validated = await run(['policy', 'validate', path]);
  assert.is(validated.code, 0, validated.stderr);
  assert.match(validated.stdout, new RegExp(`^${escapeRegExp(path)}: valid policy \\(mode enforce\\), 1 warning\\(s\\)$`, 'm'));
  assert.match(validated.stderr, /^warning: adminGroups: is empty while cluster-admin is denied/m);
});

Policy('policy validate :: a bad file :: exit 2 listing every problem with its path', async ({ dir }) => {
  const path = await file(dir, 'bad.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nrules:\n  user-subjct: deny\nadminGroups: [Payments Team]\n');
  const ran = await run(['policy', 'validate', path]);
  assert.is(ran.code, 2, ran.stdout + ran.stderr);
  assert.match(ran.stderr, /rules\.user-subjct: unknown rule/);
  assert.match(ran.stderr, /adminGroups\[0\]: "Payments Team" is not an Entra object ID/);
  assert.is(ran.stdout, '');
  const missing = await run(['policy', 'validate', join(dir, 'absent.yaml')]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /absent\.yaml: cannot read the policy file \(ENOENT\)/);
});

Policy('--version :: prints the package.json version', async () => {
  const ran = await run(['--version']);
  assert.is(ran.code, 0);
  assert.is(ran.stdout, `${VERSION}\n`);
  assert.is(ran.stderr, '');
});

Policy.run();

// --- serve -----------------------------------------------------------------------------------------------------

const Serve = suite('cli serve', { dir: '', caDirs: [] as string[] });
withWorkdir(Serve);
Serve.after(async ({ caDirs }) => {
  for (const dir of caDirs) await rm(dir, { recursive: true, force: true });
});

interface LogLine {
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** Waits for a JSON log line on stdout that `match` accepts; fails with what the process printed after `timeoutMs`. */
async function logLine(started: Started, match: (line: LogLine) => boolean, timeoutMs: number): Promise<{ line: LogLine; lines: LogLine[] }> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void started.exited.then(() => (exited = true));
  for (;;) {
    const lines = started
      .stdout()
      .split('\n')
      .filter((text) => text.startsWith('{'))
      .map((text) => JSON.parse(text) as LogLine);
    const line = lines.find(match);
    if (line) return { line, lines };
    if (exited || Date.now() > deadline) {
      assert.unreachable(`no such log line (${exited ? 'the process exited' : 'timed out'}).\nstdout: ${started.stdout()}\nstderr: ${started.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function post(url: string, ca: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', ca, agent: false, timeout: 5000, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5000 ms')));
    req.on('error', reject);
    req.end(body);
  });
}

async function terminated(started: Started, withinMs: number): Promise<number | null> {
  const sent = Date.now();
  started.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([started.exited, new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), withinMs)))]);
  clearTimeout(timer);
  assert.ok(result !== 'late', `still running ${withinMs} ms after SIGTERM`);
  assert.ok(Date.now() - sent < withinMs);
  return (result as { code: number | null }).code;
}

const CAROL_REVIEW = readFileSync(`${RECORDED_REVIEWS}02-CREATE-RoleBinding-carol-admin.json`, 'utf8');

Serve('serve :: --port 0, self-signed :: logs URL and CA path, denies fixture 02 over HTTPS, exits 0 on SIGTERM', async ({ caDirs }) => {
  const started = start(['serve', '--port', '0', '--log-level', 'info', '--drain-period', '0s']);
  try {
    const { line, lines } = await logLine(started, (entry) => entry.msg === 'entra-rbac-guard is serving', 20_000);
    const url = new URL(String(line['url']));
    assert.is(url.protocol, 'https:');
    assert.is(url.hostname, '127.0.0.1');
    assert.ok(Number(url.port) > 0, `the logged URL carries the real port: ${url.href}`);
    assert.is(url.pathname, '/validate');
    assert.is(line['mode'], 'enforce');
    const caLine = lines.find((entry) => typeof entry['caCertificate'] === 'string');
    assert.ok(caLine, 'a log line gives the CA certificate path');
    const caPath = String(caLine!['caCertificate']);
    caDirs.push(dirname(caPath));
    assert.ok(caPath.includes(url.port), 'the CA path is per port');
    const answer = await post(url.href, readFileSync(caPath, 'utf8'), CAROL_REVIEW);
    assert.is(answer.status, 200, answer.body);
    const review = JSON.parse(answer.body) as Json;
    assert.is(review['response']['uid'], '31d9ae9e-84c2-469f-bf57-c10521ff6452');
    assert.is(review['response']['allowed'], false);
    assert.is(review['response']['status']['code'], 403);
    assert.is(await terminated(started, 5000), 0);
    assert.match(started.stdout(), /"signal":"SIGTERM"/);
  } finally {
    started.child.kill('SIGKILL');
    await started.exited;
  }
});

Serve('serve :: --tls-cert/--tls-key :: serves that pair, picks up a rotated pair, exits 0 on SIGTERM', async ({ dir }) => {
  const first = await generateSelfSigned();
  const second = await generateSelfSigned();
  const cert = await file(dir, 'tls/tls.crt', first.cert);
  const key = await file(dir, 'tls/tls.key', first.key);
  const started = start(['serve', '--port', '0', '--tls-cert', cert, '--tls-key', key, '--log-level', 'info', '--drain-period', '0s']);
  try {
    const { line, lines } = await logLine(started, (entry) => entry.msg === 'entra-rbac-guard is serving', 20_000);
    const url = String(line['url']);
    assert.not.ok(lines.some((entry) => 'caCertificate' in entry), 'no self-signed CA when a pair is given');
    assert.is((await post(url, first.ca, CAROL_REVIEW)).status, 200);
    await writeFile(`${key}.new`, second.key);
    await writeFile(`${cert}.new`, second.cert);
    await rename(`${key}.new`, key);
    await rename(`${cert}.new`, cert);
    await logLine(started, (entry) => entry.msg === 'TLS certificate reloaded from disk', 10_000);
    const answer = await post(url, second.ca, CAROL_REVIEW);
    assert.is(answer.status, 200);
    assert.is((JSON.parse(answer.body) as Json)['response']['allowed'], false);
    assert.is(await terminated(started, 5000), 0);
  } finally {
    started.child.kill('SIGKILL');
    await started.exited;
  }
});

Serve('serve :: --tls-cert without --tls-key :: exit 2 before listening', async ({ dir }) => {
  const cert = await file(dir, 'only.crt', (await generateSelfSigned()).cert);
  const ran = await run(['serve', '--port', '0', '--tls-cert', cert]);
  assert.is(ran.code, 2);
  assert.match(ran.stderr, /--tls-cert and --tls-key go together/);
  assert.not.match(ran.stdout, /is serving/);
});

Serve('serve :: an invalid --policy :: exit 2 listing the path, nothing served', async ({ dir }) => {
  const policy = await file(dir, 'serve-bad-policy.yaml', 'rules:\n  user-subjct: deny\n');
  const ran = await run(['serve', '--port', '0', '--policy', policy]);
  assert.is(ran.code, 2, ran.stdout + ran.stderr);
  assert.match(ran.stderr, /rules\.user-subjct: unknown rule/);
  assert.not.match(ran.stdout, /is serving/);
});

Serve.run();
