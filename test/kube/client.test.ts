/**
 * Finding the cluster as kubectl does, from files in a temp dir and a given environment (never the machine's own):
 * --kubeconfig, KUBECONFIG (merged), ~/.kube/config, the pod's service account; --context; and each way it can be
 * wrong, named.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterConfigError, connectCluster, type ClusterOptions } from '../../src/kube/client.ts';

// --- helpers -------------------------------------------------------------------------------------------------------

interface Context {
  dir: string;
}

const Client = suite<Context>('kube client: finding the cluster like kubectl', { dir: '' });

Client.before.each((context) => {
  context.dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-kube-client-'));
});

Client.after.each((context) => {
  rmSync(context.dir, { recursive: true, force: true });
});

interface KubeconfigSpec {
  readonly current?: string;
  /** name → server */
  readonly clusters?: Record<string, string>;
  /** name → [cluster, user, namespace?] */
  readonly contexts?: Record<string, readonly [string, string, string?]>;
  readonly users?: readonly string[];
}

function writeKubeconfig(path: string, spec: KubeconfigSpec): string {
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: Object.entries(spec.clusters ?? {}).map(([name, server]) => ({ name, cluster: { server, 'certificate-authority': 'ca.crt' } })),
    users: (spec.users ?? []).map((name) => ({ name, user: { token: `token-of-${name}` } })),
    contexts: Object.entries(spec.contexts ?? {}).map(([name, [cluster, user, namespace]]) => ({ name, context: { cluster, user, ...(namespace ? { namespace } : {}) } })),
    ...(spec.current ? { 'current-context': spec.current } : {}),
  };
  writeFileSync(path, JSON.stringify(document));
  return path;
}

const TWO_CONTEXTS: KubeconfigSpec = {
  current: 'admin',
  clusters: { e2e: 'https://127.0.0.1:6443', other: 'https://10.0.0.1:443' },
  users: ['admin', 'webhook'],
  contexts: { admin: ['e2e', 'admin'], webhook: ['e2e', 'webhook', 'entra-rbac-guard'], elsewhere: ['other', 'admin'] },
};

/** An environment with nothing kubectl would find: HOME is an empty dir, no KUBECONFIG, not a pod. */
function emptyEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  return { HOME: home, ...extra };
}

function connectError(options: ClusterOptions): string {
  try {
    connectCluster(options);
  } catch (error) {
    assert.instance(error, ClusterConfigError);
    assert.is((error as ClusterConfigError).code, 'ERB_KUBE_CONFIG');
    return (error as Error).message;
  }
  throw new Error('connectCluster should have failed');
}

/** The Authorization header client-node would send (it reads the CA file too, so one must exist). */
async function bearer(options: ClusterOptions): Promise<string | undefined> {
  const { kubeConfig } = connectCluster(options);
  const caFile = kubeConfig.getCurrentCluster()?.caFile;
  if (caFile) writeFileSync(caFile, 'not read as a certificate here');
  const headers: Record<string, string> = {};
  await kubeConfig.applyToHTTPSOptions({ headers });
  return headers['Authorization'];
}

// --- where the configuration comes from ----------------------------------------------------------------------------

