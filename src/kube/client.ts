/**
 * Finding the cluster the way kubectl does (client-go's loading rules):
 *
 * 1. `--kubeconfig FILE` (or ENTRA_RBAC_GUARD_KUBECONFIG): that file alone, which must exist;
 * 2. else `KUBECONFIG`: its files, merged as kubectl merges them (the first file to set a value wins; files that do
 *    not exist are skipped, but at least one must);
 * 3. else `~/.kube/config`, when it exists;
 * 4. else, in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set, a service-account token mounted), the
 *    pod's service account, its token re-read from disk as the kubelet rotates it.
 *
 * `--context NAME` (or ENTRA_RBAC_GUARD_CONTEXT) picks a context of the kubeconfig instead of its current-context.
 * Whatever is missing or wrong is a {@link ClusterConfigError} naming it, never a silent fall back to localhost.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';

/** Where the kubelet mounts a pod's service-account token, CA certificate and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class ClusterConfigError extends Error {
  override readonly name = 'ClusterConfigError';
  readonly code = 'ERB_KUBE_CONFIG';
}

export interface ClusterOptions {
  /** `--kubeconfig FILE`. */
  readonly kubeconfig?: string | undefined;
  /** `--context NAME`. */
  readonly context?: string | undefined;
  /** Read for KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  readonly env: NodeJS.ProcessEnv;
  /** Where the service-account files are (tests point it elsewhere). */
  readonly serviceAccountDir?: string | undefined;
}

export interface ClusterConnection {
  readonly kubeConfig: KubeConfig;
  /** For the start-up log: where the configuration came from, the context and the server. Never a credential. */
  readonly description: string;
  /** The namespace of the context, or of the pod's service account; undefined when neither says. */
  readonly namespace: string | undefined;
}

/** The cluster configuration kubectl would use, or an error saying what is missing. Reads files; makes no request. */
export function connectCluster(options: ClusterOptions): ClusterConnection {
  const { env } = options;
  const explicit = options.kubeconfig;
  if (explicit) {
    if (!existsSync(explicit)) throw new ClusterConfigError(`--kubeconfig ${explicit}: no such file`);
    return fromKubeconfig([explicit], `--kubeconfig ${explicit}`, options.context);
  }
  const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).filter(Boolean);
  if (fromEnv.length > 0) {
    const present = fromEnv.filter((file) => existsSync(file));
    if (present.length === 0) throw new ClusterConfigError(`KUBECONFIG=${env['KUBECONFIG']}: none of these files exists`);
    return fromKubeconfig(present, `KUBECONFIG ${present.join(delimiter)}`, options.context);
  }
  const home = env['HOME'] || homedir();
  const homeConfig = join(home, '.kube', 'config');
  if (existsSync(homeConfig)) return fromKubeconfig([homeConfig], homeConfig, options.context);

  const serviceAccountDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  const tokenFile = join(serviceAccountDir, 'token');
  if (host && port && existsSync(tokenFile)) {
    if (options.context) {
      throw new ClusterConfigError(
        `--context ${options.context}: there is no kubeconfig to take it from (in a pod without one, the pod's service account is the only identity); give --kubeconfig too, or drop --context`,
      );
    }
    return inCluster(host, port, serviceAccountDir);
  }
  throw new ClusterConfigError(
    'no cluster configuration found: no --kubeconfig (ENTRA_RBAC_GUARD_KUBECONFIG), KUBECONFIG is not set, ' +
      `${homeConfig} does not exist, and this is not a pod with a service account ` +
      `(${host && port ? `no token at ${tokenFile}` : 'KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set'}). ` +
      'Give --kubeconfig FILE (and --context NAME), or run in a pod with a service account.',
  );
}

interface KubeconfigDocument {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string | undefined;
}

/** Loads and merges kubeconfig files like kubectl: the first file to name a cluster, user or context, or the current-context, wins. */
function fromKubeconfig(files: readonly string[], origin: string, contextName: string | undefined): ClusterConnection {
  const merged: KubeconfigDocument = { clusters: [], users: [], contexts: [], currentContext: undefined };
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromString(readFileSync(file, 'utf8'));
      // Relative certificate-authority, client-certificate, tokenFile… paths are relative to the file's directory.
      one.makePathsAbsolute(dirname(resolve(file)));
    } catch (error) {
      throw new ClusterConfigError(`${file}: not a usable kubeconfig (${(error as Error).message})`);
    }
    mergeNamed(merged.clusters, one.getClusters());
    mergeNamed(merged.users, one.getUsers());
    mergeNamed(merged.contexts, one.getContexts());
    merged.currentContext ||= one.getCurrentContext() || undefined;
  }
  const names = merged.contexts.map((context) => context.name);
  const known = names.length > 0 ? `its contexts are ${names.join(', ')}` : 'it has no context';
  const chosen = contextName ?? merged.currentContext;
  if (!chosen) throw new ClusterConfigError(`${origin}: no current-context is set: pass --context NAME (${known})`);
  const context = merged.contexts.find((candidate) => candidate.name === chosen);
  if (!context) {
    throw new ClusterConfigError(
      contextName ? `--context ${contextName}: no such context in ${origin} (${known})` : `${origin}: its current-context "${chosen}" is not among its contexts (${known})`,
    );
  }
  const cluster = merged.clusters.find((candidate) => candidate.name === context.cluster);
  if (!cluster) throw new ClusterConfigError(`${origin}: context "${chosen}" names cluster "${context.cluster}", which it does not define`);
  if (context.user && !merged.users.some((candidate) => candidate.name === context.user)) {
    throw new ClusterConfigError(`${origin}: context "${chosen}" names user "${context.user}", which it does not define`);
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ ...merged, currentContext: chosen });
  return {
    kubeConfig,
    description: `${origin}, context ${chosen}, server ${cluster.server}`,
    namespace: context.namespace || undefined,
  };
}

function mergeNamed<T extends { readonly name: string }>(into: T[], from: readonly T[]): void {
  for (const item of from) if (!into.some((existing) => existing.name === item.name)) into.push(item);
}

/** The pod's service account: the API server through the kubernetes Service, the mounted CA, the rotating token. */
function inCluster(host: string, port: string, serviceAccountDir: string): ClusterConnection {
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const namespaceFile = join(serviceAccountDir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() || undefined : undefined;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile: join(serviceAccountDir, 'ca.crt'), skipTLSVerify: false }],
    // client-node's tokenFile provider re-reads the file, so a projected token the kubelet rotates keeps working.
    users: [{ name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: join(serviceAccountDir, 'token') } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account', ...(namespace ? { namespace } : {}) }],
    currentContext: 'in-cluster',
  });
  return { kubeConfig, description: `in-cluster service account${namespace ? ` (namespace ${namespace})` : ''}, server ${server}`, namespace };
}
