/**
 * `entra-rbac-guard audit` against a real kube-apiserver 1.20: the built CLI (bin/entra-rbac-guard → dist/, so
 * `make build` first) spawned with the harness's kubeconfig, over a cluster holding the API server's own bootstrap RBAC
 * and the seeds of ./audit-cluster.ts, with groups from a directory snapshot file. Every output format is checked:
 * the table's sections, the JSON against `check --output json`, the SARIF against the SARIF 2.1.0 schema, and the
 * PolicyReports by creating them in the API server with kubectl after applying the wgpolicyk8s.io CRDs.
 * Run with `make e2e`. The tests share one cluster and change nothing in it but the last, which adds PolicyReports.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { runCli as runCliInProcess } from '../../src/cli.ts';
import { runCli, type Ran } from '../cli/spawn-cli.ts';
import { LOCAL_FIXTURES } from '../helpers.ts';
import {
  AUDIT_MODE_POLICY_YAML,
  POLICY_YAML,
  SEED_NAMESPACES,
  SEED_RBAC,
  SEEDS,
  SNAPSHOT_YAML,
  WARN_POLICY_YAML,
} from './audit-cluster.ts';
import { e2eSuite, expectOk } from './expect.ts';
import { startHarness, type Harness } from './harness.ts';
import { sarifValidator } from './sarif-schema.ts';

type Json = Record<string, any>;

interface Context {
  harness: Harness;
  policy: string;
  snapshot: string;
  /** What kubectl lists of each kind, to compare the audit's counts with. */
  counts: Record<string, number>;
  setupError?: Error;
  setupErrorReported?: boolean;
}

const CLI_TIMEOUT_MS = 30_000;
const KINDS = { ClusterRole: 'clusterroles', Role: 'roles', ClusterRoleBinding: 'clusterrolebindings', RoleBinding: 'rolebindings' } as const;

const Audit = e2eSuite<Context>('e2e: audit of a kube-apiserver 1.20 cluster', {
  async setup(context) {
  // The harness's webhook is in audit mode: it warns about the violating seeds and lets them in.
  context.harness = await startHarness({ policyYaml: 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: audit\n' });
  const { harness } = context;
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: SEED_NAMESPACES }), 'create the namespaces');
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: SEED_RBAC }), 'seed the RBAC objects');
  context.policy = harness.writePolicy('audit-policy.yaml', POLICY_YAML);
  context.snapshot = harness.writePolicy('groups.yaml', SNAPSHOT_YAML);
  context.counts = {};
  for (const [kind, resource] of Object.entries(KINDS)) {
    const listed = expectOk(await harness.kubectl(['get', resource, '--all-namespaces', '-o', 'name']), `list ${resource}`);
    context.counts[kind] = listed.stdout.trim().split('\n').filter(Boolean).length;
  }
    return 'cluster up and seeded';
  },
  async teardown(context) {
    await context.harness?.stop();
  },
});

// --- helpers ---------------------------------------------------------------------------------------------------------

/** The test's environment without settings that would change what the CLI does. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_') && !name.startsWith('AZURE_') && name !== 'KUBECONFIG'),
  );
}

/** `audit` with the test policy and snapshot, on the harness's cluster unless `args` names another --kubeconfig. */
function audit(context: Context, ...args: string[]): Promise<Ran> {
  const cluster = args.includes('--kubeconfig') ? [] : ['--kubeconfig', context.harness.kubeconfig];
  return runCli(['audit', ...cluster, '--policy', context.policy, '--directory', context.snapshot, ...args], cleanEnv(), { timeoutMs: CLI_TIMEOUT_MS });
}

function show(ran: Ran): string {
  return `exit ${ran.code}\nstdout: ${ran.stdout.slice(0, 4000)}\nstderr: ${ran.stderr}`;
}

function expectExit(ran: Ran, code: number, what: string): Ran {
  assert.is(ran.code, code, `${what}: expected exit ${code}\n${show(ran)}`);
  return ran;
}

function describeSeed(seed: { kind: string; namespace: string; name: string }): string {
  return seed.namespace ? `${seed.kind} ${seed.namespace}/${seed.name}` : `${seed.kind} ${seed.name}`;
}