Client('--kubeconfig FILE :: its current-context, server and user', async ({ dir }) => {
  const file = writeKubeconfig(join(dir, 'kubeconfig'), TWO_CONTEXTS);
  const connection = connectCluster({ kubeconfig: file, env: emptyEnv(dir) });
  assert.is(connection.kubeConfig.getCurrentContext(), 'admin');
  assert.is(connection.kubeConfig.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  assert.is(connection.kubeConfig.getCurrentCluster()?.caFile, join(dir, 'ca.crt'), 'a relative path is relative to the kubeconfig');
  assert.is(connection.description, `--kubeconfig ${file}, context admin, server https://127.0.0.1:6443`);
  assert.is(connection.namespace, undefined);
  assert.is(await bearer({ kubeconfig: file, env: emptyEnv(dir) }), 'Bearer token-of-admin');
});

Client('--kubeconfig FILE --context NAME :: that context, its user and namespace', async ({ dir }) => {
  const file = writeKubeconfig(join(dir, 'kubeconfig'), TWO_CONTEXTS);
  const options = { kubeconfig: file, context: 'webhook', env: emptyEnv(dir) };
  const connection = connectCluster(options);
  assert.is(connection.kubeConfig.getCurrentContext(), 'webhook');
  assert.is(connection.namespace, 'entra-rbac-guard');
  assert.is(await bearer(options), 'Bearer token-of-webhook');
});

Client('--kubeconfig wins over KUBECONFIG and ~/.kube/config', ({ dir }) => {
  const chosen = writeKubeconfig(join(dir, 'chosen'), { ...TWO_CONTEXTS, current: 'elsewhere' });
  const fromEnv = writeKubeconfig(join(dir, 'from-env'), TWO_CONTEXTS);
  const env = emptyEnv(dir, { KUBECONFIG: fromEnv });
  mkdirSync(join(env['HOME']!, '.kube'));
  writeKubeconfig(join(env['HOME']!, '.kube', 'config'), TWO_CONTEXTS);
  assert.is(connectCluster({ kubeconfig: chosen, env }).kubeConfig.getCurrentCluster()?.server, 'https://10.0.0.1:443');
});

Client('KUBECONFIG with two files :: merged as kubectl does, the first file to set a value wins; missing files skipped', ({ dir }) => {
  const first = writeKubeconfig(join(dir, 'first'), { current: 'webhook', clusters: { e2e: 'https://first:6443' }, users: ['webhook'], contexts: { webhook: ['e2e', 'webhook'] } });
  const second = writeKubeconfig(join(dir, 'second'), { current: 'admin', ...{ clusters: { e2e: 'https://second:6443', other: 'https://other:443' } }, users: ['admin'], contexts: { admin: ['other', 'admin'] } });
  const env = emptyEnv(dir, { KUBECONFIG: [join(dir, 'missing'), first, second].join(':') });
  const merged = connectCluster({ env });
  assert.is(merged.kubeConfig.getCurrentContext(), 'webhook', "the first file's current-context");
  assert.is(merged.kubeConfig.getCurrentCluster()?.server, 'https://first:6443', "the first file's cluster e2e");
  assert.is(connectCluster({ env, context: 'admin' }).kubeConfig.getCurrentCluster()?.server, 'https://other:443', 'a context only the second file has');
  assert.match(merged.description, /^KUBECONFIG .*first:.*second, context webhook, server https:\/\/first:6443$/);
});

Client('~/.kube/config :: used when nothing else is given', ({ dir }) => {
  const env = emptyEnv(dir);
  mkdirSync(join(env['HOME']!, '.kube'));
  const file = writeKubeconfig(join(env['HOME']!, '.kube', 'config'), TWO_CONTEXTS);
  assert.is(connectCluster({ env }).description, `${file}, context admin, server https://127.0.0.1:6443`);
});

Client("in a pod :: the service account: the kubernetes Service, the mounted CA, the token file, the pod's namespace", async ({ dir }) => {
  const serviceAccountDir = join(dir, 'serviceaccount');
  mkdirSync(serviceAccountDir);
  writeFileSync(join(serviceAccountDir, 'token'), 'projected-token');
  writeFileSync(join(serviceAccountDir, 'namespace'), 'entra-rbac-guard');
  const options = { env: emptyEnv(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), serviceAccountDir };
  const connection = connectCluster(options);
  assert.is(connection.kubeConfig.getCurrentCluster()?.server, 'https://10.96.0.1:443');
  assert.is(connection.kubeConfig.getCurrentCluster()?.caFile, join(serviceAccountDir, 'ca.crt'));
  assert.is(connection.namespace, 'entra-rbac-guard');
  assert.is(connection.description, 'in-cluster service account (namespace entra-rbac-guard), server https://10.96.0.1:443');
  assert.is(await bearer(options), 'Bearer projected-token');
  const ipv6 = connectCluster({ ...options, env: emptyEnv(dir, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }) });
  assert.is(ipv6.kubeConfig.getCurrentCluster()?.server, 'https://[fd00::1]:443');
});

