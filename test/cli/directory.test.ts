/**
 * The CLI with Microsoft Graph: bin/entra-rbac-guard (which loads dist/, so `make build` first) spawned with this
 * Node.js 24, its environment the test's plus what Azure Workload Identity gives a pod, pointed at the loopback fakes
 * (Entra token endpoint and Graph, running in this process). NODE_EXTRA_CA_CERTS is inherited, so the child trusts the
 * fakes' CA exactly as the test process does.
 *
 * Every test starts its own fakes and work directory and closes them in `finally`; every child is bounded in time
 * and killed at the end of its test, even when the test fails.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { CLIENT_SECRET, FEDERATED_TOKEN, startFakes, within, type Fakes } from '../fakes/harness.ts';
import { RECORDED_REVIEWS } from '../helpers.ts';
import { runCli, startCli, stopCli, type Ran, type Started } from './spawn-cli.ts';


const PAYMENTS: FakeGroup = { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Team', securityEnabled: true };
const M365: FakeGroup = { id: '8f14e45f-ceea-467f-a0e6-0f1d2c3b4a59', displayName: 'Payments (Microsoft 365)', securityEnabled: false };
const RETAIL: FakeGroup = { id: 'c9f0f895-fb98-4b91-99f5-1a2b3c4d5e6f', displayName: 'Retail Developers', securityEnabled: true };
/** PAYMENTS with two digits swapped: the typo a CI check must catch. */
const TYPO = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1d2c';

type Json = Record<string, any>;

// --- child processes -------------------------------------------------------------------------------------------

/** The test's environment without ENTRA_RBAC_GUARD_* or AZURE_* settings, plus `extra` (an undefined value removes). */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_') && !name.startsWith('AZURE_')),
  );
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

const start = startCli;
const kill = stopCli;
const run = (args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<Ran> => runCli(args, env, { timeoutMs });

// --- fakes and files -------------------------------------------------------------------------------------------

interface Workspace {
  readonly fakes: Fakes;
  readonly dir: string;
  /** The fakes' workload-identity environment, over the test's own. */
  readonly env: NodeJS.ProcessEnv;
  file(name: string, text: string): Promise<string>;
}

/** Fresh fakes and a work directory for one test, always closed and removed. */
async function withWorkspace(work: (workspace: Workspace) => Promise<void>): Promise<void> {
  const fakes = await within(10_000, startFakes([PAYMENTS, M365, RETAIL]), 'starting the fakes');
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'erg-cli-directory-'));
    const workdir = dir;
    await work({
      fakes,
      dir: workdir,
      env: childEnv(fakes.env),
      async file(name, text) {
        const path = join(workdir, name);
        await writeFile(path, text);
        return path;
      },
    });
  } finally {
    try {
      await within(10_000, fakes.close(), 'closing the fakes');
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }
}

function binding(name: string, groupId: string): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${name}
  namespace: payments
subjects:
  - kind: Group
    apiGroup: rbac.authorization.k8s.io
    name: ${groupId}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
`;
}

/** A security group (fine), a Microsoft 365 group and a typo'd object ID (both denied). */
const MIXED = [binding('payments-viewers', PAYMENTS.id), binding('payments-m365', M365.id), binding('payments-typo', TYPO)].join('---\n');
const COMPLIANT = binding('payments-viewers', PAYMENTS.id);

function json(ran: Ran): Json {
  try {
    return JSON.parse(ran.stdout) as Json;
  } catch {
    assert.unreachable(`stdout is not JSON: ${ran.stdout}\nstderr: ${ran.stderr}`);
    throw new Error('unreachable');
  }
}

/** Each result of `check --output json` as `name: allowed|denied rule:action,…`. */
function verdicts(report: Json): string[] {
  return (report['results'] as Json[]).map(
    (result) =>
      `${result['name']}: ${result['allowed'] ? 'allowed' : 'denied'} ${(result['violations'] as Json[]).map((v) => `${v['rule']}:${v['action']}`).join(',')}`,
  );
}

/** No secret, whole, anywhere in the text. */
function assertNoSecret(text: string, secrets: Readonly<Record<string, string>>, where: string): void {
  for (const [name, value] of Object.entries(secrets)) assert.not.ok(text.includes(value), `the ${name} appears in ${where}`);
}

// ---------------------------------------------------------------------------------------------------------------
const Check = suite('cli check with Microsoft Graph');

Check('check :: workload identity :: typo\'d GUID denied group-unknown, M365 group denied, exit 1; groups asked in one $batch', async () => {
  await withWorkspace(async ({ fakes, env, file }) => {
    const path = await file('mixed.yaml', MIXED);
    const ran = await run(['check', path], env);
    assert.is(ran.code, 1, ran.stdout + ran.stderr);
    const lines = ran.stdout.split('\n');
    assert.ok(lines.includes(`ok     RoleBinding payments/payments-viewers  (${path}#1)`), ran.stdout);
    assert.ok(lines.includes(`DENIED RoleBinding payments/payments-m365  (${path}#2)`), ran.stdout);
    assert.ok(lines.includes(`DENIED RoleBinding payments/payments-typo  (${path}#3)`), ran.stdout);
    assert.ok(
      lines.some((line) => line.startsWith(`  deny RoleBinding payments/payments-typo binds Group "${TYPO}" [group-unknown]: no group with this object ID exists in Microsoft Entra ID (Microsoft Graph)`)),
      ran.stdout,
    );
    assert.ok(lines.some((line) => line.includes(`Group "${M365.id}" ("${M365.displayName}") [group-not-security-enabled]`)), ran.stdout);
    assert.not.match(ran.stdout, /not checked in Microsoft Entra ID/, 'the groups were checked');
    assert.is(fakes.graph.batchCalls, 1, 'the three groups went out as one $batch');
    assert.is(fakes.graph.calls, 1);
    assert.ok(fakes.graph.requests[0]?.authorized);
    assert.is(fakes.entra.tokenRequests.at(-1)?.clientAssertion, FEDERATED_TOKEN, 'the child read the federated token file');
    assertNoSecret(ran.stdout + ran.stderr, { 'access token': fakes.entra.accessToken }, 'the output of check');
  });
});

