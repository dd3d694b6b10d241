import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests, readManifests } from '../../src/check/manifests.ts';
import { checkManifests, type CheckOutcome, type CheckedObject } from '../../src/check/run-check.ts';
import { jsonReport } from '../../src/report/json.ts';
import { tableReport } from '../../src/report/table.ts';
import { ADMIN_GROUP_ID, GROUP_ID, policyWith, policyWithDirectory } from '../helpers.ts';

/**
 * `check` resolves roleRefs against the roles in its input and judges each Role and ClusterRole against the bindings
 * in its input, offline, with the webhook's engine.
 */

const POLICY = policyWithDirectory({ verify: false });

const doc = (yaml: string) => `apiVersion: rbac.authorization.k8s.io/v1\n${yaml.trim()}\n`;
const crb = (name: string, role: string, subject = GROUP_ID) =>
  doc(`kind: ClusterRoleBinding
metadata: {name: ${name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${role}}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: "${subject}"}]`);
const rb = (name: string, roleKind: string, role: string, namespace?: string) =>
  doc(`kind: RoleBinding
metadata: {name: ${name}${namespace ? `, namespace: ${namespace}` : ''}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ${roleKind}, name: ${role}}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: "${GROUP_ID}"}]`);
const WIDE = doc(`kind: ClusterRole
metadata: {name: platform-superuser}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]`);
const VIEWER = doc(`kind: ClusterRole
metadata: {name: pod-viewer}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]`);
const CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n';

function run(...documents: string[]): Promise<CheckOutcome> {
  return checkManifests(parseManifests(documents.join('---\n'), 'rbac.yaml'), POLICY, undefined, 'default');
}

function entry(outcome: CheckOutcome, kind: string, name: string): CheckedObject {
  const found = outcome.checked.find((candidate) => candidate.object.kind === kind && candidate.object.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${JSON.stringify(outcome.checked.map((c) => c.object))}`);
  return found;
}

function rules(checked: CheckedObject): string[] {
  return checked.decision.violations.map((violation) => `${violation.rule} ${violation.action}${violation.via ? ` via ${violation.via}` : ''}`);
}

const Check = suite('check :: roles in the input');

Check('check :: a binding to a custom */*/* ClusterRole in the same input :: both denied [cluster-admin]', async () => {
  const outcome = await run(WIDE, crb('platform-team', 'platform-superuser'), CONFIGMAP);
  assert.equal([outcome.checked.length, outcome.skipped], [2, 1]);
  const binding = entry(outcome, 'ClusterRoleBinding', 'platform-team');
  assert.equal(rules(binding), ['cluster-admin deny']);
  assert.ok(binding.decision.violations[0]!.message.includes('ClusterRole platform-superuser grants everything'));
  const role = entry(outcome, 'ClusterRole', 'platform-superuser');
  assert.equal(rules(role), ['cluster-admin deny via ClusterRoleBinding platform-team']);
  assert.equal(role.object, { kind: 'ClusterRole', namespace: '', name: 'platform-superuser' });
  assert.ok(role.role && !role.binding);
});

Check('check :: the same binding without the role in the input :: judged on the name, allowed, with a note', async () => {
  const outcome = await run(VIEWER, crb('platform-team', 'platform-superuser'));
  const binding = entry(outcome, 'ClusterRoleBinding', 'platform-team');
  assert.ok(binding.decision.allowed);
  assert.equal(binding.decision.notes, [
    "ClusterRole platform-superuser is not in the input: ClusterRoleBinding platform-team was judged on the role's name only (add the role to check what it grants)",
  ]);
});

Check('check :: no roles in the input at all :: bindings judged on names as before, no role notes', async () => {
  const outcome = await run(crb('platform-team', 'platform-superuser'), rb('deployers', 'Role', 'deployer'));
  for (const checked of outcome.checked) assert.equal([checked.decision.allowed, checked.decision.notes], [true, []]);
});

Check('check :: an aggregated ClusterRole picking up a wildcard role by label :: the binding to it is denied, and the labelled role for the aggregation', async () => {
  const outcome = await run(
    doc(`kind: ClusterRole
metadata: {name: ops}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {rbac.example.com/aggregate-to-ops: "true"}}]
rules: []`),
    doc(`kind: ClusterRole
metadata: {name: ops-extras, labels: {rbac.example.com/aggregate-to-ops: "true"}}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]`),
    crb('ops-team', 'ops'),
  );
  assert.equal(rules(entry(outcome, 'ClusterRoleBinding', 'ops-team')), ['cluster-admin deny']);
  assert.equal(rules(entry(outcome, 'ClusterRole', 'ops')), ['cluster-admin deny via ClusterRoleBinding ops-team']);
  assert.equal(entry(outcome, 'ClusterRole', 'ops').role!.rules.length, 1, 'the result carries the rules as filled in');
  // Nobody binds ops-extras itself; its label aggregates it into ops, which ops-team holds (issue 15, part 2).
  assert.equal(rules(entry(outcome, 'ClusterRole', 'ops-extras')), ['cluster-admin deny via ClusterRoleBinding ops-team']);
  assert.match(entry(outcome, 'ClusterRole', 'ops-extras').decision.violations[0]!.message, /^ClusterRole ops-extras is aggregated into ClusterRole ops/);
});

Check('check :: a Role and a RoleBinding without namespace :: both take --namespace, resolve, and are denied [escalation]', async () => {
  const outcome = await run(
    doc(`kind: Role
