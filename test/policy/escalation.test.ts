import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RBAC_GROUP, type Binding, type RbacRole } from '../../src/admission/types.ts';
import type { Decision, Violation } from '../../src/policy/decision.ts';
import { evaluate, type Review } from '../../src/policy/engine.ts';
import { UNKNOWN_ROLES, type Facts, type RoleFacts } from '../../src/policy/facts.ts';
import type { Policy, RuleId } from '../../src/policy/model.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import {
  ADMIN_GROUP_ID,
  DEVELOPER,
  GROUP_ID,
  SECURITY_GROUP,
  clusterRoleBinding,
  createReview,
  directoryFacts,
  group,
  policyWith,
  policyWithAllow,
  policyWithRules,
  roleBinding,
  serviceAccount,
  user,
} from '../helpers.ts';
import { STANDARD_VERBS, WILDCARD, bootstrapRole, clusterRole, namespacedRole, roleFacts, rule } from './role-helpers.ts';

/**
 * Privilege-aware decisions, through the engine: bindings judged on what their role grants (cluster-admin under
 * another name, the escalation rule), roles judged through the bindings that reference them, and what the engine says
 * when a role is missing or roles are unknown. Every case is a review by a requester nobody exempts, in enforce mode,
 * unless the case says otherwise.
 */

const RBAC = ['rbac.authorization.k8s.io'];
const GROUPS = directoryFacts({ [GROUP_ID]: SECURITY_GROUP, [ADMIN_GROUP_ID]: SECURITY_GROUP });
const team = group(GROUP_ID);
const admins = group(ADMIN_GROUP_ID);
const alice = user('alice@contoso.com');
const operator = serviceAccount('ops', 'rbac-operator');

// The roles a cluster might hold.
const RBAC_MANAGER = clusterRole('rbac-manager', [rule(['get', 'list', 'bind', 'escalate'], ['clusterroles', 'roles'], RBAC)]);
const IMPERSONATOR = clusterRole('impersonator', [rule(['impersonate'], ['users', 'groups'])]);
const NODE_DEBUGGER = clusterRole('node-debugger', [rule(['get'], ['nodes', 'nodes/proxy'])]);
const WEBHOOK_EDITOR = clusterRole('webhook-editor', [rule(['get', 'patch'], ['validatingwebhookconfigurations'], ['admissionregistration.k8s.io'])]);
const PLATFORM_SUPERUSER = clusterRole('platform-superuser', [WILDCARD]);
const SPELLED_OUT = clusterRole('spelled-out', [rule(STANDARD_VERBS, ['*'], ['*'])]);
const DEPLOYER = clusterRole('deployer', [rule(['get', 'list', 'create', 'update', 'patch'], ['deployments'], ['apps'])]);
const NAMESPACE_OWNER = namespacedRole('retail-app', 'namespace-owner', [WILDCARD]);
const NAMESPACED_CLUSTER_ADMIN = namespacedRole('retail-app', 'cluster-admin', [WILDCARD]);
const ROLE_ESCALATOR = namespacedRole('retail-app', 'role-escalator', [rule(['escalate', 'create', 'update'], ['roles'], RBAC)]);
const ALL_ROLES = [RBAC_MANAGER, IMPERSONATOR, NODE_DEBUGGER, WEBHOOK_EDITOR, PLATFORM_SUPERUSER, SPELLED_OUT, DEPLOYER, NAMESPACE_OWNER, NAMESPACED_CLUSTER_ADMIN, ROLE_ESCALATOR];

function facts(roles: RoleFacts): Facts {
  return { ...GROUPS, roles };
}

const CLUSTER = facts(roleFacts(ALL_ROLES));

function toClusterRole(binding: Binding, name: string): Binding {
  return { ...binding, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name } };
}

function toRole(binding: Binding, name: string): Binding {
  return { ...binding, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name } };
}

function summary(violation: Violation): string {
  return `${violation.rule} ${violation.action} ${violation.subject.kind} ${violation.subject.name}`;
}