Check('check :: workload identity :: compliant manifest :: exit 0, checked against Graph', async () => {
  await withWorkspace(async ({ fakes, env, file }) => {
    const ran = await run(['check', '--output', 'json', await file('ok.yaml', COMPLIANT)], env);
    assert.is(ran.code, 0, ran.stdout + ran.stderr);
    const report = json(ran);
    assert.equal(verdicts(report), ['payments-viewers: allowed ']);
    assert.is(report['results'][0]['notes'], undefined, 'no "not checked" note: Graph answered');
    assert.is(fakes.graph.getCalls, 1);
  });
});

Check('check :: client secret :: verified against Graph; the secret never printed', async () => {
  await withWorkspace(async ({ fakes, file }) => {
    const env = childEnv({ ...fakes.env, AZURE_FEDERATED_TOKEN_FILE: undefined, AZURE_CLIENT_SECRET: CLIENT_SECRET });
    const ran = await run(['check', await file('mixed.yaml', MIXED)], env);
    assert.is(ran.code, 1, ran.stdout + ran.stderr);
    assert.match(ran.stdout, /\[group-unknown\]/);
    assert.ok(fakes.entra.tokenRequests.some((request) => request.usedClientSecret && request.issued));
    assertNoSecret(ran.stdout + ran.stderr, { 'client secret': CLIENT_SECRET, 'access token': fakes.entra.accessToken }, 'the output of check');
  });
});

Check('check :: Graph failing (503), onError deny :: exit 1, each group directory-unavailable with the reason', async () => {
  await withWorkspace(async ({ fakes, env, file }) => {
    fakes.graph.failure = { kind: 'status', status: 503 };
    const ran = await run(['check', '--output', 'json', await file('ok.yaml', COMPLIANT)], env);
    assert.is(ran.code, 1, ran.stdout + ran.stderr);
    const report = json(ran);
    assert.equal(verdicts(report), ['payments-viewers: denied directory-unavailable:deny']);
    assert.match(report['results'][0]['violations'][0]['message'], new RegExp(`Group "${PAYMENTS.id}" \\[directory-unavailable\\].*HTTP 503`));
  });
});

Check('check :: AZURE_FEDERATED_TOKEN_FILE without AZURE_TENANT_ID :: exit 2 naming AZURE_TENANT_ID, no Graph call', async () => {
  await withWorkspace(async ({ fakes, file }) => {
    const env = childEnv({ ...fakes.env, AZURE_TENANT_ID: undefined });
    const ran = await run(['check', await file('ok.yaml', COMPLIANT)], env);
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, /AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID is not/);
    assert.is(ran.stdout, '');
    assert.is(fakes.graph.calls, 0);
    assert.is(fakes.entra.requests.length, 0);
  });
});

Check('check :: --cloud mars :: exit 2 listing the clouds', async () => {
  await withWorkspace(async ({ fakes, env, file }) => {
    const path = await file('ok.yaml', COMPLIANT);
    const ran = await run(['check', '--cloud', 'mars', path], env);
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, /--cloud must be one of public, usgov, usgov-dod, china, got "mars"/);
    const fromEnv = await run(['check', path], { ...env, ENTRA_RBAC_GUARD_CLOUD: 'mars' });
    assert.is(fromEnv.code, 2, fromEnv.stdout + fromEnv.stderr);
    assert.match(fromEnv.stderr, /got "mars"/);
    assert.is(fakes.graph.calls, 0);
  });
});

