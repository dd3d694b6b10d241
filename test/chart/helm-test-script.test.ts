/**
 * The chart's `helm test` script (charts/entra-rbac-guard/files/helm-test.mjs), run as the test pod runs it, against a
 * loopback HTTPS stand-in for the API server that answers as kube-apiserver does: the request it sends, and its verdict
 * on each answer. test/e2e/chart.e2e.ts runs it against a real kube-apiserver and the webhook too.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { CHART } from './helm.ts';

const SCRIPT = join(CHART, 'files', 'helm-test.mjs');
const WEBHOOK = 'bindings.entra-rbac-guard.io';
const TOKEN = 'test-token-1234';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly warning?: string;
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: any;
}

interface Context {
  dir: string;
  server: Server;
  url: string;
  answer: Answer;
  seen: Seen[];
}

const status = (code: number, message: string, reason = 'Forbidden'): Answer => ({
  status: code,
  body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
});
const created: Answer = { status: 201, body: { kind: 'RoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { name: 'x' } } };
const DENIAL = `admission webhook "${WEBHOOK}" denied the request: RoleBinding default/x binds User "helm-test@example.invalid" directly [user-subject]: bind an Entra group`;

function run(context: Context, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], {
      env: {
        PATH: process.env['PATH'] ?? '',
        NAMESPACE: 'default',
        ROLE: 'rel-entra-rbac-guard-test',
        WEBHOOK_NAME: WEBHOOK,
        MODE: 'enforce',
        KUBE_API_URL: context.url,
        KUBE_TOKEN_FILE: join(context.dir, 'token'),
        KUBE_CA_FILE: join(context.dir, 'ca.crt'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const Script = suite<Context>('chart :: helm test script', {} as Context);

Script.before(async (context) => {
  const pair = await generateSelfSigned();
  context.dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-helm-test-'));
  writeFileSync(join(context.dir, 'token'), `${TOKEN}\n`);
  writeFileSync(join(context.dir, 'ca.crt'), pair.ca);
  context.seen = [];
  context.server = createServer({ key: pair.key, cert: pair.cert }, (request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      context.seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: JSON.parse(body || 'null') });
      const { status: code, body: answer, warning } = context.answer;
      response.writeHead(code, { 'content-type': 'application/json', ...(warning ? { warning } : {}) });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => context.server.listen(0, '127.0.0.1', resolve));
  context.url = `https://127.0.0.1:${(context.server.address() as AddressInfo).port}`;
});

Script.before.each((context) => {
  context.seen = [];
});

Script.after((context) => {
  context.server?.close();
  if (context.dir) rmSync(context.dir, { recursive: true, force: true });
});

Script('request :: a dry-run RoleBinding with two violations, to the test Role, with the pod token', async (context) => {
  context.answer = status(403, DENIAL);
  await run(context, {});
  assert.is(context.seen.length, 1);
  const [request] = context.seen;
  assert.is(request!.method, 'POST');
  assert.is(request!.url, '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings?dryRun=All');
  assert.is(request!.headers.authorization, `Bearer ${TOKEN}`);
  assert.is(request!.headers['content-type'], 'application/json');
  const binding = request!.body;
  assert.is(binding.kind, 'RoleBinding');
  assert.is(binding.metadata.namespace, 'default');
  assert.match(binding.metadata.name, /^entra-rbac-guard-helm-test-/);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rel-entra-rbac-guard-test' });
  assert.equal(binding.subjects.map((subject: { kind: string; name: string }) => `${subject.kind}:${subject.name}`), ['User:helm-test@example.invalid', 'Group:system:authenticated']);
});

for (const [name, mode, answer, code, output] of [
  ['enforce :: denied by this webhook naming a rule', 'enforce', status(403, DENIAL), 0, 'PASS: the known-bad RoleBinding was denied'],
  ['enforce :: allowed', 'enforce', created, 1, 'was ALLOWED: the webhook is not enforcing'],
  ['enforce :: the webhook could not be called', 'enforce', status(500, `Internal error occurred: failed calling webhook "${WEBHOOK}": Post "https://rel-entra-rbac-guard.guard.svc:443/validate": no endpoints available`, 'InternalError'), 1, 'the API server could not call the webhook'],
  ['enforce :: denied by another webhook', 'enforce', status(403, 'admission webhook "other.example.com" denied the request: no [user-subject] here'), 1, `expected a denial by webhook "${WEBHOOK}"`],
  ['enforce :: refused by RBAC, not the webhook', 'enforce', status(403, 'rolebindings.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:guard:x" cannot create resource'), 1, 'got 403'],
  ['audit :: allowed with the warning', 'audit', { ...created, warning: '299 - "RoleBinding default/x binds Group \\"system:authenticated\\" [broad-group]: every account"' }, 0, 'PASS: audit mode'],
  ['audit :: allowed without a warning', 'audit', created, 1, 'expected the dry-run RoleBinding to be allowed (201) with a warning'],
  ['audit :: denied', 'audit', status(403, DENIAL), 1, 'audit mode: expected'],
] as const) {
  Script(`verdict :: ${name} :: exit ${code}`, async (context) => {
    context.answer = answer;
    const result = await run(context, { MODE: mode });
    assert.is(result.code, code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout + result.stderr, output);
  });
}

Script('verdict :: the API server cannot be reached :: exit 1, saying so', async (context) => {
  const result = await run(context, { KUBE_API_URL: 'https://127.0.0.1:1' });
  assert.is(result.code, 1);
  assert.match(result.stderr, 'could not reach the API server at https://127.0.0.1:1');
});

Script('verdict :: not in a pod and no KUBE_API_URL :: exit 1, saying so', async (context) => {
  const result = await run(context, { KUBE_API_URL: '' });
  assert.is(result.code, 1);
  assert.match(result.stderr, 'KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
});

Script.run();