function of(decision: Decision, rule: RuleId): Violation[] {
  return decision.violations.filter((violation) => violation.rule === rule);
}

function includesAll(text: string, parts: readonly string[]): void {
  for (const part of parts) assert.ok(text.includes(part), `"${part}" missing from: ${text}`);
}

// ---------------------------------------------------------------- bindings: the escalation rule

interface BindingCase {
  readonly name: string;
  readonly binding: Binding;
  readonly policy: Policy;
  readonly facts: Facts;
  /** `rule action Kind name` of the violations of escalation and cluster-admin, in order. */
  readonly expected: readonly string[];
  readonly allowed: boolean;
  /** Text every escalation/cluster-admin message holds: binding, subject, role, permission, fix. */
  readonly message: readonly string[];
  /** Substrings of the decision's notes, one per note (empty list: no note). */
  readonly notes: readonly string[];
}

const Escalation = suite('escalation :: bindings');

const escalationDefault: BindingCase = {
  name: 'ClusterRoleBinding to a role with bind and escalate, to a team group',
  binding: clusterRoleBinding([team], 'rbac-manager'),
  policy: policyWith(),
  facts: CLUSTER,
  expected: [`escalation deny Group ${GROUP_ID}`],
  allowed: false,
  message: [
    'ClusterRoleBinding team-binding',
    `Group "${GROUP_ID}"`,
    'ClusterRole rbac-manager',
    '[escalation]',
    'escalate on roles, clusterroles; bind on roles, clusterroles',
    'without holding its permissions',
    "Bind a role without these permissions, or bind this one to the policy's adminGroups only",
  ],
  notes: [],
};

