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

Bootstrap('default policy :: every recorded bootstrap binding :: allowed with no violation', async () => {
  const outcome = await checkManifests(objects, DEFAULT_POLICY, undefined, 'default');
  assert.is(outcome.checked.length, 48, 'the recording holds 41 ClusterRoleBindings and 7 RoleBindings');
  for (const { binding, decision } of outcome.checked) {
    assert.ok(decision.allowed, `${binding.kind} ${binding.namespace}/${binding.name} was denied`);
    assert.equal(decision.violations, [], `${binding.kind} ${binding.namespace}/${binding.name} has violations`);
  }
});

Bootstrap('default policy :: broad and local-account bootstrap grants :: listed as exempt, not hidden', async () => {
  const outcome = await checkManifests(objects, DEFAULT_POLICY, undefined, 'default');
  const exempt = outcome.checked.filter((entry) => entry.decision.exemption).map((entry) => entry.binding.name);
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
  const clusterAdmin = outcome.checked.find((entry) => entry.binding.name === 'cluster-admin');
  assert.ok(clusterAdmin && !clusterAdmin.decision.allowed);
  assert.equal(
    clusterAdmin.decision.violations.map((violation) => `${violation.rule} ${violation.subject.name}`),
    ['cluster-admin system:authenticated', 'broad-group system:authenticated'],
  );
});

Bootstrap.run();
