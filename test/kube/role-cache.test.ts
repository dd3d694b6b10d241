/**
 * The role cache as the informers feed it (events in, facts out), without an API server: list items without `kind`,
 * watch events, relabelled roleRefs, deletions, objects that do not read as RBAC, and answers before the first list.
 * test/e2e/roles.e2e.ts runs the same cache against a real kube-apiserver.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubernetesObject } from '@kubernetes/client-node';
import { RoleCache, type RbacKind } from '../../src/kube/role-cache.ts';
import type { FactsNeeded } from '../../src/policy/needs.ts';
import { GROUP_ID } from '../helpers.ts';

const RBAC = 'rbac.authorization.k8s.io';

interface Context {
  cache: RoleCache;
  invalid: Array<{ kind: RbacKind; message: string }>;
}

const Cache = suite<Context>('role cache', {} as Context);

Cache.before.each((context) => {
  context.invalid = [];
  context.cache = new RoleCache((kind, error) => context.invalid.push({ kind, message: error.message }));
});

/** A list item as client-node returns it: no kind, no apiVersion. */
function clusterRoleItem(name: string, verbs = ['get']): KubernetesObject & Record<string, unknown> {
  return { metadata: { name, labels: { team: 'payments' } }, rules: [{ apiGroups: [''], resources: ['pods'], verbs }] };
}

function roleItem(namespace: string, name: string): KubernetesObject & Record<string, unknown> {
  return { metadata: { name, namespace }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] };
}

/** A RoleBinding (with `namespace`) or ClusterRoleBinding list item; the cache is told which kind it is. */
function bindingItem(name: string, roleKind: string, role: string, namespace = ''): KubernetesObject & Record<string, unknown> {
  return {
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: RBAC, kind: roleKind, name: role },
    subjects: [{ kind: 'Group', apiGroup: RBAC, name: GROUP_ID }],
  };
}

function listAll(cache: RoleCache): void {
  for (const kind of ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'] as const) cache.markListed(kind);
}

const NEEDS: FactsNeeded = {
  groupIds: [],
  roles: [
    { kind: 'ClusterRole', namespace: '', name: 'pod-reader' },
    { kind: 'Role', namespace: 'payments', name: 'config-reader' },
    { kind: 'ClusterRole', namespace: '', name: 'absent' },
  ],
  bindingsOf: [{ kind: 'ClusterRole', namespace: '', name: 'pod-reader' }],
};

Cache('role cache :: before every kind is listed :: roles unknown, saying which kinds are missing', ({ cache }) => {
  cache.upsert('ClusterRole', clusterRoleItem('pod-reader'));
  cache.markListed('ClusterRole');
  cache.markListed('RoleBinding');
  const facts = cache.factsFor(NEEDS);
  assert.is(facts.source, undefined);
  assert.is(facts.unknownBecause, 'the role cache has not listed Role, ClusterRoleBinding from the API server yet');
  assert.equal(cache.status(), { synced: false, waitingFor: ['Role', 'ClusterRoleBinding'], roles: 1, bindings: 0 });
});

Cache('role cache :: listed :: answers exactly what was asked, a missing role absent, complete', ({ cache }) => {
  cache.upsert('ClusterRole', clusterRoleItem('pod-reader'));
  cache.upsert('ClusterRole', clusterRoleItem('other'));
  cache.upsert('Role', roleItem('payments', 'config-reader'));
  cache.upsert('ClusterRoleBinding', bindingItem('readers', 'ClusterRole', 'pod-reader'));
  cache.upsert('RoleBinding', bindingItem('ns-readers', 'ClusterRole', 'pod-reader', 'payments'));
  cache.upsert('RoleBinding', bindingItem('config', 'Role', 'config-reader', 'payments'));
  listAll(cache);
  const facts = cache.factsFor(NEEDS);
  assert.equal([facts.source, facts.complete], ['the role cache', true]);
  assert.equal([...facts.roles.keys()], ['ClusterRole//pod-reader', 'Role/payments/config-reader']);
  assert.equal(facts.roles.get('ClusterRole//pod-reader'), {
    kind: 'ClusterRole',
    name: 'pod-reader',
    namespace: '',
    labels: { team: 'payments' },
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: [], nonResourceURLs: [] }],
  });
  assert.equal(
    facts.bindings.get('ClusterRole//pod-reader')?.map((binding) => `${binding.kind} ${binding.namespace}/${binding.name}`),
    ['ClusterRoleBinding /readers', 'RoleBinding payments/ns-readers'],
  );
  assert.equal(cache.status(), { synced: true, waitingFor: [], roles: 3, bindings: 3 });
});

