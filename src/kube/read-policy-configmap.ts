import { ApiException, CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { InvalidInputError } from '../admission/narrow.ts';
import type { LoadedPolicy } from '../config.ts';
import type { PolicyProblem } from '../policy/parse.ts';
import { accessError } from './access-error.ts';
import type { ConfigMapRef } from './configmap-ref.ts';
import { PolicyStore } from './policy-store.ts';
import { requestTimeout } from './request-timeout.ts';

export interface ReadOptions {
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly timeoutMs: number;
}

/**
 * The policy in a ConfigMap's key policy.yaml, read once (`audit --policy-configmap`). It goes through the same
 * {@link PolicyStore} as `serve --policy-configmap`, so the key, the parsing and every message are the webhook's.
 * A missing ConfigMap or an invalid policy is an {@link InvalidInputError}; a failed call a ClusterAccessError.
 */
export async function readPolicyConfigMap(kubeConfig: KubeConfig, ref: ConfigMapRef, options: ReadOptions): Promise<LoadedPolicy> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  let configMap: V1ConfigMap | undefined;
  try {
    configMap = await api.readNamespacedConfigMap({ namespace: ref.namespace, name: ref.name }, requestTimeout(options.timeoutMs));
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 404)) {
      throw accessError(error, {
        action: `read ConfigMap ${ref.namespace}/${ref.name}`,
        server: options.server,
        timeoutMs: options.timeoutMs,
        permission: `--policy-configmap needs get on configmaps in namespace ${ref.namespace} (or give the policy as a file with --policy)`,
      });
    }
  }
  const warnings: PolicyProblem[] = [];
  const store = new PolicyStore({
    ref,
    log: {
      info: () => undefined,
      error: () => undefined,
      // The store logs a valid policy's warnings under `warnings`; other warnings (a deleted ConfigMap) are not problems.
      warn: (fields) => {
        if (Array.isArray(fields['warnings'])) warnings.push(...(fields['warnings'] as PolicyProblem[]));
      },
    },
  });
  if (configMap) store.observe(configMap);
  else store.absent();
  const policy = store.current();
  if (!policy) throw new InvalidInputError(`--policy-configmap ${ref.namespace}/${ref.name}`, store.unavailable() ?? 'no policy');
  const generation = store.state().inForce?.generation;
  return { policy, source: `${store.label}${generation ? ` (resourceVersion ${generation})` : ''}`, warnings };
}
