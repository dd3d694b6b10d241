/**
 * The audit's listing without an API server: a ListPage that pages through arrays as kube-apiserver pages a list
 * (limit, continue, remainingItemCount), and fails as it fails (client-node's ApiException with the Status body, and
 * undici's `fetch failed` for a refused connection). test/e2e/audit.e2e.ts lists a real kube-apiserver.
 */
import { ApiException } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterAccessError } from '../../src/kube/access-error.ts';
import { listInventory, type ListPage, type Page } from '../../src/kube/inventory.ts';
import type { RbacKind } from '../../src/kube/role-cache.ts';

const RBAC = 'rbac.authorization.k8s.io';
const SERVER = 'https://127.0.0.1:6443';

// --- helpers ---------------------------------------------------------------------------------------------------------

function clusterRole(name: string): Record<string, unknown> {
  return { metadata: { name }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] };
}

function roleBinding(namespace: string, name: string): Record<string, unknown> {
  return { metadata: { namespace, name }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', apiGroup: RBAC, name: 'x' }] };
}

type Objects = Partial<Record<RbacKind, readonly Record<string, unknown>[]>>;

interface Cluster {
  readonly listPage: ListPage;
  /** Every request: kind, limit and continue token. */
  readonly requests: { kind: RbacKind; limit: number; token: string | undefined }[];
}

/**
 * Pages through `objects` as the API server does: the continue token is the next index. `fail(kind, token)` may return
 * an error to throw for one request instead.
 */
function cluster(objects: Objects, fail: (kind: RbacKind, token: string | undefined, call: number) => unknown = () => undefined): Cluster {
  const requests: Cluster['requests'] = [];
  const listPage: ListPage = async (kind, limit, token) => {
    requests.push({ kind, limit, token });
    const error = fail(kind, token, requests.length);
    if (error) throw error;
    const all = objects[kind] ?? [];
    const start = token ? Number(token) : 0;
    const end = Math.min(all.length, start + limit);
    const page: Page = { items: all.slice(start, end), continueToken: end < all.length ? String(end) : undefined, remaining: all.length - end || undefined };
    return page;
  };
  return { listPage, requests };
}

function status(code: number, reason: string, message: string): ApiException<string> {
  return new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }), {});
}

function refused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause });
}

async function failure(promise: Promise<unknown>): Promise<ClusterAccessError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ClusterAccessError);
    return error as ClusterAccessError;
  }
  throw new Error('expected the listing to fail');
}

const many = (count: number) => Array.from({ length: count }, (_, index) => clusterRole(`role-${index}`));

// --- pagination ------------------------------------------------------------------------------------------------------

const Pages = suite('inventory :: pagination');

const PAGE_CASES: { name: string; objects: number; pageSize: number; requests: number }[] = [
  { name: 'fewer objects than a page', objects: 3, pageSize: 500, requests: 1 },
  { name: 'exactly one page', objects: 5, pageSize: 5, requests: 1 },
  { name: 'one more than a page', objects: 6, pageSize: 5, requests: 2 },
  { name: 'many pages', objects: 23, pageSize: 5, requests: 5 },
  { name: 'page of one', objects: 4, pageSize: 1, requests: 4 },
];

for (const { name, objects, pageSize, requests } of PAGE_CASES) {
  Pages(`pagination :: ${name} :: ${requests} request(s), every object once`, async () => {
    const fake = cluster({ ClusterRole: many(objects) });
    const inventory = await listInventory(fake.listPage, { server: SERVER, pageSize });
    const ofKind = fake.requests.filter((request) => request.kind === 'ClusterRole');
    assert.is(ofKind.length, requests);
    assert.ok(ofKind.every((request) => request.limit === pageSize));
    assert.is(ofKind[0]!.token, undefined, 'the first request has no continue token');
    assert.equal(ofKind.slice(1).map((request) => request.token), ofKind.slice(1).map((_, index) => String((index + 1) * pageSize)));
    assert.equal(inventory.roles.map((role) => role.name), many(objects).map((role) => (role['metadata'] as { name: string }).name));
    assert.is(inventory.counts.ClusterRole, objects);
    assert.is(inventory.pages, requests + 3, 'one request for each of the three empty kinds');
  });
}