const bindingCases: BindingCase[] = [
  escalationDefault,
  {
    ...escalationDefault,
    name: 'RoleBinding to a ClusterRole that impersonates users and groups',
    binding: toClusterRole(roleBinding([team]), 'impersonator'),
    message: ['RoleBinding retail-app/alice-edit', 'ClusterRole impersonator', 'impersonate on users, groups', 'act as other identities'],
  },
  {
    ...escalationDefault,
    name: 'nodes/proxy',
    binding: clusterRoleBinding([team], 'node-debugger'),
    message: ['get on nodes/proxy', 'kubelet API'],
  },
  {
    ...escalationDefault,
    name: 'patch on validatingwebhookconfigurations',
    binding: clusterRoleBinding([team], 'webhook-editor'),
    message: ['patch on validatingwebhookconfigurations', 'admission webhooks'],
  },
  {
    ...escalationDefault,
    name: 'RoleBinding to a namespaced Role with escalate on roles',
    binding: toRole(roleBinding([team]), 'role-escalator'),
    message: ['Role retail-app/role-escalator', 'escalate on roles'],
  },
  {
    ...escalationDefault,
    name: 'a namespaced Role with */*/* (not cluster-admin, but escalating)',
    binding: toRole(roleBinding([team]), 'namespace-owner'),
    message: ['Role retail-app/namespace-owner', 'escalate on roles, clusterroles', 'impersonate on users'],
  },
  {
    ...escalationDefault,
    name: 'a namespaced Role called cluster-admin is not the ClusterRole: escalation, not cluster-admin',
    binding: toRole(roleBinding([team]), 'cluster-admin'),
    message: ['Role retail-app/cluster-admin', 'escalate on roles'],
  },
  {
    ...escalationDefault,
    name: 'a User and a ServiceAccount: one violation each (user-subject judges the User too)',
    binding: clusterRoleBinding([alice, operator], 'rbac-manager'),
    expected: ['escalation deny User alice@contoso.com', 'escalation deny ServiceAccount rbac-operator'],
    message: ['ClusterRole rbac-manager'],
  },
  {
    ...escalationDefault,
    name: 'a group in adminGroups',
    binding: clusterRoleBinding([admins], 'rbac-manager'),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: "an operator's ServiceAccount in allow.clusterAdminSubjects",
    binding: clusterRoleBinding([operator, team], 'rbac-manager'),
    policy: policyWithAllow({ clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'ops', name: 'rbac-operator' }] }),
  },
  {
    ...escalationDefault,
    name: 'rules.escalation warn',
    policy: policyWithRules({ escalation: 'warn' }),
    expected: [`escalation warn Group ${GROUP_ID}`],
    allowed: true,
  },
  { ...escalationDefault, name: 'rules.escalation off', policy: policyWithRules({ escalation: 'off' }), expected: [], allowed: true },
  { ...escalationDefault, name: 'a role with nothing escalating', binding: clusterRoleBinding([team], 'deployer'), expected: [], allowed: true },
  {
    ...escalationDefault,
    name: 'bootstrap edit (impersonates serviceaccounts, but creates pods anyway)',
    binding: roleBinding([team]),
    facts: facts(roleFacts([bootstrapRole('edit')])),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'RoleBinding in allow.namespaces',
    binding: toClusterRole(roleBinding([team]), 'rbac-manager'),
    policy: policyWithAllow({ namespaces: ['retail-app'] }),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'roles unknown (no role cache): judged on the name only, as before, no note',
    facts: GROUPS,
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'the role cache has not synced: judged on the name, with a note saying why',
    facts: facts({ ...UNKNOWN_ROLES, unknownBecause: 'the role cache has not listed Role from the API server yet' }),
    expected: [],
    allowed: true,
    notes: ["was judged on its role's name only: roles are unknown (the role cache has not listed Role"],
  },
  {
    ...escalationDefault,
    name: 'a role that does not exist yet: judged on its name, with a note',
    binding: clusterRoleBinding([team], 'not-created-yet'),
    expected: [],
    allowed: true,
    notes: ['ClusterRole not-created-yet does not exist yet: ClusterRoleBinding team-binding was judged on the role\'s name only; the role will be checked against this binding when it is created'],
  },
  {
    ...escalationDefault,
    name: 'the bootstrap grant of the aggregation controller (escalate on clusterroles)',
    binding: clusterRoleBinding([serviceAccount('kube-system', 'clusterrole-aggregation-controller')], 'system:controller:clusterrole-aggregation-controller', {
      name: 'system:controller:clusterrole-aggregation-controller',
    }),
    facts: facts(roleFacts([bootstrapRole('system:controller:clusterrole-aggregation-controller')])),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'the same bootstrap binding with a team group added: the group is judged',
    binding: clusterRoleBinding([serviceAccount('kube-system', 'clusterrole-aggregation-controller'), team], 'system:controller:clusterrole-aggregation-controller', {
      name: 'system:controller:clusterrole-aggregation-controller',
    }),
    facts: facts(roleFacts([bootstrapRole('system:controller:clusterrole-aggregation-controller')])),
    message: ['escalate on clusterroles'],
  },
  // cluster-admin under another name
  {
    ...escalationDefault,
    name: 'cluster-admin :: a custom */*/* ClusterRole',
    binding: clusterRoleBinding([team], 'platform-superuser'),
    expected: [`cluster-admin deny Group ${GROUP_ID}`],
    message: [
      'ClusterRoleBinding team-binding grants platform-superuser to',
      '[cluster-admin]',
      'ClusterRole platform-superuser grants everything (all verbs on all resources in all API groups)',
      'cluster-admin under another name',
      'add the group to adminGroups',
    ],
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: every standard verb spelled out',
    binding: clusterRoleBinding([team], 'spelled-out'),
    expected: [`cluster-admin deny Group ${GROUP_ID}`],
    message: ['ClusterRole spelled-out grants everything'],
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: RoleBinding to a */*/* ClusterRole',
    binding: toClusterRole(roleBinding([team]), 'platform-superuser'),
    expected: [`cluster-admin deny Group ${GROUP_ID}`],
    message: ['in namespace retail-app', 'namespace administrators use ClusterRole admin'],
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: */*/* to an admin group',
    binding: clusterRoleBinding([admins], 'platform-superuser'),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: off: escalation does not repeat it either (cluster-admin grants are that rule\'s)',
    binding: clusterRoleBinding([team], 'platform-superuser'),
    policy: policyWithRules({ 'cluster-admin': 'off' }),
    expected: [],
    allowed: true,
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: by name, the role known to the cache: the usual message',
    binding: clusterRoleBinding([team], 'cluster-admin'),
    facts: facts(roleFacts([bootstrapRole('cluster-admin')])),
    expected: [`cluster-admin deny Group ${GROUP_ID}`],
    message: ['grants cluster-admin to', "only the policy's adminGroups may hold it"],
  },
  {
    ...escalationDefault,
    name: 'cluster-admin :: by name, no role facts: as before',
    binding: clusterRoleBinding([team], 'cluster-admin'),
    facts: GROUPS,
    expected: [`cluster-admin deny Group ${GROUP_ID}`],
    message: ['grants cluster-admin to'],
  },
];

for (const testCase of bindingCases) {
  const outcome = testCase.expected.length === 0 ? 'not reported' : testCase.allowed ? 'warned' : 'denied';
  Escalation(`escalation :: ${testCase.name} :: ${outcome}`, () => {
    const decision = evaluate(createReview(testCase.binding), testCase.policy, testCase.facts);
    const judged = [...of(decision, 'cluster-admin'), ...of(decision, 'escalation')];
    assert.equal(judged.map(summary), [...testCase.expected]);
    assert.is(decision.allowed, testCase.allowed && decision.violations.every((violation) => violation.action !== 'deny'));
    for (const violation of judged) {
      includesAll(violation.message, [...testCase.message, violation.subject.name]);
      assert.is(violation.via, undefined, 'a binding review names no other binding');
    }
    assert.is(decision.notes.length, testCase.notes.length, `notes: ${JSON.stringify(decision.notes)}`);
    testCase.notes.forEach((text, index) => assert.ok(decision.notes[index]!.includes(text), decision.notes[index]));
  });
}

Escalation('escalation :: a User bound to an escalating role :: user-subject and escalation both, in RULES order', () => {
  const decision = evaluate(createReview(clusterRoleBinding([alice], 'rbac-manager')), policyWith(), CLUSTER);
  assert.equal(decision.violations.map(summary), ['user-subject deny User alice@contoso.com', 'escalation deny User alice@contoso.com']);
});

Escalation('escalation :: UPDATE of a binding already holding the escalating role :: warns, allowed', () => {
  const binding = clusterRoleBinding([team], 'rbac-manager');
  const decision = evaluate(createReview(binding, { operation: 'UPDATE', oldBinding: binding }), policyWith(), CLUSTER);
  assert.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`escalation warn Group ${GROUP_ID}`]);
  assert.match(decision.violations[0]!.downgradedBecause ?? '', /already there/);
});

Escalation('escalation :: mode audit :: warns with the reason, allowed', () => {
  const decision = evaluate(createReview(clusterRoleBinding([team], 'rbac-manager')), policyWith({ mode: 'audit' }), CLUSTER);
  assert.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`escalation warn Group ${GROUP_ID}`]);
  assert.match(decision.violations[0]!.downgradedBecause ?? '', /audit mode/);
});

Escalation("escalation :: check's input lacks a custom role :: note says so; a default role's absence is not noted", () => {
  const input = facts({ ...roleFacts([]), source: 'the input', complete: false });
  const custom = evaluate(createReview(clusterRoleBinding([team], 'ci-deployer')), policyWith(), input);
  assert.equal(custom.notes, [
    "ClusterRole ci-deployer is not in the input: ClusterRoleBinding team-binding was judged on the role's name only (add the role to check what it grants)",
  ]);
  for (const name of ['edit', 'view', 'admin', 'cluster-admin', 'system:aggregate-to-edit']) {
    const builtIn = evaluate(createReview(toClusterRole(roleBinding([team]), name)), policyWith(), input);
    assert.equal(builtIn.notes, [], name);
  }
  const role = evaluate(createReview(toRole(roleBinding([team]), 'edit')), policyWith(), input);
  assert.equal(role.notes, ["Role retail-app/edit is not in the input: RoleBinding retail-app/alice-edit was judged on the role's name only (add the role to check what it grants)"]);
});

Escalation('escalation :: both role-reading rules off :: no note about roles, none needed', () => {
  const decision = evaluate(createReview(clusterRoleBinding([team], 'not-created-yet')), policyWithRules({ escalation: 'off', 'cluster-admin': 'off' }), CLUSTER);
  assert.equal(decision.notes, []);
});

Escalation.run();

// ---------------------------------------------------------------- roles under review

const Roles = suite('escalation :: roles under review');

function roleReview(role: RbacRole, overrides: Partial<Review> = {}): Review {
  return { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind: role.kind }, role, requester: DEVELOPER, ...overrides };
}

function widened(role: RbacRole, rules = [WILDCARD]): RbacRole {
  return { ...role, rules };
}

const VIEWER = clusterRole('team-viewer', [rule(['get', 'list', 'watch'], ['pods', 'services'])]);
const teamViewers = clusterRoleBinding([team], 'team-viewer', { name: 'team-viewers' });
const adminViewers = clusterRoleBinding([admins], 'team-viewer', { name: 'admin-viewers' });
const nsViewers = toClusterRole(roleBinding([team, alice], { name: 'ns-viewers', namespace: 'payments' }), 'team-viewer');
/** The cluster before the change: the role as it was, and who holds it. */
const BOUND = facts(roleFacts([VIEWER], [teamViewers, adminViewers, nsViewers]));

Roles('role :: ClusterRole widened to */*/* while bound to a non-admin group :: denied, naming role, binding, subject, fix', () => {
  const decision = evaluate(roleReview(widened(VIEWER), { operation: 'UPDATE', oldRole: VIEWER }), policyWith(), facts(roleFacts([VIEWER], [teamViewers])));
  assert.not.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`cluster-admin deny Group ${GROUP_ID}`]);
  const [violation] = decision.violations;
  assert.is(violation!.via, 'ClusterRoleBinding team-viewers');
  assert.is(
    violation!.message,
    `ClusterRole team-viewer would grant everything (all verbs on all resources in all API groups) to Group "${GROUP_ID}" through ClusterRoleBinding team-viewers [cluster-admin]: ` +
      "only the policy's adminGroups may hold cluster-admin; keep the role narrower, or first delete ClusterRoleBinding team-viewers (or bind the role to an admin group instead)",
  );
});