Cache('role cache :: a watch event changes a role :: the new rules are answered', ({ cache }) => {
  cache.upsert('ClusterRole', clusterRoleItem('pod-reader'));
  listAll(cache);
  cache.upsert('ClusterRole', { kind: 'ClusterRole', apiVersion: `${RBAC}/v1`, ...clusterRoleItem('pod-reader', ['*']) });
  assert.equal(cache.factsFor(NEEDS).roles.get('ClusterRole//pod-reader')?.rules[0]?.verbs, ['*']);
});

Cache('role cache :: deletions :: the role is gone, the binding no longer filed', ({ cache }) => {
  cache.upsert('ClusterRole', clusterRoleItem('pod-reader'));
  cache.upsert('ClusterRoleBinding', bindingItem('readers', 'ClusterRole', 'pod-reader'));
  listAll(cache);
  cache.remove('ClusterRole', clusterRoleItem('pod-reader'));
  cache.remove('ClusterRoleBinding', bindingItem('readers', 'ClusterRole', 'pod-reader'));
  const facts = cache.factsFor(NEEDS);
  assert.equal([facts.roles.size, facts.bindings.get('ClusterRole//pod-reader')], [0, []]);
  assert.equal(cache.status().bindings, 0);
});

Cache('role cache :: a binding re-created with another roleRef :: filed under the new role only', ({ cache }) => {
  cache.upsert('ClusterRoleBinding', bindingItem('readers', 'ClusterRole', 'pod-reader'));
  cache.upsert('ClusterRoleBinding', bindingItem('readers', 'ClusterRole', 'view'));
  listAll(cache);
  const facts = cache.factsFor({ groupIds: [], bindingsOf: [{ kind: 'ClusterRole', namespace: '', name: 'pod-reader' }, { kind: 'ClusterRole', namespace: '', name: 'view' }] });
  assert.equal(facts.bindings.get('ClusterRole//pod-reader'), []);
  assert.equal(facts.bindings.get('ClusterRole//view')?.map((binding) => binding.name), ['readers']);
});

Cache('role cache :: RoleBindings to a Role :: filed by namespace, a same-named Role elsewhere has its own', ({ cache }) => {
  cache.upsert('RoleBinding', bindingItem('config', 'Role', 'config-reader', 'payments'));
  cache.upsert('RoleBinding', bindingItem('config', 'Role', 'config-reader', 'retail'));
  listAll(cache);
  const facts = cache.factsFor({ groupIds: [], bindingsOf: [{ kind: 'Role', namespace: 'payments', name: 'config-reader' }] });
  assert.equal(facts.bindings.get('Role/payments/config-reader')?.map((binding) => binding.namespace), ['payments']);
});

Cache('role cache :: an object that does not read as RBAC :: skipped and reported, never thrown', ({ cache, invalid }) => {
  cache.upsert('ClusterRole', { metadata: { name: 'broken' }, rules: 'not a list' } as unknown as KubernetesObject);
  cache.upsert('ClusterRoleBinding', { metadata: { name: 'no-role-ref' } });
  assert.equal(invalid.map((entry) => entry.kind), ['ClusterRole', 'ClusterRoleBinding']);
  assert.match(invalid[0]!.message, /^ClusterRole broken\.rules: must be a list/);
  assert.match(invalid[1]!.message, /^ClusterRoleBinding no-role-ref\.roleRef: must be an object/);
  assert.is(cache.status().roles, 0);
});

Cache.run();