/** The JSON result for one object. */
function resultFor(document: Json, seed: { kind: string; namespace: string; name: string }): Json {
  const found = (document['results'] as Json[]).find((result) => result['kind'] === seed.kind && result['namespace'] === seed.namespace && result['name'] === seed.name);
  assert.ok(found, `no result for ${describeSeed(seed)}`);
  return found!;
}

/** A kubeconfig like the harness's, but naming `server`. */
function kubeconfigFor(context: Context, name: string, server: string): string {
  const config = JSON.parse(readFileSync(context.harness.kubeconfig, 'utf8')) as Json;
  config['clusters'][0]['cluster']['server'] = server;
  const path = join(context.harness.dir, name);
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}

async function closedLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function assertNoStackTrace(ran: Ran): void {
  assert.not.match(ran.stderr, /\n\s+at [\w.<]+ \(|unexpected error/, `no stack trace, no unexpected error:\n${show(ran)}`);
}

// --- table -----------------------------------------------------------------------------------------------------------

Audit('table :: violations by rule then binding, exempt objects, summary; exit 1 (fail-on deny)', async (context) => {
  const ran = expectExit(await audit(context), 1, 'audit with deny violations');
  const text = ran.stdout;
  const headings = text.split('\n').filter((line) => /^[a-z-]+: /.test(line) && !line.startsWith('policy:'));
  assert.equal(
    headings.map((line) => line.split(':')[0]),
    ['user-subject', 'group-unknown', 'group-not-security-enabled', 'cluster-admin', 'escalation', 'broad-group'],
    'one section per violated rule, in the rule order',
  );
  for (const seed of [SEEDS.userSubject, SEEDS.groupUnknown, SEEDS.notSecurity, SEEDS.broadGroup, SEEDS.clusterAdmin, SEEDS.escalation]) {
    const section = text.slice(text.indexOf(`\n${seed.rule}: `), text.indexOf('\n\n', text.indexOf(`\n${seed.rule}: `)));
    assert.ok(section.includes(`\n  ${describeSeed(seed)}\n`), `${describeSeed(seed)} under ${seed.rule}:\n${section}`);
    assert.match(section, /\n {2}fix: \S/);
  }
  assert.ok(text.includes('    deny  User "carol@fabrikam.com"\n'));
  assert.not.ok(text.includes('ClusterRole cluster-admin'), 'the built-in role is never a finding: its binding is');
  assert.ok(!text.includes(describeSeed(SEEDS.compliant)), 'a compliant binding is counted, not listed');

  const exempt = text.slice(text.indexOf('\nExempt: '), text.indexOf('\n\n', text.indexOf('\nExempt: ')));
  for (const line of [
    '  Kubernetes bootstrap binding (kube-apiserver default RBAC): ',
    '    ClusterRoleBinding cluster-admin',
    '    ClusterRoleBinding system:basic-user',
    '    RoleBinding kube-system/system::leader-locking-kube-scheduler',
    "  namespace platform-tools is listed in the policy's allow.namespaces: 1",
    `    ${describeSeed(SEEDS.exemptNamespace)}`,
    `    ${describeSeed(SEEDS.allowListed)}: User "break-glass@contoso.com" (allow.users)`,
  ]) {
    assert.ok(exempt.includes(`\n${line}`), `exempt section lists "${line.trim()}":\n${exempt}`);
  }

  const { counts } = context;
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  assert.ok(
    text.includes(
      `\nScanned ${total} objects (${counts['ClusterRole']} ClusterRoles, ${counts['Role']} Roles, ${counts['ClusterRoleBinding']} ClusterRoleBindings, ${counts['RoleBinding']} RoleBindings) in 4 list requests; 3 Entra groups looked up.\n`,
    ),
    `summary counts what kubectl lists:\n${text.slice(-800)}`,
  );
  assert.match(text, /\nViolations: 6 \(6 deny, 0 warn\) — user-subject 1, group-unknown 1, group-not-security-enabled 1, cluster-admin 1, escalation 1, broad-group 1\.\n/);
  assert.match(text, /\nExempt: \d+ — \d+ Kubernetes bootstrap binding \(kube-apiserver default RBAC\); 1 namespace platform-tools is listed in the policy's allow\.namespaces\.\n$/);
  assert.is(ran.stderr, '', 'nothing on standard error: the progress line is for terminals only');
});

// --- json ------------------------------------------------------------------------------------------------------------

Audit('json :: the document of check --output json: every object once, same fields, same verdicts', async (context) => {
  const document = JSON.parse(expectExit(await audit(context, '--output', 'json'), 1, 'audit --output json').stdout) as Json;
  const total = Object.values(context.counts).reduce((sum, count) => sum + count, 0);
  const results = document['results'] as Json[];
  assert.is(results.length, total, 'one result per object in the cluster');
  assert.is(new Set(results.map((result) => `${result['kind']}/${result['namespace']}/${result['name']}`)).size, total, 'no object twice');
  assert.ok(results.every((result) => result['source'] === 'cluster'));
  assert.is(document['summary']['checked'], total);
  assert.is(document['summary']['skipped'], 0);

  const manifests = join(context.harness.dir, 'seeds.yaml');
  writeFileSync(manifests, SEED_RBAC);
  const checked = JSON.parse(
    (await runCli(['check', '--output', 'json', '--policy', context.policy, '--directory', context.snapshot, manifests], cleanEnv(), { timeoutMs: CLI_TIMEOUT_MS })).stdout,
  ) as Json;
  assert.equal(Object.keys(document).sort(), Object.keys(checked).sort(), 'same top-level fields');
  assert.equal(Object.keys(document['summary']).sort(), Object.keys(checked['summary']).sort(), 'same summary fields');
  const verdict = (result: Json) => ({
    allowed: result['allowed'],
    violations: (result['violations'] as Json[]).map(({ rule, action, subject }) => ({ rule, action, subject })),
    exemption: result['exemption'],
  });
  for (const seed of Object.values(SEEDS)) {
    const fromCheck = resultFor(checked, seed);
    const fromAudit = resultFor(document, seed);
    assert.equal(Object.keys(fromAudit).filter((key) => key !== 'notes').sort(), Object.keys(fromCheck).filter((key) => key !== 'notes').sort(), `fields of ${describeSeed(seed)}`);
    assert.equal(verdict(fromAudit), verdict(fromCheck), `audit and check judge ${describeSeed(seed)} alike`);
  }
  assert.equal(resultFor(document, SEEDS.userSubject)['violations'][0]['rule'], 'user-subject');
  assert.is(resultFor(document, SEEDS.exemptNamespace)['exemption'], "namespace platform-tools is listed in the policy's allow.namespaces");
});

// --- sarif -----------------------------------------------------------------------------------------------------------

Audit('sarif :: valid against the SARIF 2.1.0 schema, one result per violation, logical locations in the cluster', async (context) => {
  const sarif = JSON.parse(expectExit(await audit(context, '--output', 'sarif'), 1, 'audit --output sarif').stdout) as Json;
  assert.equal(sarifValidator()(sarif), [], 'no schema violation');
  const results = sarif['runs'][0]['results'] as Json[];
  const names = results.map((result) => `${result['ruleId']} ${result['locations'][0]['logicalLocations'][0]['fullyQualifiedName']}`);
  for (const seed of [SEEDS.userSubject, SEEDS.groupUnknown, SEEDS.notSecurity, SEEDS.broadGroup, SEEDS.clusterAdmin, SEEDS.escalation]) {
    assert.ok(names.includes(`${seed.rule} ${[seed.kind, seed.namespace, seed.name].filter(Boolean).join('/')}`), `${seed.rule} on ${describeSeed(seed)} in ${names.join(', ')}`);
  }
  assert.ok(results.every((result) => result['level'] === 'error' && !result['locations'][0]['physicalLocation']), 'deny → error; no file to point at');
});

// --- the formats agree ---------------------------------------------------------------------------------------------

Audit('table, json, sarif, policyreport :: the same findings, each once, on the binding; built-in roles never fail', async (context) => {
  const tally = (pairs: ReadonlyArray<readonly [string, string]>) => {
    const counts: Record<string, number> = {};
    for (const [rule, object] of pairs) counts[rule] = (counts[rule] ?? 0) + (object ? 1 : 0);
    return counts;
  };
  const document = JSON.parse(expectExit(await audit(context, '--output', 'json'), 1, 'json').stdout) as Json;
  const fromJson = tally((document['results'] as Json[]).flatMap((result) => (result['violations'] as Json[]).map((violation) => [violation['rule'], `${result['kind']}`] as const)));
  assert.equal(document['summary']['byRule'], fromJson, 'the JSON summary counts what its results hold');
  const failing = (document['results'] as Json[]).filter((result) => (result['violations'] as Json[]).length > 0);
  assert.ok(failing.every((result) => String(result['kind']).endsWith('Binding')), `only bindings carry findings: ${failing.map((result) => `${result['kind']} ${result['name']}`).join(', ')}`);
  const sarif = JSON.parse(expectExit(await audit(context, '--output', 'sarif'), 1, 'sarif').stdout) as Json;
  const fromSarif = tally((sarif['runs'][0]['results'] as Json[]).map((result) => [result['ruleId'], 'x'] as const));
  const reports = parseAllDocuments(expectExit(await audit(context, '--output', 'policyreport'), 1, 'policyreport').stdout).map((report) => report.toJS() as Json);
  const fromReports = tally(reports.flatMap((report) => (report['results'] as Json[]).filter((result) => result['result'] === 'fail' || result['result'] === 'warn').map((result) => [result['rule'], 'x'] as const)));
  const table = expectExit(await audit(context), 1, 'table').stdout;
  const line = /\nViolations: \d+ \(\d+ deny, \d+ warn\) — (.*)\.\n/.exec(table)?.[1] ?? '';
  const fromTable = Object.fromEntries(line.split(', ').map((entry) => [entry.split(' ')[0], Number(entry.split(' ')[1])]));
  assert.equal(fromSarif, fromJson, 'SARIF');
  assert.equal(fromReports, fromJson, 'PolicyReports');
  assert.equal(fromTable, fromJson, 'table');
  assert.equal(fromJson, { 'user-subject': 1, 'group-unknown': 1, 'group-not-security-enabled': 1, 'cluster-admin': 1, escalation: 1, 'broad-group': 1 });
});

// --- fail-on and exit codes ------------------------------------------------------------------------------------------

const FAIL_ON_CASES: { name: string; policy: string; failOn?: string; code: number }[] = [
  { name: 'deny violations, --fail-on deny (the default)', policy: POLICY_YAML, code: 1 },
  { name: 'deny violations, --fail-on never', policy: POLICY_YAML, failOn: 'never', code: 0 },
  { name: 'warn violations only, --fail-on deny', policy: WARN_POLICY_YAML, failOn: 'deny', code: 0 },
  { name: 'warn violations only, --fail-on warn', policy: WARN_POLICY_YAML, failOn: 'warn', code: 1 },
  { name: 'audit-mode policy, --fail-on deny: deny rules still count', policy: AUDIT_MODE_POLICY_YAML, code: 1 },
];

for (const { name, policy, failOn, code } of FAIL_ON_CASES) {
  Audit(`exit code :: ${name} :: ${code}`, async (context) => {
    const file = context.harness.writePolicy(`policy-${name.replace(/\W+/g, '-')}.yaml`, policy);
    const ran = await runCli(
      ['audit', '--kubeconfig', context.harness.kubeconfig, '--policy', file, '--directory', context.snapshot, '--output', 'json', ...(failOn ? ['--fail-on', failOn] : [])],
      cleanEnv(),
      { timeoutMs: CLI_TIMEOUT_MS },
    );
    expectExit(ran, code, name);
    assert.ok((JSON.parse(ran.stdout) as Json)['results'].length > 0, 'the report is printed whatever the exit code');
  });
}

Audit('exit 2 :: no such kubeconfig :: says which file', async (context) => {
  const ran = expectExit(await audit(context, '--kubeconfig', join(context.harness.dir, 'missing.kubeconfig')), 2, 'missing kubeconfig');
  assert.match(ran.stderr, /^entra-rbac-guard: --kubeconfig \S+missing\.kubeconfig: no such file\n$/);
  assert.is(ran.stdout, '');
});

Audit('exit 2 :: a user without list on RBAC :: names the permission, the resource, cluster-wide', async (context) => {
  const ran = expectExit(await audit(context, '--context', 'developer'), 2, 'user without permissions');
  assert.match(ran.stderr, /cannot list clusterroles cluster-wide: permission denied \(HTTP 403: clusterroles\.rbac\.authorization\.k8s\.io is forbidden: User "e2e-developer" cannot list resource "clusterroles"/);
  assert.match(ran.stderr, /audit needs list on roles, clusterroles, rolebindings and clusterrolebindings/);
  assertNoStackTrace(ran);
  assert.is(ran.stdout, '');
});

Audit('exit 2 :: API server on a closed port :: cannot reach, promptly', async (context) => {
  const port = await closedLoopbackPort();
  const started = Date.now();
  const ran = expectExit(await audit(context, '--kubeconfig', kubeconfigFor(context, 'closed-port.kubeconfig', `https://127.0.0.1:${port}`)), 2, 'closed port');
  assert.match(ran.stderr, new RegExp(`cannot list clusterroles cluster-wide: cannot reach the API server at https://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`));
  assertNoStackTrace(ran);
  assert.ok(Date.now() - started < CLI_TIMEOUT_MS, 'runCli fails the test itself past its timeout; here as a statement of intent');
});

// --- pagination ------------------------------------------------------------------------------------------------------

Audit('pagination :: --page-size 7 :: many list requests with continue, the same results as one page each', async (context) => {
  const paged = JSON.parse(expectExit(await audit(context, '--output', 'json', '--page-size', '7'), 1, 'paged audit').stdout) as Json;
  const whole = JSON.parse(expectExit(await audit(context, '--output', 'json'), 1, 'unpaged audit').stdout) as Json;
  assert.equal(paged['results'], whole['results']);

  const requests = readFileSync(context.harness.auditLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Json)
    .filter((event) => event['stage'] === 'ResponseComplete' && /[?&]limit=7(&|$)/.test(String(event['requestURI'])));
  for (const [kind, resource] of Object.entries(KINDS)) {
    const ofKind = requests.filter((event) => event['objectRef']?.['resource'] === resource);
    const expected = Math.max(1, Math.ceil(context.counts[kind]! / 7));
    assert.is(ofKind.length, expected, `${resource}: ${context.counts[kind]} objects in pages of 7`);
    assert.is(ofKind.filter((event) => /[?&]continue=/.test(String(event['requestURI']))).length, expected - 1, `${resource}: every page but the first continues`);
    assert.ok(ofKind.every((event) => event['responseStatus']?.['code'] === 200));
  }
});

// --- policy from a ConfigMap -----------------------------------------------------------------------------------------

Audit('--policy-configmap :: read once from key policy.yaml; a missing ConfigMap is exit 2 saying how to create it', async (context) => {
  const { harness } = context;
  const offRules = `${POLICY_YAML}rules: {user-subject: 'off'}\n`;
  expectOk(await harness.kubectl(['create', 'configmap', 'audit-policy', '--namespace', 'default', `--from-literal=policy.yaml=${offRules}`]), 'create the ConfigMap');
  const args = ['audit', '--kubeconfig', harness.kubeconfig, '--directory', context.snapshot];
  const ran = expectExit(await runCli([...args, '--policy-configmap', 'default/audit-policy'], cleanEnv(), { timeoutMs: CLI_TIMEOUT_MS }), 1, 'audit with the ConfigMap policy');
  assert.match(ran.stdout, /\npolicy: ConfigMap default\/audit-policy \(resourceVersion \d+\) \(mode enforce\);/);
  assert.not.match(ran.stdout, /\nuser-subject: /, 'the ConfigMap turned user-subject off');
  assert.match(ran.stdout, /\nbroad-group: /);

  const missing = expectExit(await runCli([...args, '--policy-configmap', 'default/no-such-policy'], cleanEnv(), { timeoutMs: CLI_TIMEOUT_MS }), 2, 'missing ConfigMap');
  assert.match(missing.stderr, /ConfigMap default\/no-such-policy not found: create it with the policy under the key policy\.yaml/);
  assert.is(missing.stdout, '');
});

// --- progress --------------------------------------------------------------------------------------------------------

Audit('progress :: drawn on standard error when it is a terminal, silent otherwise', async (context) => {
  const run = async (stderrIsTTY: boolean) => {
    let stdout = '';
    let stderr = '';
    const code = await runCliInProcess(['audit', '--kubeconfig', context.harness.kubeconfig, '--policy', context.policy, '--directory', context.snapshot, '--page-size', '20'], {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      readStdin: async () => '',
      env: cleanEnv(),
      stderrIsTTY,
    });
    return { code, stdout, stderr };
  };
  const terminal = await run(true);
  assert.is(terminal.code, 1);
  assert.match(terminal.stderr, /\r\x1b\[2Kentra-rbac-guard audit: listed 20\/\d+ ClusterRoles/, 'objects listed so far, of how many');
  assert.match(terminal.stderr, /listed \d+ ClusterRoles, \d+ Roles, \d+ ClusterRoleBindings, \d+ RoleBindings · groups resolved 3\/3/);
  assert.ok(terminal.stderr.endsWith('\r\x1b[2K'), 'the line is erased before the report');
  assert.ok(!terminal.stderr.includes('\n'), 'one line, redrawn in place');
  const piped = await run(false);
  assert.is(piped.stderr, '');
  assert.is(piped.stdout, terminal.stdout, 'the report is the same either way');
});

// --- policyreport (last: it adds objects to the cluster) ------------------------------------------------------------

Audit('policyreport :: kubectl apply creates them; what the API server stores is what we wrote', async (context) => {
  const { harness } = context;
  expectOk(await harness.kubectl(['apply', '-f', join(LOCAL_FIXTURES, 'policyreport-crds.yaml')]), 'apply the PolicyReport CRDs');
  expectOk(
    await harness.kubectl(['wait', '--for=condition=Established', 'crd/policyreports.wgpolicyk8s.io', 'crd/clusterpolicyreports.wgpolicyk8s.io', '--timeout=30s']),
    'CRDs established',
  );
  const yaml = expectExit(await audit(context, '--output', 'policyreport'), 1, 'audit --output policyreport').stdout;
  const written = parseAllDocuments(yaml).map((document) => document.toJS() as Json);
  assert.ok(written.every((report) => report['apiVersion'] === 'wgpolicyk8s.io/v1alpha2'));
  assert.equal(
    written.map((report) => `${report['kind']} ${report['metadata']['namespace'] ?? ''}`).sort(),
    ['ClusterPolicyReport ', 'PolicyReport kube-public', 'PolicyReport kube-system', 'PolicyReport payments', 'PolicyReport platform-tools'],
  );
  // The vendored PolicyReport CRD (v1alpha2 as of wg-policy-prototypes cd234547) predates results[].source, which its
  // ClusterPolicyReport CRD and Kyverno's and Policy Reporter's CRDs define: kubectl's client-side validation would
  // refuse the field, so it is left to the API server, which validates every other field and prunes that one.
  expectOk(await harness.kubectl(['apply', '--validate=false', '-f', '-'], { stdin: yaml }), 'kubectl apply the reports');

  const stored = [
    ...(JSON.parse(expectOk(await harness.kubectl(['get', 'policyreports.wgpolicyk8s.io', '--all-namespaces', '-o', 'json']), 'get').stdout)['items'] as Json[]),
    ...(JSON.parse(expectOk(await harness.kubectl(['get', 'clusterpolicyreports.wgpolicyk8s.io', '-o', 'json']), 'get').stdout)['items'] as Json[]),
  ];
  assert.is(stored.length, written.length);
  for (const report of written) {
    const namespace = report['metadata']['namespace'];
    const kept = stored.find((item) => item['kind'] === report['kind'] && item['metadata']['namespace'] === namespace && item['metadata']['name'] === report['metadata']['name']);
    assert.ok(kept, `${report['kind']} ${namespace ?? ''} was created`);
    const expectedResults = report['kind'] === 'PolicyReport' ? (report['results'] as Json[]).map(({ source: _pruned, ...result }) => result) : report['results'];
    assert.equal(kept!['results'], expectedResults, `${report['kind']} ${namespace ?? ''}: every result stored as written`);
    assert.equal(kept!['summary'], report['summary']);
    assert.equal(kept!['metadata']['labels'], report['metadata']['labels']);
  }
  const payments = stored.find((item) => item['metadata']['namespace'] === 'payments')!;
  const failed = (payments['results'] as Json[]).filter((result) => result['result'] === 'fail').map((result) => `${result['rule']} ${result['resources'][0]['name']}`);
  assert.equal(failed.sort(), ['group-not-security-enabled m365-team', 'group-unknown stale-team', 'user-subject carol-admin']);
  const tools = stored.find((item) => item['metadata']['namespace'] === 'platform-tools')!;
  assert.equal(tools['summary'], { pass: 0, fail: 0, warn: 0, error: 0, skip: 1 });
  const printed = expectOk(await harness.kubectl(['get', 'policyreport', '-n', 'payments']), 'kubectl get policyreport');
  assert.match(printed.stdout, /entra-rbac-guard\s+\d+\s+3\s+0\s+0\s+0/, `the printer columns read our summary:\n${printed.stdout}`);
});

Audit('openreports :: kubectl apply, with its validation on, creates them; stored exactly as written, the same results as the PolicyReports', async (context) => {
  const { harness } = context;
  expectOk(await harness.kubectl(['apply', '-f', join(LOCAL_FIXTURES, 'openreports-crds.yaml')]), 'apply the OpenReports CRDs');
  expectOk(await harness.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', 'crd/clusterreports.openreports.io', '--timeout=30s']), 'CRDs established');
  const yaml = expectExit(await audit(context, '--output', 'openreports'), 1, 'audit --output openreports').stdout;
  const written = parseAllDocuments(yaml).map((document) => document.toJS() as Json);
  assert.ok(written.every((report) => report['apiVersion'] === 'openreports.io/v1alpha1' && report['source'] === 'entra-rbac-guard'));
  assert.equal(
    written.map((report) => `${report['kind']} ${report['metadata']['namespace'] ?? ''}`).sort(),
    ['ClusterReport ', 'Report kube-public', 'Report kube-system', 'Report payments', 'Report platform-tools'],
  );
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: yaml }), 'kubectl apply the reports (client-side validation on)');
  const stored = [
    ...(JSON.parse(expectOk(await harness.kubectl(['get', 'reports.openreports.io', '--all-namespaces', '-o', 'json']), 'get').stdout)['items'] as Json[]),
    ...(JSON.parse(expectOk(await harness.kubectl(['get', 'clusterreports.openreports.io', '-o', 'json']), 'get').stdout)['items'] as Json[]),
  ];
  assert.is(stored.length, written.length);
  const policyReports = parseAllDocuments(expectExit(await audit(context, '--output', 'policyreport'), 1, 'policyreport').stdout).map((document) => document.toJS() as Json);
  const withoutTimes = (results: Json[]) => results.map(({ timestamp: _time, ...rest }) => rest);
  for (const report of written) {
    const namespace = report['metadata']['namespace'];
    const kept = stored.find((item) => item['kind'] === report['kind'] && item['metadata']['namespace'] === namespace)!;
    assert.ok(kept, `${report['kind']} ${namespace ?? ''} was created`);
    assert.equal([kept['results'], kept['summary'], kept['source']], [report['results'], report['summary'], report['source']], 'nothing pruned');
    const twin = policyReports.find((other) => other['metadata']['namespace'] === namespace)!;
    assert.equal(withoutTimes(report['results']), withoutTimes(twin['results']), `${namespace ?? 'cluster'}: the same results as the PolicyReport`);
  }
  const printed = expectOk(await harness.kubectl(['get', 'reports.openreports.io', '-n', 'payments']), 'kubectl get reports');
  assert.match(printed.stdout, /entra-rbac-guard\s+\d+\s+3\s+0\s+0\s+0/, `the printer columns read our summary:\n${printed.stdout}`);
});

Audit.run();
