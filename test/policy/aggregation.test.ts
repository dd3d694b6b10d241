/**
 * Widening by aggregation, judged when it happens (issue 15, part 2): a ClusterRole whose labels an aggregationRule
 * selects is judged as the aggregating roles would become once the controller manager copies its rules, through the
 * bindings of those roles. Facts come from a real RoleIndex holding kube-apiserver 1.20's own roles (edit, view…
 * filled in as the controller manager fills them), as the role cache would answer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RBAC_GROUP, type Binding, type RbacRole } from '../../src/admission/types.ts';
import type { Decision } from '../../src/policy/decision.ts';
import { evaluate, type Review } from '../../src/policy/engine.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import { withRulesOf } from '../../src/policy/privileges.ts';
import { RoleIndex } from '../../src/policy/role-index.ts';
import { judgeRbac } from '../../src/check/judge.ts';
import { ADMIN_GROUP_ID, GROUP_ID, SECURITY_GROUP, directoryFacts, group, policyWith, roleBinding } from '../helpers.ts';
import { WILDCARD, bootstrapRole, bootstrapRoles, clusterRole, rule } from './role-helpers.ts';

const GROUPS = directoryFacts({ [GROUP_ID]: SECURITY_GROUP, [ADMIN_GROUP_ID]: SECURITY_GROUP });
const POLICY = policyWith();
const TO_EDIT = { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' };
const TO_VIEW = { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' };
const IMPERSONATE_HELPER = clusterRole('impersonate-helper', [rule(['impersonate'], ['users', 'groups'])], { labels: TO_EDIT });
const DEVS_EDIT: Binding = roleBinding([group(GROUP_ID)], { namespace: 'payments', name: 'devs', roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' } });
const ADMINS_EDIT: Binding = { ...DEVS_EDIT, name: 'admins', subjects: [group(ADMIN_GROUP_ID)] };

function review(role: RbacRole, oldRole?: RbacRole): Review {
  return { operation: oldRole ? 'UPDATE' : 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: 'ClusterRole' }, role, ...(oldRole ? { oldRole } : {}) };
}

/** The engine's decision with a role cache holding `roles` and `bindings`. */
function decide(change: Review, roles: readonly RbacRole[], bindings: readonly Binding[]): Decision {
  const index = new RoleIndex();
  for (const role of roles) index.setRole(role);
  for (const binding of bindings) index.setBinding(binding);
  return evaluate(change, POLICY, { ...GROUPS, roles: index.factsFor(factsNeeded(change, POLICY), 'the role cache', true) });
}

const Aggregation = suite('aggregation :: a labelled ClusterRole judged as the roles that select it would become');

