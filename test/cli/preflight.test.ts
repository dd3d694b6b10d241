/**
 * `entra-rbac-guard preflight` as users run it (bin/entra-rbac-guard, so `make build` first): its flags, and exit 2
 * with a message and no stack trace whenever it cannot check. Exit 0 and 1, and the JSON document, are checked
 * against a real kube-apiserver in test/e2e/preflight.e2e.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, type Ran } from './spawn-cli.ts';

interface Context {
  dir: string;
  kubeconfig: string;
}

const preflight = suite<Context>('cli :: preflight', {} as Context);

/** The test's environment without settings that would change what the CLI does. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_') && !name.startsWith('AZURE_') && name !== 'KUBECONFIG');
  return { ...Object.fromEntries(kept), HOME: '/nonexistent-home', ...extra };
}

const run = (args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<Ran> => runCli(['preflight', ...args], env, { timeoutMs: 30_000 });

function expectUsage(ran: Ran, ...texts: string[]): void {
  assert.is(ran.code, 2, `exit 2 expected:\nstdout: ${ran.stdout}\nstderr: ${ran.stderr}`);
  assert.is(ran.stdout, '', 'nothing on standard output');
  for (const text of texts) assert.ok(ran.stderr.includes(text), `"${text}" not in:\n${ran.stderr}`);
  assert.not.match(ran.stderr, /\n\s+at [\w.<]+ \(/, 'no stack trace');
}

function kubeconfigFor(server: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gone', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'x' } }],
    contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
    'current-context': 'gone',
  });
}

preflight.before(async (context) => {
  context.dir = await mkdtemp(join(tmpdir(), 'erg-preflight-cli-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  context.kubeconfig = join(context.dir, 'kubeconfig');
  await writeFile(context.kubeconfig, kubeconfigFor(`https://127.0.0.1:${port}`));
});

preflight.after(async (context) => {
  await rm(context.dir, { recursive: true, force: true });
});

preflight('--output xml :: exit 2, naming the choices', async () => {
  expectUsage(await run(['--output', 'xml']), '--output must be one of table, json, got "xml"');
});

preflight('an unknown flag :: exit 2 with the usage, which lists preflight', async () => {
  expectUsage(await run(['--fail-on', 'warn']), "Unknown option '--fail-on'", '  preflight  Before az aks update --disable-local-accounts');
});

preflight('--policy and --policy-configmap together; a malformed ConfigMap reference :: exit 2', async () => {
  expectUsage(await run(['--policy', 'p.yaml', '--policy-configmap', 'ns/name']), '--policy and --policy-configmap are alternatives');
  expectUsage(await run(['--policy-configmap', 'just-a-name']), '--policy-configmap takes NAMESPACE/NAME, got "just-a-name"');
});

preflight('--cloud mars; --request-timeout soon :: exit 2', async () => {
  expectUsage(await run(['--cloud', 'mars']), '--cloud must be one of');
  expectUsage(await run(['--request-timeout', 'soon']), '"soon" is not a duration');
});

preflight('no cluster configuration at all :: exit 2 saying where it looked', async () => {
  expectUsage(await run([]), 'no cluster configuration found', '--kubeconfig FILE');
  expectUsage(await run(['--kubeconfig', '/nonexistent/kubeconfig']), '--kubeconfig /nonexistent/kubeconfig: no such file');
});

preflight('--context that the kubeconfig lacks :: exit 2 naming its contexts', async ({ kubeconfig }) => {
  expectUsage(await run(['--kubeconfig', kubeconfig, '--context', 'prod']), '--context prod: no such context', 'its contexts are gone');
});

preflight('the API server cannot be reached :: exit 2, what failed and what to check', async ({ kubeconfig }) => {
  const ran = await run(['--kubeconfig', kubeconfig, '--output', 'json']);
  expectUsage(ran, 'cannot list clusterroles cluster-wide: cannot reach the API server at https://127.0.0.1:', 'check the server address in the kubeconfig');
});

preflight('an API server that never answers :: exit 2 after --request-timeout, saying so', async ({ dir }) => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const kubeconfig = join(dir, 'silent-kubeconfig');
    await writeFile(kubeconfig, kubeconfigFor(`https://127.0.0.1:${(silent.address() as AddressInfo).port}`));
    const started = Date.now();
    expectUsage(await run(['--kubeconfig', kubeconfig, '--request-timeout', '1s']), 'did not answer within 1 s (raise --request-timeout');
    assert.ok(Date.now() - started < 20_000, 'it gave up at the timeout');
  } finally {
    silent.close();
  }
});

preflight('the policy file is invalid :: exit 2 before the cluster is asked', async ({ dir, kubeconfig }) => {
  const policy = join(dir, 'policy.yaml');
  await writeFile(policy, 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: sometimes\n');
  expectUsage(await run(['--kubeconfig', kubeconfig, '--policy', policy]), 'invalid policy', 'mode');
});

preflight.run();
