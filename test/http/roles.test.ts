/**
 * The webhook route with a role source: what the engine asks for reaches the source, and role facts change the answer
 * (over inject(), no socket). Without a source, bindings are judged on role names and roles pass, as before.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import type { RoleSource } from '../../src/kube/role-cache.ts';
import type { FactsNeeded } from '../../src/policy/needs.ts';
import { GROUP_ID, policyWithDirectory } from '../helpers.ts';
import { WILDCARD, clusterRole, roleFacts } from '../policy/role-helpers.ts';

const TLS = await generateSelfSigned();
const POLICY = policyWithDirectory({ verify: false });
const RBAC = 'rbac.authorization.k8s.io';

const SUPERUSER = clusterRole('platform-superuser', [WILDCARD]);
const TEAM_BINDING = {
  apiVersion: `${RBAC}/v1`,
  kind: 'ClusterRoleBinding',
  metadata: { name: 'platform-team' },
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'platform-superuser' },
  subjects: [{ kind: 'Group', apiGroup: RBAC, name: GROUP_ID }],
};

/** A role source answering from fixed objects, recording what it was asked. */
function fakeRoles(asked: FactsNeeded[]): RoleSource {
  return {
    factsFor(needs) {
      asked.push(needs);
      return roleFacts([SUPERUSER], [{ kind: 'ClusterRoleBinding', namespace: '', name: 'platform-team', roleRef: TEAM_BINDING.roleRef, subjects: TEAM_BINDING.subjects }]);
    },
  };
}

function review(kind: string, object: Record<string, unknown>, operation = 'CREATE', oldObject?: Record<string, unknown>) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${kind}`,
      kind: { group: RBAC, version: 'v1', kind },
      operation,
      name: (object['metadata'] as { name: string }).name,
      userInfo: { username: 'dev@contoso.com', groups: [] },
      object,
      ...(oldObject ? { oldObject } : {}),
    },
  };
}

async function post(app: WebhookServer, body: unknown) {
  const res = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  assert.is(res.statusCode, 200, res.body);
  return JSON.parse(res.body).response as { allowed: boolean; status?: { message: string }; warnings?: string[] };
}

interface Context {
  asked: FactsNeeded[];
  withRoles: WebhookServer;
  without: WebhookServer;
}

const Route = suite<Context>('validate route :: role facts', {} as Context);

Route.before.each((context) => {
  context.asked = [];
  context.withRoles = buildServer({ tls: TLS, currentPolicy: () => POLICY, roles: fakeRoles(context.asked) });
  context.without = buildServer({ tls: TLS, currentPolicy: () => POLICY });
});

Route.after.each(async ({ withRoles, without }) => {
  await Promise.all([withRoles.close(), without.close()]);
});

Route('route :: binding to a custom wildcard role, with a role source :: denied [cluster-admin]; the source was asked for that role', async ({ withRoles, asked }) => {
  const response = await post(withRoles, review('ClusterRoleBinding', TEAM_BINDING));
  assert.not.ok(response.allowed);
  assert.match(response.status?.message ?? '', /\[cluster-admin\]: ClusterRole platform-superuser grants everything/);
  assert.equal(asked, [{ groupIds: [], roles: [{ kind: 'ClusterRole', namespace: '', name: 'platform-superuser' }] }]);
});

Route('route :: the same binding, no role source :: allowed (judged on the role name)', async ({ without }) => {
  assert.ok((await post(without, review('ClusterRoleBinding', TEAM_BINDING))).allowed);
});

Route('route :: ClusterRole widened to */*/* while bound :: denied naming the binding; the source was asked for its bindings', async ({ withRoles, asked }) => {
  const before = { apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'platform-superuser' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] };
  const after = { ...before, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] };
  const response = await post(withRoles, review('ClusterRole', after, 'UPDATE', before));
  assert.not.ok(response.allowed);
  assert.match(response.status?.message ?? '', /^ClusterRole platform-superuser would grant everything .* through ClusterRoleBinding platform-team \[cluster-admin\]/);
  assert.equal(asked, [{ groupIds: [], bindingsOf: [{ kind: 'ClusterRole', namespace: '', name: 'platform-superuser' }] }]);
});

Route('route :: the same ClusterRole, no role source :: allowed with a warning that its bindings were not checked', async ({ without }) => {
  const role = { apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name: 'platform-superuser' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] };
  const response = await post(without, review('ClusterRole', role));
  assert.ok(response.allowed);
  assert.equal(response.warnings, [
    'ClusterRole platform-superuser grants cluster-admin or escalating permissions, and the bindings that reference it were not checked: the webhook has no role cache',
  ]);
});

Route.run();