Roles('role :: widened while bound through three bindings :: one violation per binding and subject, the admin binding not among them', () => {
  const decision = evaluate(roleReview(widened(VIEWER), { operation: 'UPDATE', oldRole: VIEWER }), policyWith(), BOUND);
  assert.not.ok(decision.allowed);
  assert.equal(
    decision.violations.map((violation) => `${summary(violation)} via ${violation.via}`),
    [
      `cluster-admin deny Group ${GROUP_ID} via ClusterRoleBinding team-viewers`,
      `cluster-admin deny Group ${GROUP_ID} via RoleBinding payments/ns-viewers`,
      'cluster-admin deny User alice@contoso.com via RoleBinding payments/ns-viewers',
    ],
  );
  assert.ok(decision.violations[1]!.message.includes('in namespace payments'), decision.violations[1]!.message);
});

Roles('role :: only the rules that read the role run :: the User in a binding is not reported again by user-subject', () => {
  const decision = evaluate(roleReview(widened(VIEWER)), policyWith(), BOUND);
  assert.not.ok(decision.violations.some((violation) => violation.rule === 'user-subject'));
});

Roles('role :: ClusterRole given bind on clusterroles while bound :: denied [escalation], naming the permission', () => {
  const decision = evaluate(roleReview(widened(VIEWER, [rule(['bind'], ['clusterroles'], RBAC)]), { operation: 'UPDATE', oldRole: VIEWER }), policyWith(), facts(roleFacts([VIEWER], [teamViewers])));
  assert.not.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`escalation deny Group ${GROUP_ID}`]);
  includesAll(decision.violations[0]!.message, [
    `ClusterRole team-viewer would grant bind on clusterroles to Group "${GROUP_ID}" through ClusterRoleBinding team-viewers [escalation]`,
    'Leave these permissions out of the role, or first delete ClusterRoleBinding team-viewers',
  ]);
});