Client('in a pod with KUBECONFIG set :: KUBECONFIG wins, as with kubectl', ({ dir }) => {
  const serviceAccountDir = join(dir, 'serviceaccount');
  mkdirSync(serviceAccountDir);
  writeFileSync(join(serviceAccountDir, 'token'), 'projected-token');
  const file = writeKubeconfig(join(dir, 'kubeconfig'), TWO_CONTEXTS);
  const connection = connectCluster({ env: emptyEnv(dir, { KUBECONFIG: file, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), serviceAccountDir });
  assert.is(connection.kubeConfig.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
});

// --- what can be wrong, named --------------------------------------------------------------------------------------

const FAILURES: ReadonlyArray<{ readonly name: string; readonly options: (dir: string) => ClusterOptions; readonly message: (dir: string) => string | RegExp }> = [
  {
    name: 'nothing at all (not a pod, no kubeconfig anywhere)',
    options: (dir) => ({ env: emptyEnv(dir), serviceAccountDir: join(dir, 'none') }),
    message: (dir) =>
      `no cluster configuration found: no --kubeconfig (ENTRA_RBAC_GUARD_KUBECONFIG), KUBECONFIG is not set, ${join(dir, 'home', '.kube', 'config')} does not exist, ` +
      'and this is not a pod with a service account (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set). Give --kubeconfig FILE (and --context NAME), or run in a pod with a service account.',
  },
  {
    name: 'the kubernetes Service is in the environment but no token is mounted',
    options: (dir) => ({ env: emptyEnv(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), serviceAccountDir: join(dir, 'none') }),
    message: (dir) => new RegExp(`this is not a pod with a service account \\(no token at ${join(dir, 'none', 'token')}\\)`),
  },
  {
    name: '--kubeconfig names a file that does not exist',
    options: (dir) => ({ kubeconfig: join(dir, 'nope'), env: emptyEnv(dir) }),
    message: (dir) => `--kubeconfig ${join(dir, 'nope')}: no such file`,
  },
  {
    name: 'KUBECONFIG names only files that do not exist',
    options: (dir) => ({ env: emptyEnv(dir, { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` }) }),
    message: (dir) => `KUBECONFIG=${join(dir, 'a')}:${join(dir, 'b')}: none of these files exists`,
  },
  {
    name: '--context names a context the kubeconfig does not have',
    options: (dir) => ({ kubeconfig: writeKubeconfig(join(dir, 'kubeconfig'), TWO_CONTEXTS), context: 'prod', env: emptyEnv(dir) }),
    message: (dir) => `--context prod: no such context in --kubeconfig ${join(dir, 'kubeconfig')} (its contexts are admin, webhook, elsewhere)`,
  },
  {
    name: 'no current-context and no --context',
    options: (dir) => ({ kubeconfig: writeKubeconfig(join(dir, 'kubeconfig'), { ...TWO_CONTEXTS, current: '' }), env: emptyEnv(dir) }),
    message: (dir) => `--kubeconfig ${join(dir, 'kubeconfig')}: no current-context is set: pass --context NAME (its contexts are admin, webhook, elsewhere)`,
  },
  {
    name: 'the current-context is not defined',
    options: (dir) => ({ kubeconfig: writeKubeconfig(join(dir, 'kubeconfig'), { ...TWO_CONTEXTS, current: 'gone' }), env: emptyEnv(dir) }),
    message: (dir) => `--kubeconfig ${join(dir, 'kubeconfig')}: its current-context "gone" is not among its contexts (its contexts are admin, webhook, elsewhere)`,
  },
  {
    name: 'the context names a cluster that is not defined',
    options: (dir) => ({ kubeconfig: writeKubeconfig(join(dir, 'kubeconfig'), { ...TWO_CONTEXTS, contexts: { admin: ['missing', 'admin'] } }), env: emptyEnv(dir) }),
    message: (dir) => `--kubeconfig ${join(dir, 'kubeconfig')}: context "admin" names cluster "missing", which it does not define`,
  },
  {
    name: 'the context names a user that is not defined',
    options: (dir) => ({ kubeconfig: writeKubeconfig(join(dir, 'kubeconfig'), { ...TWO_CONTEXTS, users: [] }), env: emptyEnv(dir) }),
    message: (dir) => `--kubeconfig ${join(dir, 'kubeconfig')}: context "admin" names user "admin", which it does not define`,
  },
  {
    name: 'the file is not a kubeconfig',
    options: (dir) => {
      writeFileSync(join(dir, 'kubeconfig'), 'clusters: [{name: x}]\n');
      return { kubeconfig: join(dir, 'kubeconfig'), env: emptyEnv(dir) };
    },
    message: (dir) => new RegExp(`^${join(dir, 'kubeconfig')}: not a usable kubeconfig \\(`),
  },
  {
    name: '--context in a pod without a kubeconfig',
    options: (dir) => {
      mkdirSync(join(dir, 'sa'));
      writeFileSync(join(dir, 'sa', 'token'), 't');
      return { context: 'admin', env: emptyEnv(dir, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), serviceAccountDir: join(dir, 'sa') };
    },
    message: () => /^--context admin: there is no kubeconfig to take it from/,
  },
];

for (const failure of FAILURES) {
  Client(`error :: ${failure.name} :: ClusterConfigError naming it`, ({ dir }) => {
    const message = connectError(failure.options(dir));
    const expected = failure.message(dir);
    if (typeof expected === 'string') assert.is(message, expected);
    else assert.match(message, expected);
  });
}

Client.run();
