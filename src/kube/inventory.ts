/**
 * Every Role, ClusterRole, RoleBinding and ClusterRoleBinding of a cluster, for `audit`: paginated lists (`limit` and
 * `continue`), each page narrowed to what the policy reads as soon as it arrives, so memory holds the RBAC subset and
 * never a whole raw list. A continue token that expired (410 Gone, after etcd compacted past the list's snapshot)
 * restarts that kind's list from the beginning: the pages of one kind always come from one consistent snapshot.
 */
import { ApiException, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { readBinding } from '../admission/binding.ts';
import { readRole } from '../admission/role.ts';
import type { Binding, RbacRole } from '../admission/types.ts';
import { accessError } from './access-error.ts';
import { requestTimeout } from './request-timeout.ts';
import type { RbacKind } from './role-cache.ts';

export const INVENTORY_KINDS: readonly RbacKind[] = ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];

export const RESOURCE_OF: Readonly<Record<RbacKind, string>> = {
  ClusterRole: 'clusterroles',
  Role: 'roles',
  ClusterRoleBinding: 'clusterrolebindings',
  RoleBinding: 'rolebindings',
};

export const DEFAULT_PAGE_SIZE = 500;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Restarts of one kind's list after an expired continue token, before giving up. */
const MAX_RESTARTS = 3;

export interface Page {
  readonly items: readonly unknown[];
  /** Set while more pages follow. */
  readonly continueToken?: string | undefined;
  /** The API server's estimate of the items still to come. */
  readonly remaining?: number | undefined;
}

/** One list request: `kind`'s objects in all namespaces, at most `limit` of them, after `continueToken`. */
export type ListPage = (kind: RbacKind, limit: number, continueToken: string | undefined) => Promise<Page>;

export interface Inventory {
  readonly roles: readonly RbacRole[];
  readonly bindings: readonly Binding[];
  readonly counts: Readonly<Record<RbacKind, number>>;
  /** List requests made, every kind together. */
  readonly pages: number;
  /** Lists started again after an expired continue token. */
  readonly restarts: number;
}

export interface InventoryOptions {
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly pageSize?: number | undefined;
  readonly timeoutMs?: number | undefined;
  /** After each page: how many objects of `kind` are listed so far, and how many the server expects in all. */
  readonly onProgress?: ((kind: RbacKind, listed: number, expected: number | undefined) => void) | undefined;
  /** An object that does not read as RBAC (short of a bug, it cannot happen): skipped, and told here. */
  readonly onInvalid?: ((kind: RbacKind, error: Error) => void) | undefined;
  /** What a 403 says the caller needs; audit's {@link LIST_PERMISSION} by default. */
  readonly permission?: string | undefined;
}

/** Lists the four kinds one after the other. Errors are {@link ClusterAccessError}s saying what failed and what to do. */
export async function listInventory(listPage: ListPage, options: InventoryOptions): Promise<Inventory> {
  const roles: RbacRole[] = [];
  const bindings: Binding[] = [];
  const counts = { ClusterRole: 0, Role: 0, ClusterRoleBinding: 0, RoleBinding: 0 };
  let pages = 0;
  let restarts = 0;
  for (const kind of INVENTORY_KINDS) {
    const listed = await listKind(kind, listPage, options, (count) => (pages += count));
    restarts += listed.restarts;
    counts[kind] = listed.objects.length;
    for (const object of listed.objects) {
      if ('rules' in object) roles.push(object);
      else bindings.push(object);
    }
  }
  return { roles, bindings, counts, pages, restarts };
}

async function listKind(
  kind: RbacKind,
  listPage: ListPage,
  options: InventoryOptions,
  countPages: (count: number) => void,
): Promise<{ objects: (RbacRole | Binding)[]; restarts: number }> {
  const limit = options.pageSize ?? DEFAULT_PAGE_SIZE;
  for (let restarts = 0; ; restarts += 1) {
    const objects: (RbacRole | Binding)[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await listPage(kind, limit, token);
        countPages(1);
        for (const item of page.items) {
          const object = narrow(kind, item, options);
          if (object) objects.push(object);
        }
        token = page.continueToken || undefined;
        options.onProgress?.(kind, objects.length, page.remaining === undefined ? undefined : objects.length + page.remaining);
      } while (token);
      return { objects, restarts };
    } catch (error) {
      if (isExpired(error) && token && restarts < MAX_RESTARTS) continue;
      throw accessError(error, {
        action: `list ${RESOURCE_OF[kind]} cluster-wide${isExpired(error) ? ` (its continue token expired ${restarts + 1} times in a row)` : ''}`,
        server: options.server,
        timeoutMs: options.timeoutMs,
        permission: options.permission ?? LIST_PERMISSION,
      });
    }
  }
}

/** What audit needs, as the 403 message says it. */
export const LIST_PERMISSION =
  'audit needs list on roles, clusterroles, rolebindings and clusterrolebindings (API group rbac.authorization.k8s.io) in ' +
  'all namespaces: e.g. `kubectl create clusterrole rbac-auditor --verb=list --resource=roles.rbac.authorization.k8s.io,' +
  'clusterroles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io` ' +
  'and a ClusterRoleBinding of it to your Entra group (the built-in ClusterRole view does not include RBAC objects)';

function isExpired(error: unknown): boolean {
  return error instanceof ApiException && error.code === 410;
}

function narrow(kind: RbacKind, item: unknown, options: InventoryOptions): RbacRole | Binding | undefined {
  const metadata = (item as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
  const path = `${kind} ${[metadata?.namespace, metadata?.name].filter(Boolean).join('/')}`;
  try {
    // List items carry no kind: it is the list's.
    return kind === 'Role' || kind === 'ClusterRole' ? readRole(item, path, kind) : readBinding({ ...(item as object), kind }, path);
  } catch (error) {
    options.onInvalid?.(kind, error instanceof Error ? error : new Error(String(error)));
    return undefined;
  }
}

/** {@link ListPage} with client-node's RBAC API: each request bounded by `timeoutMs`. */
export function rbacPageLister(kubeConfig: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): ListPage {
  const api = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const timeout = requestTimeout(timeoutMs);
  return async (kind, limit, continueToken) => {
    const request = { limit, ...(continueToken ? { _continue: continueToken } : {}) };
    const list =
      kind === 'ClusterRole'
        ? await api.listClusterRole(request, timeout)
        : kind === 'Role'
          ? await api.listRoleForAllNamespaces(request, timeout)
          : kind === 'ClusterRoleBinding'
            ? await api.listClusterRoleBinding(request, timeout)
            : await api.listRoleBindingForAllNamespaces(request, timeout);
    return { items: list.items, continueToken: list.metadata?._continue, remaining: list.metadata?.remainingItemCount };
  };
}