metadata: {name: rbac-editor}
rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [get, escalate, bind]}]`),
    rb('rbac-editors', 'Role', 'rbac-editor'),
    rb('elsewhere', 'Role', 'rbac-editor', 'payments'),
  );
  assert.equal(entry(outcome, 'Role', 'rbac-editor').object.namespace, 'default');
  assert.equal(rules(entry(outcome, 'RoleBinding', 'rbac-editors')), ['escalation deny']);
  assert.equal(rules(entry(outcome, 'Role', 'rbac-editor')), ['escalation deny via RoleBinding default/rbac-editors']);
  const elsewhere = entry(outcome, 'RoleBinding', 'elsewhere');
  assert.equal(rules(elsewhere), [], 'a Role of that name in namespace payments is not in the input');
  assert.match(elsewhere.decision.notes[0] ?? '', /Role payments\/rbac-editor is not in the input/);
});

Check('check :: a wildcard role bound to an admin group only :: allowed', async () => {
  const outcome = await run(WIDE, crb('platform-admins', 'platform-superuser', ADMIN_GROUP_ID));
  for (const checked of outcome.checked) assert.equal([checked.object.name, checked.decision.allowed, checked.decision.violations], [checked.object.name, true, []]);
});

Check('check :: an invalid role (rules not a list) :: an input error naming the document', async () => {
  try {
    await run(doc('kind: ClusterRole\nmetadata: {name: broken}\nrules: {verbs: ["*"]}'));
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.match((error as Error).message, /^rbac\.yaml#1\.rules: must be a list/);
  }
});

Check.run();

const Reports = suite('check :: reports with roles');

Reports('table :: bindings and roles :: the summary counts both, and each role is named', async () => {
  const table = tableReport(await run(WIDE, VIEWER, crb('platform-team', 'platform-superuser'), CONFIGMAP));
  assert.match(table, /^DENIED ClusterRole platform-superuser {2}\(rbac\.yaml#1\)$/m);
  assert.match(table, /^ok {5}ClusterRole pod-viewer {2}\(rbac\.yaml#2\)$/m);
  assert.match(table, /1 RBAC bindings and 2 roles checked: 2 denied, 1 allowed \(0 exempt\); 1 other objects skipped\./);
});

Reports('json :: a role violation :: carries the binding it comes through as via', async () => {
  const json = JSON.parse(jsonReport(await run(WIDE, crb('platform-team', 'platform-superuser'))));
  const role = json.results.find((result: { kind: string }) => result.kind === 'ClusterRole');
  assert.equal([role.namespace, role.name, role.allowed], ['', 'platform-superuser', false]);
  assert.is(role.violations[0].via, 'ClusterRoleBinding platform-team');
  const binding = json.results.find((result: { kind: string }) => result.kind === 'ClusterRoleBinding');
  assert.not.ok('via' in binding.violations[0]);
  assert.equal(json.summary.checked, 2);
});

Reports('table :: no roles in the input :: the summary line is unchanged', async () => {
  assert.match(tableReport(await run(crb('viewers', 'view'))), /1 RBAC bindings checked: 0 denied, 1 allowed/);
});

Reports.run();

// The policy with directory checks on behaves the same for roles; directory notes come on top.
const Directory = suite('check :: roles with directory.verify');
Directory('check :: default directory settings, no directory :: the no-directory note and the role verdict together', async () => {
  const outcome = await checkManifests(parseManifests([WIDE, crb('platform-team', 'platform-superuser')].join('---\n'), 'rbac.yaml'), policyWith(), undefined, 'default');
  const binding = entry(outcome, 'ClusterRoleBinding', 'platform-team');
  assert.equal(rules(binding), ['cluster-admin deny']);
  assert.match(binding.decision.notes[0] ?? '', /not checked in Microsoft Entra ID/);
});
Directory.run();

const Sources = suite('check :: where each document came from');

const HELM_OUTPUT = `---\n# Source: team-app/templates/rolebindings.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: a, namespace: payments}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: []\n`;

Sources('helm template output on standard input :: stdin#N without --helm-source-prefix, the template file with it', async () => {
  const read = async (options?: { helmSourcePrefix?: string }) => (await readManifests(['-'], async () => HELM_OUTPUT, options)).map((object) => object.source);
  assert.equal(await read(), ['stdin#1']);
  assert.equal(await read({ helmSourcePrefix: 'charts/' }), ['charts/team-app/templates/rolebindings.yaml#1']);
});

Sources.run();