Roles('role :: CREATE of a role that bindings already reference ("bind first, create the role later") :: denied', () => {
  const early = clusterRoleBinding([team], 'later', { name: 'bound-early' });
  const decision = evaluate(roleReview(clusterRole('later', [WILDCARD])), policyWith(), facts(roleFacts([], [early])));
  assert.not.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`cluster-admin deny Group ${GROUP_ID}`]);
});

Roles('role :: CREATE of a role named in clusterAdminRoles while bound :: denied with the listed reason', () => {
  const early = clusterRoleBinding([team], 'platform-admin', { name: 'bound-early' });
  const policy = policyWith({ clusterAdminRoles: ['cluster-admin', 'platform-admin'] });
  const decision = evaluate(roleReview(clusterRole('platform-admin', [])), policy, facts(roleFacts([], [early])));
  assert.not.ok(decision.allowed);
  assert.ok(decision.violations[0]!.message.includes('would grant cluster-admin (the policy lists it in clusterAdminRoles)'), decision.violations[0]!.message);
});

Roles('role :: UPDATE of a role that already granted everything :: warned as pre-existing, allowed', () => {
  const wide = widened(VIEWER);
  const decision = evaluate(roleReview(wide, { operation: 'UPDATE', oldRole: wide }), policyWith(), BOUND);
  assert.ok(decision.allowed);
  assert.ok(decision.violations.length === 3 && decision.violations.every((violation) => violation.action === 'warn'));
  assert.match(decision.violations[0]!.downgradedBecause ?? '', /already there/);
});