Check.run();

// ---------------------------------------------------------------------------------------------------------------
const Export = suite('cli directory export');

Export('directory export --id ID manifests :: snapshot YAML; check --directory gives the same verdicts, no Graph call', async () => {
  await withWorkspace(async ({ fakes, env, file }) => {
    const manifests = await file('mixed.yaml', MIXED);
    const exported = await run(['directory', 'export', '--id', RETAIL.id, manifests], env);
    assert.is(exported.code, 0, exported.stdout + exported.stderr);
    assert.is(exported.stderr, '');
    assert.match(exported.stdout, /^# Directory snapshot for entra-rbac-guard --directory, exported from Microsoft Graph\.$/m);
    assert.match(exported.stdout, new RegExp(`^# Not found \\(check reports them as group-unknown\\): ${TYPO}$`, 'm'));
    const snapshot = parseYaml(exported.stdout) as Json;
    assert.equal(
      snapshot['groups'],
      [PAYMENTS, RETAIL, M365]
        .map(({ id, displayName, securityEnabled }) => ({ id, displayName, securityEnabled }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
    const snapshotPath = await file('groups.yaml', exported.stdout);

    const viaGraph = await run(['check', '--output', 'json', manifests], env);
    fakes.graph.resetCounters();
    const viaSnapshot = await run(['check', '--output', 'json', '--directory', snapshotPath, manifests], env);
    assert.is(viaSnapshot.code, viaGraph.code, viaSnapshot.stdout + viaSnapshot.stderr);
    assert.is(viaSnapshot.code, 1);
    assert.equal(verdicts(json(viaSnapshot)), verdicts(json(viaGraph)));
    assert.equal(verdicts(json(viaSnapshot)), [
      'payments-viewers: allowed ',
      'payments-m365: denied group-not-security-enabled:deny',
      'payments-typo: denied group-unknown:deny',
    ]);
    assert.is(fakes.graph.calls, 0, '--directory wins over Graph: no call');

    // The group given only with --id is in the snapshot too: a binding of it passes offline.
    const retail = await run(['check', '--directory', snapshotPath, await file('retail.yaml', binding('retail-viewers', RETAIL.id))], env);
    assert.is(retail.code, 0, retail.stdout + retail.stderr);
    assert.match(retail.stdout, /^ok {5}RoleBinding payments\/retail-viewers/m);
  });
});

Export('directory export with Graph failing (503) :: exit 2 naming the group and the reason', async () => {
  await withWorkspace(async ({ fakes, env }) => {
    fakes.graph.failure = { kind: 'status', status: 503 };
    const ran = await run(['directory', 'export', '--id', PAYMENTS.id], env);
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, new RegExp(`^entra-rbac-guard: group ${PAYMENTS.id} could not be looked up in Microsoft Graph: Microsoft Graph answered HTTP 503`, 'm'));
    assert.is(fakes.graph.calls, 1);
  });
});

Export.run();

// ---------------------------------------------------------------------------------------------------------------
const Serve = suite('cli serve with Microsoft Graph');

interface LogLine {
  readonly msg?: string;
  readonly [field: string]: unknown;
}

function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Waits for a JSON log line on stdout that `match` accepts; fails with what the process printed. */
async function logLine(started: Started, match: (line: LogLine) => boolean, timeoutMs: number): Promise<{ line: LogLine; lines: LogLine[] }> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void started.exited.then(() => (exited = true));
  for (;;) {
    const lines = logLines(started.stdout());
    const line = lines.find(match);
    if (line) return { line, lines };
    if (exited || Date.now() > deadline) {
      assert.unreachable(`no such log line (${exited ? 'the process exited' : 'timed out'}).\nstdout: ${started.stdout()}\nstderr: ${started.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function httpsCall(url: string, ca: string, method: 'GET' | 'POST', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, agent: false, timeout: 5000, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 5000 ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const FIXTURE = JSON.parse(readFileSync(`${RECORDED_REVIEWS}01-CREATE-RoleBinding-payments-viewers.json`, 'utf8')) as Json;

function reviewNaming(uid: string, groupId: string): string {
  const review = structuredClone(FIXTURE);
  review['request']['uid'] = uid;
  review['request']['object']['subjects'] = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: groupId }];
  return JSON.stringify(review);
}

Serve('serve --port 0 :: logs Graph with workload identity, denies an unknown group over HTTPS, stays ready in an outage, exits 0 on SIGTERM', async () => {
  await withWorkspace(async ({ fakes, env }) => {
    const started = start(['serve', '--port', '0', '--log-level', 'info', '--drain-period', '0s'], env);
    let caDir: string | undefined;
    try {
      const { line, lines } = await logLine(started, (entry) => entry.msg === 'entra-rbac-guard is serving', 20_000);
      const directory = String(line['directory']);
      assert.match(directory, /Microsoft Graph/);
      assert.match(directory, /workload identity/);
      assert.ok(directory.includes(fakes.graph.endpoint), directory);
      const url = String(line['url']);
      const caLine = lines.find((entry) => typeof entry['caCertificate'] === 'string');
      assert.ok(caLine, 'a log line gives the CA certificate path');
      const caPath = String(caLine!['caCertificate']);
      caDir = dirname(caPath);
      const ca = readFileSync(caPath, 'utf8');

      const unknown = await httpsCall(url, ca, 'POST', reviewNaming('6a1e4b0e-1111-4c2d-9e3f-000000000001', TYPO));
      assert.is(unknown.status, 200, unknown.body);
      const denied = (JSON.parse(unknown.body) as Json)['response'] as Json;
      assert.is(denied['uid'], '6a1e4b0e-1111-4c2d-9e3f-000000000001');
      assert.is(denied['allowed'], false);
      assert.is(denied['status']['code'], 403);
      assert.match(String(denied['status']['message']), new RegExp(`Group "${TYPO}" \\[group-unknown\\]`));

      const known = await httpsCall(url, ca, 'POST', reviewNaming('6a1e4b0e-1111-4c2d-9e3f-000000000002', PAYMENTS.id));
      assert.equal((JSON.parse(known.body) as Json)['response'], { uid: '6a1e4b0e-1111-4c2d-9e3f-000000000002', allowed: true });
      assert.is(fakes.graph.calls, 2);

      // Graph goes down: a new group cannot be checked (denied, onError deny), but the webhook stays ready.
      fakes.graph.failure = { kind: 'status', status: 503 };
      const outage = await httpsCall(url, ca, 'POST', reviewNaming('6a1e4b0e-1111-4c2d-9e3f-000000000003', RETAIL.id));
      const outageResponse = (JSON.parse(outage.body) as Json)['response'] as Json;
      assert.is(outageResponse['allowed'], false);
      assert.match(String(outageResponse['status']['message']), new RegExp(`Group "${RETAIL.id}" \\[directory-unavailable\\].*HTTP 503`));
      const ready = await httpsCall(url.replace(/\/validate$/, '/readyz'), ca, 'GET');
      assert.is(ready.status, 200, ready.body);
      const metrics = await httpsCall(url.replace(/\/validate$/, '/metrics'), ca, 'GET');
      assert.match(metrics.body, /^entra_rbac_guard_directory_lookups_total\{outcome="miss"\} 2$/m);
      assert.match(metrics.body, /^entra_rbac_guard_directory_lookups_total\{outcome="error"\} 1$/m);
      assert.match(metrics.body, /^entra_rbac_guard_admission_decisions_total\{result="denied",mode="enforce"\} 2$/m);

      const sent = Date.now();
      started.child.kill('SIGTERM');
      const { code } = await within(5000, started.exited, 'serve after SIGTERM');
      assert.is(code, 0, started.stderr());
      assert.ok(Date.now() - sent < 5000);
      assert.match(started.stdout(), /"signal":"SIGTERM"/);
      const decisions = logLines(started.stdout()).filter((entry) => entry.msg === 'decision');
      assert.is(decisions.length, 3, 'one decision line per review');
      assert.equal(
        decisions.map((entry) => entry['rules']),
        [['group-unknown:deny'], [], ['directory-unavailable:deny']],
        'the log shows which reviews Graph could not serve',
      );
      const output = started.stdout() + started.stderr();
      assertNoSecret(output, { 'access token': fakes.entra.accessToken, 'federated token': FEDERATED_TOKEN }, 'the output of serve');
      for (const body of [unknown.body, known.body, outage.body, ready.body, metrics.body]) {
        assertNoSecret(body, { 'access token': fakes.entra.accessToken, 'federated token': FEDERATED_TOKEN }, 'a response');
      }
    } finally {
      await kill(started);
      if (caDir) await rm(caDir, { recursive: true, force: true });
    }
  });
});

Serve('serve :: AZURE_FEDERATED_TOKEN_FILE without AZURE_CLIENT_ID :: exit 2 naming AZURE_CLIENT_ID, nothing served', async () => {
  await withWorkspace(async ({ fakes }) => {
    const ran = await run(['serve', '--port', '0'], childEnv({ ...fakes.env, AZURE_CLIENT_ID: undefined }));
    assert.is(ran.code, 2, ran.stdout + ran.stderr);
    assert.match(ran.stderr, /AZURE_CLIENT_ID/);
    assert.not.match(ran.stdout, /is serving/);
  });
});

Serve.run();
