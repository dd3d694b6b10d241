import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests } from '../../src/check/manifests.ts';
import { checkManifests, type CheckOutcome } from '../../src/check/run-check.ts';
import { policyReports } from '../../src/report/policy-report.ts';
import { sarifReport } from '../../src/report/sarif.ts';
import { GROUP_ID, policyWith } from '../helpers.ts';

const MANIFESTS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: carol-admin, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: carol@fabrikam.com}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: ${GROUP_ID}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: system:authenticated}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:discovery}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:discovery}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: system:authenticated}]
`;

async function outcome(): Promise<CheckOutcome> {
  const policy = policyWith({ rules: { ...policyWith().rules, 'broad-group': 'warn' } });
  return checkManifests(parseManifests(MANIFESTS, 'rbac/bindings.yaml'), policy, undefined, 'default');
}

const Sarif = suite('sarif');

Sarif('sarif :: violations :: one result each, error for deny and warning for warn, pointing at the file', async () => {
  const sarif = JSON.parse(sarifReport(await outcome(), '1.2.3'));
  assert.is(sarif.version, '2.1.0');
  const run = sarif.runs[0];
  assert.is(run.tool.driver.name, 'entra-rbac-guard');
  assert.is(run.tool.driver.version, '1.2.3');
  const ids = run.tool.driver.rules.map((rule: { id: string }) => rule.id);
  assert.ok(ids.includes('user-subject') && ids.includes('broad-group'));
  for (const rule of run.tool.driver.rules) assert.ok(rule.shortDescription.text.length > 0, `${rule.id} has a description`);
  assert.equal(
    run.results.map((result: { ruleId: string; level: string }) => [result.ruleId, result.level]),
    [
      ['user-subject', 'error'],
      ['broad-group', 'warning'],
    ],
  );
  for (const result of run.results) {
    assert.is(ids[result.ruleIndex], result.ruleId, 'ruleIndex points at the rule');
    assert.is(result.locations[0].physicalLocation.artifactLocation.uri, 'rbac/bindings.yaml');
    assert.ok(result.message.text.includes(`[${result.ruleId}]`));
    assert.type(result.partialFingerprints['entraRbacGuard/v1'], 'string');
  }
  assert.is(run.results[0].locations[0].logicalLocations[0].fullyQualifiedName, 'RoleBinding/payments/carol-admin');
});

Sarif('sarif :: nothing found :: a valid run with no results', async () => {
  const sarif = JSON.parse(sarifReport({ checked: [], skipped: 2 }, '1.0.0'));
  assert.equal(sarif.runs[0].results, []);
  assert.ok(sarif.runs[0].tool.driver.rules.length >= 8);
});

Sarif.run();

const Reports = suite('policy reports');

Reports('policyreport :: namespaced and cluster objects :: one PolicyReport per namespace and one ClusterPolicyReport', async () => {
  const now = new Date('2026-11-28T12:00:00Z');
  const reports = policyReports(await outcome(), now);
  assert.equal(
    reports.map((report) => [report.kind, report.metadata.namespace ?? '']),
    [
      ['ClusterPolicyReport', ''],
      ['PolicyReport', 'payments'],
    ],
  );
  const [cluster, payments] = reports;
  assert.is(payments!.apiVersion, 'wgpolicyk8s.io/v1alpha2');
  assert.equal(payments!.summary, { pass: 1, fail: 1, warn: 0, error: 0, skip: 0 });
  assert.equal(cluster!.summary, { pass: 0, fail: 0, warn: 1, error: 0, skip: 1 });
  const fail = payments!.results.find((result) => result['result'] === 'fail')!;
  assert.is(fail['rule'], 'user-subject');
  assert.is(fail['policy'], 'entra-rbac-guard');
  assert.equal(fail['resources'], [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', name: 'carol-admin', namespace: 'payments' }]);
  assert.equal(fail['timestamp'], { seconds: now.getTime() / 1000, nanos: 0 });
  const skip = cluster!.results.find((result) => result['result'] === 'skip')!;
  assert.match(String(skip['message']), /bootstrap/);
});

Reports.run();
