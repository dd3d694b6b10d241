import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests } from '../../src/check/manifests.ts';
import { checkManifests } from '../../src/check/run-check.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import { LOCAL_FIXTURES } from '../helpers.ts';

const Bootstrap = suite('bootstrap RBAC of a fresh kube-apiserver');
const file = `${LOCAL_FIXTURES}bootstrap-rbac-kube-apiserver-1.20.yaml`;
const objects = parseManifests(readFileSync(file, 'utf8'), file);
/** `kubectl get clusterroles,roles -A -o yaml` on the same fresh kube-apiserver 1.20: aggregated roles still empty. */
const rolesFile = `${LOCAL_FIXTURES}bootstrap-roles-kube-apiserver-1.20.yaml`;
const roles = parseManifests(readFileSync(rolesFile, 'utf8'), rolesFile);

Bootstrap('default policy :: every recorded bootstrap binding :: allowed with no violation', async () => {
  const outcome = await checkManifests(objects, DEFAULT_POLICY, undefined, 'default');
  assert.is(outcome.checked.length, 48, 'the recording holds 41 ClusterRoleBindings and 7 RoleBindings');
  for (const { object, decision } of outcome.checked) {
    assert.ok(decision.allowed, `${object.kind} ${object.namespace}/${object.name} was denied`);
    assert.equal(decision.violations, [], `${object.kind} ${object.namespace}/${object.name} has violations`);
  }
});

Bootstrap('default policy :: broad and local-account bootstrap grants :: listed as exempt, not hidden', async () => {
  const outcome = await checkManifests(objects, DEFAULT_POLICY, undefined, 'default');
  const exempt = outcome.checked.filter((entry) => entry.decision.exemption).map((entry) => entry.object.name);
  for (const name of ['cluster-admin', 'system:basic-user', 'system:discovery', 'system:public-info-viewer', 'system:service-account-issuer-discovery']) {
    assert.ok(exempt.includes(name), `${name} should be reported as a bootstrap exemption`);
  }
});

Bootstrap('default policy :: a subject added to the cluster-admin bootstrap binding :: still denied', async () => {
  const tampered = objects.map((entry) =>
    entry.object['kind'] === 'ClusterRoleBinding' && (entry.object['metadata'] as { name: string }).name === 'cluster-admin'
      ? {
          ...entry,
          object: {
            ...entry.object,
            subjects: [...(entry.object['subjects'] as object[]), { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' }],
          },
        }
      : entry,
  );
  const outcome = await checkManifests(tampered, DEFAULT_POLICY, undefined, 'default');
  const clusterAdmin = outcome.checked.find((entry) => entry.object.name === 'cluster-admin');
  assert.ok(clusterAdmin && !clusterAdmin.decision.allowed);
  assert.equal(
    clusterAdmin.decision.violations.map((violation) => `${violation.rule} ${violation.subject.name}`),
    ['cluster-admin system:authenticated', 'broad-group system:authenticated'],
  );
});

Bootstrap('default policy :: bootstrap bindings and roles together, roleRefs resolved :: zero denials, zero violations', async () => {
  const outcome = await checkManifests([...objects, ...roles], DEFAULT_POLICY, undefined, 'default');
  assert.is(outcome.checked.length, 48 + 67, '48 bindings and 60 ClusterRoles + 7 Roles');
  for (const { object, decision } of outcome.checked) {
    assert.ok(decision.allowed, `${object.kind} ${object.namespace}/${object.name} was denied`);
    assert.equal(decision.violations, [], `${object.kind} ${object.namespace}/${object.name} has violations`);
    assert.equal(decision.notes, [], `${object.kind} ${object.namespace}/${object.name} has notes`);
  }
  const exempt = outcome.checked.filter((entry) => entry.decision.exemption).map((entry) => entry.object.name);
  for (const name of ['system:controller:clusterrole-aggregation-controller', 'system:controller:generic-garbage-collector', 'system:kube-controller-manager']) {
    assert.ok(exempt.includes(name), `${name} (its role escalates) should be reported as a bootstrap exemption`);
  }
});

Bootstrap('default policy :: a team group added to the bootstrap binding of the aggregation controller :: denied [escalation]', async () => {
  const tampered = objects.map((entry) =>
    entry.object['kind'] === 'ClusterRoleBinding' && (entry.object['metadata'] as { name: string }).name === 'system:controller:clusterrole-aggregation-controller'
      ? {
          ...entry,
          object: {
            ...entry.object,
            subjects: [...(entry.object['subjects'] as object[]), { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d' }],
          },
        }
      : entry,
  );
  const outcome = await checkManifests([...tampered, ...roles], DEFAULT_POLICY, undefined, 'default');
  const denied = outcome.checked.filter((entry) => !entry.decision.allowed);
  assert.equal(
    denied.map((entry) => `${entry.object.kind} ${entry.object.name}: ${entry.decision.violations.map((violation) => `${violation.rule} ${violation.subject.name}`).join(', ')}`),
    [
      'ClusterRoleBinding system:controller:clusterrole-aggregation-controller: escalation 5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d',
      'ClusterRole system:controller:clusterrole-aggregation-controller: escalation 5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d',
    ],
  );
});

Bootstrap.run();