Aggregation('CREATE, aggregate-to-edit, impersonate :: denied through edit\'s binding to a non-admin group, naming both roles, the binding and the subject', () => {
  const decision = decide(review(IMPERSONATE_HELPER), bootstrapRoles(), [DEVS_EDIT]);
  assert.is(decision.allowed, false);
  assert.equal(decision.violations.map((violation) => [violation.rule, violation.action, violation.subject.name, violation.via]), [['escalation', 'deny', GROUP_ID, 'RoleBinding payments/devs']]);
  const message = decision.violations[0]!.message;
  assert.match(message, /^ClusterRole impersonate-helper is aggregated into ClusterRole edit \(its labels match that role's aggregationRule\): ClusterRole edit would grant/);
  assert.ok(message.includes(`Group "${GROUP_ID}"`) && message.includes('RoleBinding payments/devs'), message);
  assert.match(message, /or remove the aggregation label from ClusterRole impersonate-helper$/);
});

Aggregation('CREATE, aggregate-to-edit, impersonate, edit held by the admin group only :: allowed', () => {
  const decision = decide(review(IMPERSONATE_HELPER), bootstrapRoles(), [ADMINS_EDIT]);
  assert.equal([decision.allowed, decision.violations], [true, []]);
});

Aggregation('CREATE, aggregate-to-edit, harmless rules :: allowed', () => {
  const reader = clusterRole('configmap-reader', [rule(['get', 'list'], ['configmaps'])], { labels: TO_EDIT });
  assert.equal(decide(review(reader), bootstrapRoles(), [DEVS_EDIT]).violations, []);
});

Aggregation('CREATE, aggregate-to-view, everything :: view would grant everything: cluster-admin through view\'s bindings', () => {
  const everything = clusterRole('everything-viewer', [WILDCARD], { labels: TO_VIEW });
  const viewers: Binding = { ...DEVS_EDIT, name: 'viewers', roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } };
  const decision = decide(review(everything), bootstrapRoles(), [viewers]);
  assert.equal(decision.violations.map((violation) => [violation.rule, violation.action, violation.via]), [['cluster-admin', 'deny', 'RoleBinding payments/viewers']]);
  assert.match(decision.violations[0]!.message, /^ClusterRole everything-viewer is aggregated into ClusterRole view/);
});

Aggregation('UPDATE of a role already aggregated (edit already grants impersonate) :: what was there warns, not denies', () => {
  const roles = bootstrapRoles().map((role) => (role.name === 'edit' ? withRulesOf(role, IMPERSONATE_HELPER) : role));
  const changed = { ...IMPERSONATE_HELPER, rules: [...IMPERSONATE_HELPER.rules, rule(['get'], ['configmaps'])] };
  const decision = decide(review(changed, IMPERSONATE_HELPER), [...roles, IMPERSONATE_HELPER], [DEVS_EDIT]);
  assert.equal(decision.violations.map((violation) => [violation.rule, violation.action, violation.downgradedBecause]), [['escalation', 'warn', 'it was already there before this update']]);
  assert.is(decision.allowed, true);
});

Aggregation('UPDATE that adds the label :: the widening is this change: denied', () => {
  const unlabelled = { ...IMPERSONATE_HELPER, labels: {} };
  const decision = decide(review(IMPERSONATE_HELPER, unlabelled), [...bootstrapRoles(), unlabelled], [DEVS_EDIT]);
  assert.equal(decision.violations.map((violation) => [violation.rule, violation.action]), [['escalation', 'deny']]);
});

Aggregation('no label an aggregationRule selects :: not consulted; a label nothing selects :: nothing found', () => {
  assert.is(factsNeeded(review({ ...IMPERSONATE_HELPER, labels: {} }), POLICY).aggregatorsOf, undefined);
  const other = { ...IMPERSONATE_HELPER, labels: { team: 'payments' } };
  assert.equal(decide(review(other), bootstrapRoles(), [DEVS_EDIT]).violations, []);
});

Aggregation('the aggregating role is never its own aggregator', () => {
  const edit = bootstrapRole('edit');
  const selfSelecting = { ...edit, labels: TO_EDIT };
  assert.equal(decide(review(selfSelecting, edit), bootstrapRoles(), [DEVS_EDIT]).violations.filter((violation) => violation.message.includes('is aggregated into ClusterRole edit')), []);
});

Aggregation('the role cache follows edit: once its aggregationRule is removed, or edit deleted, it aggregates nothing', () => {
  const index = new RoleIndex();
  for (const role of bootstrapRoles()) index.setRole(role);
  index.setBinding(DEVS_EDIT);
  const aggregators = () => (index.factsFor(factsNeeded(review(IMPERSONATE_HELPER), POLICY), 'the role cache', true).aggregators ?? []).map((role) => role.name);
  assert.ok(aggregators().includes('edit'), 'edit selects aggregate-to-edit');
  const { aggregationRule: _removed, ...plainEdit } = bootstrapRole('edit');
  index.setRole(plainEdit);
  assert.not.ok(aggregators().includes('edit'), 'edit without its aggregationRule');
  index.setRole(bootstrapRole('edit'));
  index.deleteRole(bootstrapRole('edit'));
  assert.not.ok(aggregators().includes('edit'), 'edit deleted');
});

const Check = suite('aggregation :: check and audit');

const manifests = () => {
  const edit = bootstrapRoles().find((role) => role.name === 'edit')!;
  // As a manifest declares it: rules empty, filled by the controller manager (and by check from the input).
  const declaredEdit = { ...edit, rules: [] };
  return [
    { source: 'rbac.yaml#1', role: declaredEdit },
    { source: 'rbac.yaml#2', role: IMPERSONATE_HELPER },
    { source: 'rbac.yaml#3', binding: DEVS_EDIT },
  ];
};

Check('check :: the labelled role in the input with edit and a binding of edit :: the labelled role denied for the aggregation', async () => {
  const checked = await judgeRbac(manifests(), POLICY, undefined, { rolesSource: 'the input', complete: false });
  const helper = checked.find((entry) => entry.object.name === 'impersonate-helper')!;
  assert.equal(helper.decision.violations.map((violation) => [violation.rule, violation.action, violation.via]), [['escalation', 'deny', 'RoleBinding payments/devs']]);
});

Check('audit (a whole cluster) :: nothing on the labelled role: the binding of edit carries the finding, once', async () => {
  const checked = await judgeRbac(manifests(), POLICY, undefined, { rolesSource: 'the cluster', complete: true });
  assert.equal(checked.find((entry) => entry.object.name === 'impersonate-helper')!.decision.violations, []);
  assert.equal(checked.find((entry) => entry.object.name === 'devs')!.decision.violations.map((violation) => violation.rule), ['escalation']);
});

Aggregation.run();
Check.run();
