import {
  RbacAuthorizationV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readBinding } from '../admission/binding.ts';
import { readRole } from '../admission/role.ts';
import type { Binding, BindingKind, RbacRole, RoleKind } from '../admission/types.ts';
import type { RoleFacts } from '../policy/facts.ts';
import type { FactsNeeded } from '../policy/needs.ts';
import { RoleIndex } from '../policy/role-index.ts';

/** Where the webhook's role facts come from: answered from memory at once, never with an API call on the hot path. */
export interface RoleSource {
  /** The roles and bindings `needs` names. Until the cache has listed everything, roles are unknown (source undefined). */
  factsFor(needs: FactsNeeded): RoleFacts;
}

/** Named in notes: `ClusterRole "x" does not exist yet` is what the role cache says. */
export const ROLE_CACHE_SOURCE = 'the role cache';

export type RbacKind = RoleKind | BindingKind;

const KINDS: readonly RbacKind[] = ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];

export interface RoleCacheStatus {
  readonly synced: boolean;
  /** Kinds whose first list has not completed yet. */
  readonly waitingFor: readonly RbacKind[];
  readonly roles: number;
  readonly bindings: number;
}

/**
 * Roles, ClusterRoles, RoleBindings and ClusterRoleBindings as the informers last saw them, indexed for the engine's
 * questions (a roleRef's role; a role's bindings). Fed by informer events (or by a test); no I/O of its own.
 * An object the API server stores but that does not read as RBAC (it cannot happen, short of a bug) is skipped and
 * reported through `onInvalid`, never thrown into an informer callback.
 */
export class RoleCache implements RoleSource {
  private readonly index = new RoleIndex();
  private readonly listed = new Set<RbacKind>();

  constructor(private readonly onInvalid: (kind: RbacKind, error: Error) => void = () => {}) {}

  /** An object added or changed. `kind` is given because list items carry none. */
  upsert(kind: RbacKind, object: KubernetesObject): void {
    const path = `${kind} ${[object.metadata?.namespace, object.metadata?.name].filter(Boolean).join('/')}`;
    try {
      if (kind === 'Role' || kind === 'ClusterRole') this.index.setRole(readRole(object, path, kind));
      else this.index.setBinding(readBinding({ ...object, kind }, path));
    } catch (error) {
      this.onInvalid(kind, error instanceof Error ? error : new Error(String(error)));
    }
  }

  remove(kind: RbacKind, object: KubernetesObject): void {
    const name = object.metadata?.name ?? '';
    const namespace = kind === 'Role' || kind === 'RoleBinding' ? (object.metadata?.namespace ?? '') : '';
    if (kind === 'Role' || kind === 'ClusterRole') this.index.deleteRole({ kind, namespace, name });
    else this.index.deleteBinding({ kind, namespace, name });
  }

  /** The first list of `kind` is in: once every kind is, the cache answers. */
  markListed(kind: RbacKind): void {
    this.listed.add(kind);
  }

  get synced(): boolean {
    return KINDS.every((kind) => this.listed.has(kind));
  }

  status(): RoleCacheStatus {
    return {
      synced: this.synced,
      waitingFor: KINDS.filter((kind) => !this.listed.has(kind)),
      ...this.index.size,
    };
  }

  /** Every role and binding as the informers last saw them (complete once synced), for the continuous audit. */
  all(): { roles: RbacRole[]; bindings: Binding[] } {
    return this.index.all();
  }

  factsFor(needs: FactsNeeded): RoleFacts {
    if (!this.synced) {
      return {
        source: undefined,
        unknownBecause: `the role cache has not listed ${this.status().waitingFor.join(', ')} from the API server yet`,
        complete: false,
        roles: new Map(),
        bindings: new Map(),
      };
    }
    return this.index.factsFor(needs, ROLE_CACHE_SOURCE, true);
  }
}