Pages('pagination :: four kinds :: listed in order, kind given to each item, bindings and roles apart', async () => {
  const fake = cluster({
    ClusterRole: [clusterRole('reader')],
    Role: [{ metadata: { namespace: 'payments', name: 'deployer' }, rules: [] }],
    ClusterRoleBinding: [{ metadata: { name: 'readers' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'reader' }, subjects: [] }],
    RoleBinding: [roleBinding('payments', 'viewers'), roleBinding('retail', 'viewers')],
  });
  const inventory = await listInventory(fake.listPage, { server: SERVER });
  assert.equal([...new Set(fake.requests.map((request) => request.kind))], ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding']);
  assert.equal(inventory.counts, { ClusterRole: 1, Role: 1, ClusterRoleBinding: 1, RoleBinding: 2 });
  assert.equal(inventory.roles.map((role) => `${role.kind} ${role.namespace}/${role.name}`), ['ClusterRole /reader', 'Role payments/deployer']);
  assert.equal(inventory.bindings.map((binding) => `${binding.kind} ${binding.namespace}/${binding.name}`), [
    'ClusterRoleBinding /readers',
    'RoleBinding payments/viewers',
    'RoleBinding retail/viewers',
  ]);
});

Pages('pagination :: progress :: told after each page, with the server estimate of what is left', async () => {
  const fake = cluster({ ClusterRole: many(12) });
  const told: string[] = [];
  await listInventory(fake.listPage, { server: SERVER, pageSize: 5, onProgress: (kind, listed, expected) => told.push(`${kind} ${listed}/${expected ?? '?'}`) });
  assert.equal(told, ['ClusterRole 5/12', 'ClusterRole 10/12', 'ClusterRole 12/?', 'Role 0/?', 'ClusterRoleBinding 0/?', 'RoleBinding 0/?']);
});

Pages('pagination :: an object that does not read as RBAC :: skipped and told, the rest listed', async () => {
  const fake = cluster({ RoleBinding: [roleBinding('payments', 'ok'), { metadata: { namespace: 'payments', name: 'broken' }, roleRef: 'view' }] });
  const invalid: string[] = [];
  const inventory = await listInventory(fake.listPage, { server: SERVER, onInvalid: (kind, error) => invalid.push(`${kind}: ${error.message}`) });
  assert.equal(inventory.bindings.map((binding) => binding.name), ['ok']);
  assert.is(invalid.length, 1);
  assert.match(invalid[0]!, /^RoleBinding: RoleBinding payments\/broken\.roleRef/);
});

Pages.run();

// --- an expired continue token ---------------------------------------------------------------------------------------

const Expired = suite('inventory :: 410 Expired continue token');

Expired('expired :: once, on the third page :: that kind is listed again from the start, nothing twice', async () => {
  let expiredOnce = false;
  const fake = cluster({ ClusterRole: many(12), RoleBinding: [roleBinding('payments', 'viewers')] }, (kind, token) => {
    if (kind !== 'ClusterRole' || token !== '10' || expiredOnce) return undefined;
    expiredOnce = true;
    return status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
  });
  const inventory = await listInventory(fake.listPage, { server: SERVER, pageSize: 5 });
  assert.equal(
    fake.requests.filter((request) => request.kind === 'ClusterRole').map((request) => request.token ?? 'start'),
    ['start', '5', '10', 'start', '5', '10'],
  );
  assert.is(inventory.roles.length, 12, 'the first attempt’s pages are dropped, not kept beside the second’s');
  assert.is(new Set(inventory.roles.map((role) => role.name)).size, 12);
  assert.is(inventory.restarts, 1);
  assert.is(inventory.bindings.length, 1, 'the other kinds are listed as usual');
});

Expired('expired :: on every attempt :: gives up after 3 restarts with a message that says so', async () => {
  const fake = cluster({ ClusterRoleBinding: many(4).map((_, index) => ({ metadata: { name: `b${index}` }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' } })) }, (kind, token) =>
    kind === 'ClusterRoleBinding' && token ? status(410, 'Expired', 'The provided continue parameter is too old') : undefined,
  );
  const error = await failure(listInventory(fake.listPage, { server: SERVER, pageSize: 2 }));
  assert.is(fake.requests.filter((request) => request.kind === 'ClusterRoleBinding' && !request.token).length, 4, 'the first attempt and 3 restarts');
  assert.match(error.message, /^cannot list clusterrolebindings cluster-wide \(its continue token expired 4 times in a row\): the API server at https:\/\/127\.0\.0\.1:6443 answered HTTP 410/);
});

Expired('expired :: 410 on the first page (no token) :: not retried: it is not about a continue token', async () => {
  const fake = cluster({}, (kind) => (kind === 'Role' ? status(410, 'Gone', 'gone') : undefined));
  await failure(listInventory(fake.listPage, { server: SERVER }));
  assert.is(fake.requests.filter((request) => request.kind === 'Role').length, 1);
});

Expired.run();

// --- failures --------------------------------------------------------------------------------------------------------

const Failures = suite('inventory :: failures say what failed');

const FAILURE_CASES: { name: string; error: () => unknown; expected: RegExp[] }[] = [
  {
    name: '401 :: credentials',
    error: () => status(401, 'Unauthorized', 'Unauthorized'),
    expected: [/^cannot list clusterroles cluster-wide: /, /rejected the credentials \(HTTP 401 Unauthorized/, /Log in again, or check --kubeconfig and --context/],
  },
  {
    name: '403 :: the permission, which resource, cluster-wide, and how to grant it',
    error: () =>
      status(403, 'Forbidden', 'clusterroles.rbac.authorization.k8s.io is forbidden: User "e2e-developer" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'),
    expected: [
      /^cannot list clusterroles cluster-wide: permission denied \(HTTP 403: clusterroles\.rbac\.authorization\.k8s\.io is forbidden: User "e2e-developer" cannot list/,
      /audit needs list on roles, clusterroles, rolebindings and clusterrolebindings \(API group rbac\.authorization\.k8s\.io\) in all namespaces/,
      /kubectl create clusterrole rbac-auditor --verb=list/,
    ],
  },
  {
    name: 'connection refused :: cannot reach, with the server and the socket error',
    error: refused,
    expected: [/^cannot list clusterroles cluster-wide: cannot reach the API server at https:\/\/127\.0\.0\.1:6443 \(connect ECONNREFUSED 127\.0\.0\.1:1\)/, /check the server address in the kubeconfig/],
  },
  {
    name: 'untrusted certificate :: names certificate-authority',
    error: () => new TypeError('fetch failed', { cause: Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) }),
    expected: [/certificate of the API server at https:\/\/127\.0\.0\.1:6443 is not trusted \(SELF_SIGNED_CERT_IN_CHAIN\)/, /certificate-authority/],
  },
  {
    name: 'timeout :: did not answer within the request timeout',
    error: () => new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    expected: [/the API server at https:\/\/127\.0\.0\.1:6443 did not answer within 2 s \(raise --request-timeout/],
  },
  {
    name: '500 :: the status and the server message',
    error: () => status(500, 'InternalError', 'etcdserver: request timed out'),
    expected: [/answered HTTP 500: etcdserver: request timed out$/],
  },
];

for (const { name, error, expected } of FAILURE_CASES) {
  Failures(`failure :: ${name}`, async () => {
    const fake = cluster({}, () => error());
    const failed = await failure(listInventory(fake.listPage, { server: SERVER, timeoutMs: 2_000 }));
    for (const pattern of expected) assert.match(failed.message, pattern);
    assert.is(failed.code, 'ERB_KUBE_ACCESS');
    assert.not.match(failed.message, /\n\s+at /, 'no stack trace');
  });
}

Failures.run();