Roles('role :: UPDATE from escalating to everything :: the cluster-admin violation is new, denied', () => {
  const escalating = widened(VIEWER, [rule(['bind'], ['clusterroles'], RBAC)]);
  const decision = evaluate(roleReview(widened(VIEWER), { operation: 'UPDATE', oldRole: escalating }), policyWith(), facts(roleFacts([escalating], [teamViewers])));
  assert.not.ok(decision.allowed);
  assert.equal(decision.violations.map(summary), [`cluster-admin deny Group ${GROUP_ID}`]);
});

Roles('role :: widened while bound to admin groups only :: allowed, nothing reported', () => {
  const decision = evaluate(roleReview(widened(VIEWER)), policyWith(), facts(roleFacts([VIEWER], [adminViewers])));
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Roles('role :: widened while bound by nobody :: allowed, nothing reported', () => {
  const decision = evaluate(roleReview(widened(VIEWER)), policyWith(), facts(roleFacts([VIEWER])));
  assert.ok(decision.allowed);
  assert.equal([decision.violations, decision.notes], [[], []]);
});

Roles('role :: harmless change while bound :: allowed, nothing reported', () => {
  const narrower = widened(VIEWER, [rule(['get'], ['pods'])]);
  const decision = evaluate(roleReview(narrower, { operation: 'UPDATE', oldRole: VIEWER }), policyWith(), BOUND);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Roles('role :: namespaced Role widened while a RoleBinding in its namespace binds it :: denied [escalation]; a same-named Role elsewhere is not affected', () => {
  const deployer = namespacedRole('payments', 'deployer', [rule(['get'], ['pods'])]);
  const here = toRole(roleBinding([team], { name: 'deployers', namespace: 'payments' }), 'deployer');
  const elsewhere = toRole(roleBinding([team], { name: 'deployers', namespace: 'retail-app' }), 'deployer');
  const decision = evaluate(roleReview(widened(deployer)), policyWith(), facts(roleFacts([deployer], [here, elsewhere])));
  assert.not.ok(decision.allowed);
  assert.equal(decision.violations.map((violation) => `${summary(violation)} via ${violation.via}`), [`escalation deny Group ${GROUP_ID} via RoleBinding payments/deployers`]);
  assert.ok(decision.violations[0]!.message.startsWith('Role payments/deployer would grant'), decision.violations[0]!.message);
});

Roles('role :: RoleBindings in allow.namespaces are not judged; a Role there is exempt', () => {
  const policy = policyWithAllow({ namespaces: ['payments'] });
  const cluster = evaluate(roleReview(widened(VIEWER)), policy, BOUND);
  assert.equal(cluster.violations.map((violation) => violation.via), ['ClusterRoleBinding team-viewers']);
  const deployer = namespacedRole('payments', 'deployer', [WILDCARD]);
  const namespaced = evaluate(roleReview(deployer), policy, facts(roleFacts([], [toRole(roleBinding([team], { namespace: 'payments' }), 'deployer')])));
  assert.ok(namespaced.allowed);
  assert.match(namespaced.exemption ?? '', /allow\.namespaces/);
});

Roles('role :: bound only through a bootstrap grant :: allowed (kube-apiserver reconciles cluster-admin for system:masters)', () => {
  const bootstrap = clusterRoleBinding([group('system:masters')], 'cluster-admin', { name: 'cluster-admin' });
  const decision = evaluate(roleReview(bootstrapRole('cluster-admin'), { operation: 'UPDATE', oldRole: bootstrapRole('cluster-admin') }), policyWith(), facts(roleFacts([], [bootstrap])));
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Roles('role :: requested by system:apiserver :: allowed, violations kept as warnings', () => {
  const decision = evaluate(roleReview(widened(VIEWER), { requester: { username: 'system:apiserver', groups: ['system:masters'] } }), policyWith(), BOUND);
  assert.ok(decision.allowed);
  assert.ok(decision.violations.length > 0 && decision.violations.every((violation) => violation.action === 'warn'));
  assert.match(decision.violations[0]!.downgradedBecause ?? '', /system:apiserver/);
});

Roles('role :: mode audit :: allowed with warnings', () => {
  const decision = evaluate(roleReview(widened(VIEWER)), policyWith({ mode: 'audit' }), BOUND);
  assert.ok(decision.allowed);
  assert.ok(decision.violations.every((violation) => violation.action === 'warn'));
});

Roles('role :: rules cluster-admin and escalation warn :: allowed with warnings', () => {
  const decision = evaluate(roleReview(widened(VIEWER)), policyWithRules({ 'cluster-admin': 'warn', escalation: 'warn' }), BOUND);
  assert.ok(decision.allowed);
  assert.is(decision.violations.length, 3);
});

Roles('role :: DELETE :: allowed, nothing judged', () => {
  const decision = evaluate(roleReview(widened(VIEWER), { operation: 'DELETE' }), policyWith(), BOUND);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Roles('role :: roles unknown (no role cache) :: a dangerous role is allowed with a note; a harmless one silently', () => {
  const dangerous = evaluate(roleReview(widened(VIEWER)), policyWith(), GROUPS);
  assert.ok(dangerous.allowed);
  assert.equal(dangerous.notes, [
    'ClusterRole team-viewer grants cluster-admin or escalating permissions, and the bindings that reference it were not checked: the webhook has no role cache',
  ]);
  const harmless = evaluate(roleReview(VIEWER), policyWith(), GROUPS);
  assert.equal([harmless.allowed, harmless.notes], [true, []]);
  const unsynced = evaluate(roleReview(widened(VIEWER)), policyWith(), facts({ ...UNKNOWN_ROLES, unknownBecause: 'the role cache has not synced' }));
  assert.ok(unsynced.notes[0]!.endsWith('were not checked: the role cache has not synced'), unsynced.notes[0]);
});

Roles.run();

// ---------------------------------------------------------------- what the engine asks the edge for

const Needs = suite('factsNeeded :: roles');

interface NeedsCase {
  readonly name: string;
  readonly review: { readonly operation: string; readonly binding?: Binding; readonly role?: RbacRole };
  readonly policy: Policy;
  readonly roles: readonly string[] | undefined;
  readonly bindingsOf: readonly string[] | undefined;
}

const needsDefault: NeedsCase = {
  name: 'RoleBinding to a ClusterRole needs that ClusterRole',
  review: { operation: 'CREATE', binding: roleBinding([team]) },
  policy: policyWith(),
  roles: ['ClusterRole//edit'],
  bindingsOf: undefined,
};

const id = (role: { kind: string; namespace: string; name: string }) => `${role.kind}/${role.namespace}/${role.name}`;

for (const testCase of [
  needsDefault,
  { ...needsDefault, name: 'UPDATE needs the same', review: { operation: 'UPDATE', binding: roleBinding([team]) } },
  { ...needsDefault, name: 'RoleBinding to a Role needs the Role in its namespace', review: { operation: 'CREATE', binding: toRole(roleBinding([team]), 'deployer') }, roles: ['Role/retail-app/deployer'] },
  { ...needsDefault, name: 'ClusterRoleBinding to a ClusterRole', review: { operation: 'CREATE', binding: clusterRoleBinding([team], 'view') }, roles: ['ClusterRole//view'] },
  { ...needsDefault, name: 'ClusterRoleBinding to a Role (the API server rejects it) needs nothing', review: { operation: 'CREATE', binding: toRole(clusterRoleBinding([team]), 'x') }, roles: undefined },
  { ...needsDefault, name: 'the rules that read roles are off', policy: policyWithRules({ 'cluster-admin': 'off', escalation: 'off' }), roles: undefined },
  { ...needsDefault, name: 'only escalation is on', policy: policyWithRules({ 'cluster-admin': 'off' }) },
  { ...needsDefault, name: 'RoleBinding in allow.namespaces', policy: policyWithAllow({ namespaces: ['retail-app'] }), roles: undefined },
  { ...needsDefault, name: 'DELETE', review: { operation: 'DELETE', binding: roleBinding([team]) }, roles: undefined },
  { ...needsDefault, name: 'a ClusterRole under review needs its bindings', review: { operation: 'CREATE', role: VIEWER }, roles: undefined, bindingsOf: ['ClusterRole//team-viewer'] },
  { ...needsDefault, name: 'a Role under review needs its bindings', review: { operation: 'UPDATE', role: namespacedRole('payments', 'deployer', []) }, roles: undefined, bindingsOf: ['Role/payments/deployer'] },
  { ...needsDefault, name: 'a Role in allow.namespaces needs nothing', review: { operation: 'CREATE', role: namespacedRole('payments', 'deployer', []) }, policy: policyWithAllow({ namespaces: ['payments'] }), roles: undefined },
  { ...needsDefault, name: 'a role under review with the role rules off needs nothing', review: { operation: 'CREATE', role: VIEWER }, policy: policyWithRules({ 'cluster-admin': 'off', escalation: 'off' }), roles: undefined },
] satisfies NeedsCase[]) {
  Needs(`factsNeeded :: ${testCase.name} :: roles ${JSON.stringify(testCase.roles ?? [])}, bindings of ${JSON.stringify(testCase.bindingsOf ?? [])}`, () => {
    const needs = factsNeeded(testCase.review, testCase.policy);
    assert.equal(needs.roles?.map(id), testCase.roles ? [...testCase.roles] : undefined);
    assert.equal(needs.bindingsOf?.map(id), testCase.bindingsOf ? [...testCase.bindingsOf] : undefined);
  });
}

Needs('factsNeeded :: a role under review :: looks no group up (existing bindings were judged when written)', () => {
  assert.equal(factsNeeded({ operation: 'CREATE', role: VIEWER }, policyWith()).groupIds, []);
});

Needs.run();