export interface RoleFactsOptions {
  /** Where the cache reports list and watch failures, restarts and invalid objects (e.g. the server's logger). */
  readonly log?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  /** First delay before an informer that failed is restarted; doubles up to maxBackoffMs. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** The role cache, with the informers that keep it current. */
export interface RoleFactsHandle extends RoleSource {
  readonly cache: RoleCache;
  /** True once every kind has been listed: wire it into readiness. */
  synced(): boolean;
  status(): RoleCacheStatus;
  /** Resolves when synced; rejects after `timeoutMs`, naming the kinds still missing. */
  whenSynced(timeoutMs: number): Promise<void>;
  /** Stops the informers and their restart timers. */
  stop(): Promise<void>;
}

/**
 * Starts list+watch informers for the four RBAC kinds with `kubeConfig` and returns the cache they feed. The webhook
 * needs get, list and watch on roles, clusterroles, rolebindings and clusterrolebindings, cluster-wide. A watch that
 * ends is resumed by the informer; one that fails (or a list that fails) is restarted with exponential backoff; a
 * 410 Gone relists, and the relist removes what was deleted meanwhile.
 */
export function createRoleFacts(kubeConfig: KubeConfig, options: RoleFactsOptions = {}): RoleFactsHandle {
  const log = options.log ?? (() => {});
  const cache = new RoleCache((kind, error) => log('warn', `a ${kind} from the API server could not be read; it is ignored`, { kind, error: error.message }));
  const api = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const base = '/apis/rbac.authorization.k8s.io/v1';
  const informers = [
    watchKind(kubeConfig, cache, 'ClusterRole', `${base}/clusterroles`, () => api.listClusterRole(), options, log),
    watchKind(kubeConfig, cache, 'Role', `${base}/roles`, () => api.listRoleForAllNamespaces(), options, log),
    watchKind(kubeConfig, cache, 'ClusterRoleBinding', `${base}/clusterrolebindings`, () => api.listClusterRoleBinding(), options, log),
    watchKind(kubeConfig, cache, 'RoleBinding', `${base}/rolebindings`, () => api.listRoleBindingForAllNamespaces(), options, log),
  ];
  return {
    cache,
    factsFor: (needs) => cache.factsFor(needs),
    synced: () => cache.synced,
    status: () => cache.status(),
    whenSynced: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          if (cache.synced) return resolve();
          if (Date.now() - started > timeoutMs) {
            return reject(new Error(`the role cache did not sync within ${timeoutMs} ms: still waiting for ${cache.status().waitingFor.join(', ')}`));
          }
          setTimeout(poll, 50).unref();
        };
        poll();
      }),
    stop: async () => {
      await Promise.all(informers.map((informer) => informer.stop()));
    },
  };
}

interface KindInformer {
  stop(): Promise<void>;
}

function watchKind<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  cache: RoleCache,
  kind: RbacKind,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  options: RoleFactsOptions,
  log: NonNullable<RoleFactsOptions['log']>,
): KindInformer {
  const initialBackoff = options.backoffMs ?? 1_000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let backoff = initialBackoff;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // The informer adds list items only after its list promise resolves: filing them here first means the cache is
  // complete the moment it says it is synced. The informer's own add events then file them again (idempotent).
  const listAndFile = async () => {
    const result = await list();
    for (const item of result.items) cache.upsert(kind, item);
    cache.markListed(kind);
    backoff = initialBackoff;
    return result;
  };
  const informer: Informer<T> = makeInformer(kubeConfig, path, listAndFile);
  informer.on('add', (object) => cache.upsert(kind, object));
  informer.on('update', (object) => cache.upsert(kind, object));
  informer.on('delete', (object) => cache.remove(kind, object));
  informer.on('error', (error: unknown) => {
    if (stopped) return;
    const delay = backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    log('warn', `the ${kind} informer failed; restarting it`, { kind, error: describeError(error), retryInMs: delay });
    timer = setTimeout(() => void start(), delay);
    timer.unref();
  });
  const start = () =>
    informer.start().catch((error: unknown) => {
      // start() rejects only when the watch request cannot even be made; the error handler above does not see it.
      if (stopped) return;
      const delay = backoff;
      backoff = Math.min(backoff * 2, maxBackoff);
      log('warn', `the ${kind} informer could not start; retrying`, { kind, error: describeError(error), retryInMs: delay });
      timer = setTimeout(() => void start(), delay);
      timer.unref();
    });
  void start();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}
