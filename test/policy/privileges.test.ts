import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { LabelSelector, PolicyRule, RbacRole } from '../../src/admission/types.ts';
import { escalatingPermissions, grantsEverything, selectorMatches, withAggregatedRules } from '../../src/policy/privileges.ts';
import { STANDARD_VERBS, WILDCARD, bootstrapRole, bootstrapRoles, clusterRole, namespacedRole, rule } from './role-helpers.ts';

/**
 * What a role's rules grant, as pure tables: a default case and a spread per variant. Expected values are written
 * out here (not taken from src), in the words the messages use.
 */

const BOOTSTRAP = bootstrapRoles();
const RBAC = ['rbac.authorization.k8s.io'];
const ADMISSION = ['admissionregistration.k8s.io'];
const AUTHN = ['authentication.k8s.io'];

// ---------------------------------------------------------------- cluster-admin-equivalent

const Everything = suite('grantsEverything');

interface EverythingCase {
  readonly name: string;
  readonly rules: readonly PolicyRule[];
  readonly everything: boolean;
}

const everythingDefault: EverythingCase = { name: '*/*/* in one rule', rules: [WILDCARD], everything: true };

for (const testCase of [
  everythingDefault,
  { ...everythingDefault, name: 'the standard verb list instead of *', rules: [rule(STANDARD_VERBS, ['*'], ['*'])] },
  {
    ...everythingDefault,
    name: 'the standard verbs split over two */* rules',
    rules: [rule(['get', 'list', 'watch'], ['*'], ['*']), rule(['create', 'update', 'patch', 'delete', 'deletecollection'], ['*'], ['*'])],
  },
  { ...everythingDefault, name: '* among other verbs, groups and resources', rules: [rule(['get', '*'], ['pods', '*'], ['', '*'])] },
  { ...everythingDefault, name: 'plus nonResourceURLs (bootstrap cluster-admin)', rules: bootstrapRole('cluster-admin', BOOTSTRAP).rules },
  { ...everythingDefault, name: 'standard verbs without deletecollection', rules: [rule(STANDARD_VERBS.slice(0, 7), ['*'], ['*'])], everything: false },
  { ...everythingDefault, name: 'read-only on everything', rules: [rule(['get', 'list', 'watch'], ['*'], ['*'])], everything: false },
  { ...everythingDefault, name: 'all verbs on every resource of the core group only', rules: [rule(['*'], ['*'], [''])], everything: false },
  {
    ...everythingDefault,
    name: 'API groups listed one by one (CRDs add more: never all)',
    rules: [rule(['*'], ['*'], ['', 'apps', 'batch', 'rbac.authorization.k8s.io'])],
    everything: false,
  },
  { ...everythingDefault, name: 'resources */* (subresources only)', rules: [rule(['*'], ['*/*'], ['*'])], everything: false },
  { ...everythingDefault, name: '*/*/* limited by resourceNames', rules: [rule(['*'], ['*'], ['*'], { resourceNames: ['x'] })], everything: false },
  { ...everythingDefault, name: 'all verbs on split groups and resources', rules: [rule(['*'], ['*'], ['']), rule(['*'], ['pods'], ['*'])], everything: false },
  { ...everythingDefault, name: 'nonResourceURLs * only', rules: [rule(['*'], [], [], { nonResourceURLs: ['*'] })], everything: false },
  { ...everythingDefault, name: 'verbs spelled in upper case (the API server matches exactly)', rules: [rule(STANDARD_VERBS.map((verb) => verb.toUpperCase()), ['*'], ['*'])], everything: false },
  { ...everythingDefault, name: 'no rules', rules: [], everything: false },
  { ...everythingDefault, name: 'bootstrap admin, aggregated', rules: bootstrapRole('admin', BOOTSTRAP).rules, everything: false },
] satisfies EverythingCase[]) {
  Everything(`grantsEverything :: ${testCase.name} :: ${testCase.everything}`, () => {
    assert.is(grantsEverything(testCase.rules), testCase.everything);
  });
}

Everything.run();

// ---------------------------------------------------------------- escalating permissions

const Escalating = suite('escalatingPermissions');

interface EscalatingCase {
  readonly name: string;
  readonly rules: readonly PolicyRule[];
  /** `kind: permission`, in the order reported. */
  readonly expected: readonly string[];
}

const escalatingDefault: EscalatingCase = {
  name: 'escalate on roles',
  rules: [rule(['escalate'], ['roles'], RBAC)],
  expected: ['escalate: escalate on roles'],
};

for (const testCase of [
  escalatingDefault,
  { ...escalatingDefault, name: 'escalate on clusterroles via apiGroups *', rules: [rule(['escalate'], ['clusterroles'], ['*'])], expected: ['escalate: escalate on clusterroles'] },
  {
    ...escalatingDefault,
    name: 'bind limited to cluster-admin by resourceNames (still counts)',
    rules: [rule(['bind'], ['clusterroles'], RBAC, { resourceNames: ['cluster-admin'] })],
    expected: ['bind: bind on clusterroles'],
  },
  {
    ...escalatingDefault,
    name: '* verbs on roles and clusterroles',
    rules: [rule(['*'], ['roles', 'clusterroles'], RBAC)],
    expected: ['escalate: escalate on roles, clusterroles', 'bind: bind on roles, clusterroles'],
  },
  { ...escalatingDefault, name: 'escalate in the core group (no such resource there)', rules: [rule(['escalate'], ['roles'], [''])], expected: [] },
  { ...escalatingDefault, name: 'Escalate in another case (not a verb the API server knows)', rules: [rule(['Escalate'], ['roles'], RBAC)], expected: [] },
  { ...escalatingDefault, name: 'create and update on roles (RBAC still checks escalation)', rules: [rule(['create', 'update', 'patch'], ['roles', 'rolebindings'], RBAC)], expected: [] },
  { ...escalatingDefault, name: 'impersonate users and groups', rules: [rule(['impersonate'], ['users', 'groups'])], expected: ['impersonate: impersonate on users, groups'] },
  { ...escalatingDefault, name: 'impersonate serviceaccounts alone', rules: [rule(['impersonate'], ['serviceaccounts'])], expected: ['impersonate: impersonate on serviceaccounts'] },
  {
    ...escalatingDefault,
    name: 'impersonate serviceaccounts with create pods (a pod can run as any of them: edit, admin)',
    rules: [rule(['impersonate'], ['serviceaccounts']), rule(['create'], ['pods'])],
    expected: [],
  },
  {
    ...escalatingDefault,
    name: 'impersonate serviceaccounts with create pods in another group only',
    rules: [rule(['impersonate'], ['serviceaccounts']), rule(['create'], ['pods'], ['metrics.k8s.io'])],
    expected: ['impersonate: impersonate on serviceaccounts'],
  },
  { ...escalatingDefault, name: 'impersonate userextras/scopes', rules: [rule(['impersonate'], ['userextras/scopes'], AUTHN)], expected: ['impersonate: impersonate on userextras'] },
  { ...escalatingDefault, name: 'impersonate uids', rules: [rule(['impersonate'], ['uids'], AUTHN)], expected: ['impersonate: impersonate on uids'] },
  {
    ...escalatingDefault,
    name: 'impersonate on every resource of every group (nodes/proxy too: any verb counts there)',
    rules: [rule(['impersonate'], ['*'], ['*'])],
    expected: ['impersonate: impersonate on users, groups, serviceaccounts, userextras, uids', 'nodes/proxy: impersonate on nodes/proxy'],
  },
  { ...escalatingDefault, name: 'impersonate users in authentication.k8s.io (users are core)', rules: [rule(['impersonate'], ['users'], AUTHN)], expected: [] },
  { ...escalatingDefault, name: 'get on nodes/proxy', rules: [rule(['get'], ['nodes/proxy'])], expected: ['nodes/proxy: get on nodes/proxy'] },
  { ...escalatingDefault, name: 'create on */proxy', rules: [rule(['create'], ['*/proxy'])], expected: ['nodes/proxy: create on nodes/proxy'] },
  { ...escalatingDefault, name: 'get on nodes and nodes/status (not proxy)', rules: [rule(['get', 'list', 'watch'], ['nodes', 'nodes/status'])], expected: [] },
  {
    ...escalatingDefault,
    name: 'read-only on everything (get nodes/proxy opens exec)',
    rules: [rule(['get', 'list', 'watch'], ['*'], ['*'])],
    expected: ['nodes/proxy: get, list, watch on nodes/proxy'],
  },
  {
    ...escalatingDefault,
    name: 'patch on mutatingwebhookconfigurations',
    rules: [rule(['get', 'patch'], ['mutatingwebhookconfigurations'], ADMISSION)],
    expected: ['webhook-configurations: patch on mutatingwebhookconfigurations'],
  },
  {
    ...escalatingDefault,
    name: '* on both webhook configurations',
    rules: [rule(['*'], ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'], ADMISSION)],
    expected: ['webhook-configurations: * on validatingwebhookconfigurations, mutatingwebhookconfigurations'],
  },
  { ...escalatingDefault, name: 'delete on webhook configurations via resources *', rules: [rule(['delete'], ['*'], ADMISSION)], expected: ['webhook-configurations: delete on validatingwebhookconfigurations, mutatingwebhookconfigurations'] },
  { ...escalatingDefault, name: 'read-only on webhook configurations', rules: [rule(['get', 'list', 'watch'], ['validatingwebhookconfigurations'], ADMISSION)], expected: [] },
  { ...escalatingDefault, name: 'webhook configurations in the wrong group', rules: [rule(['*'], ['validatingwebhookconfigurations'], [''])], expected: [] },
  {
    ...escalatingDefault,
    name: 'every kind at once, in a fixed order',
    rules: [rule(['patch'], ['validatingwebhookconfigurations'], ADMISSION), rule(['get'], ['nodes/proxy']), rule(['impersonate'], ['groups']), rule(['bind', 'escalate'], ['clusterroles'], RBAC)],
    expected: [
      'escalate: escalate on clusterroles',
      'bind: bind on clusterroles',
      'impersonate: impersonate on groups',
      'nodes/proxy: get on nodes/proxy',
      'webhook-configurations: patch on validatingwebhookconfigurations',
    ],
  },
  { ...escalatingDefault, name: 'nonResourceURLs only', rules: [rule(['*'], [], [], { nonResourceURLs: ['*'] })], expected: [] },
  { ...escalatingDefault, name: 'bootstrap edit, aggregated (impersonates serviceaccounts, creates pods)', rules: bootstrapRole('edit', BOOTSTRAP).rules, expected: [] },
  { ...escalatingDefault, name: 'bootstrap admin, aggregated', rules: bootstrapRole('admin', BOOTSTRAP).rules, expected: [] },
  { ...escalatingDefault, name: 'bootstrap view, aggregated', rules: bootstrapRole('view', BOOTSTRAP).rules, expected: [] },
  {
    ...escalatingDefault,
    name: 'bootstrap clusterrole-aggregation-controller',
    rules: bootstrapRole('system:controller:clusterrole-aggregation-controller', BOOTSTRAP).rules,
    expected: ['escalate: escalate on clusterroles'],
  },
] satisfies EscalatingCase[]) {
  Escalating(`escalatingPermissions :: ${testCase.name} :: ${testCase.expected.length === 0 ? 'none' : testCase.expected.length}`, () => {
    const found = escalatingPermissions(testCase.rules);
    assert.equal(found.map((permission) => `${permission.kind}: ${permission.permission}`), [...testCase.expected]);
    for (const permission of found) assert.ok(permission.consequence.length > 20, `${permission.kind} needs a consequence`);
  });
}

Escalating.run();

// ---------------------------------------------------------------- label selectors

const Selectors = suite('selectorMatches');

const LABELS = { 'rbac.example.com/aggregate-to-ops': 'true', tier: 'gold' };
const selector = (matchLabels: Record<string, string>, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector => ({ matchLabels, matchExpressions });

for (const [name, tested, matches] of [
  ['matchLabels equal', selector({ 'rbac.example.com/aggregate-to-ops': 'true' }), true],
  ['matchLabels other value', selector({ 'rbac.example.com/aggregate-to-ops': 'false' }), false],
  ['matchLabels absent key', selector({ other: 'true' }), false],
  ['empty selector selects everything', selector({}), true],
  ['In', selector({}, [{ key: 'tier', operator: 'In', values: ['silver', 'gold'] }]), true],
  ['In, value not listed', selector({}, [{ key: 'tier', operator: 'In', values: ['silver'] }]), false],
  ['NotIn, value listed', selector({}, [{ key: 'tier', operator: 'NotIn', values: ['gold'] }]), false],
  ['NotIn, key absent', selector({}, [{ key: 'zone', operator: 'NotIn', values: ['a'] }]), true],
  ['Exists', selector({}, [{ key: 'tier', operator: 'Exists', values: [] }]), true],
  ['DoesNotExist', selector({}, [{ key: 'tier', operator: 'DoesNotExist', values: [] }]), false],
  ['labels and expressions are ANDed', selector({ tier: 'gold' }, [{ key: 'zone', operator: 'Exists', values: [] }]), false],
  ['an operator the API server rejects selects nothing', selector({}, [{ key: 'tier', operator: 'Matches', values: ['g.*'] }]), false],
] as const) {
  Selectors(`selectorMatches :: ${name} :: ${matches}`, () => {
    assert.is(selectorMatches(tested, LABELS), matches);
  });
}

Selectors.run();

// ---------------------------------------------------------------- aggregated ClusterRoles

const Aggregation = suite('withAggregatedRules');

const aggregateTo = (label: string): LabelSelector => selector({ [label]: 'true' });
const readPods = rule(['get'], ['pods']);
const bindRoles = rule(['bind'], ['clusterroles'], RBAC);

function rulesOf(roles: readonly RbacRole[], name: string): readonly PolicyRule[] {
  return roles.find((role) => role.name === name)!.rules;
}

Aggregation('withAggregatedRules :: bootstrap 1.20, rules empty as stored without a controller manager :: admin gets edit and view transitively', () => {
  const admin = bootstrapRole('admin', BOOTSTRAP);
  const edit = bootstrapRole('edit', BOOTSTRAP);
  const view = bootstrapRole('view', BOOTSTRAP);
  assert.ok(view.rules.length > 0 && edit.rules.length > view.rules.length && admin.rules.length > edit.rules.length);
  const has = (role: RbacRole, verb: string, resource: string) => role.rules.some((entry) => entry.verbs.includes(verb) && entry.resources.includes(resource));
  assert.ok(has(admin, 'create', 'rolebindings'), 'admin: from system:aggregate-to-admin');
  assert.ok(has(admin, 'impersonate', 'serviceaccounts'), 'admin: from edit, which aggregates system:aggregate-to-edit');
  assert.ok(has(admin, 'get', 'pods'), 'admin: from view, through edit');
  assert.not.ok(has(view, 'create', 'pods'));
});

Aggregation('withAggregatedRules :: a ClusterRole labelled to aggregate into an aggregated one :: its rules are added', () => {
  const roles = withAggregatedRules([
    clusterRole('ops', [readPods], { aggregationRule: { clusterRoleSelectors: [aggregateTo('ops')] } }),
    clusterRole('sneaky', [bindRoles], { labels: { ops: 'true' } }),
    clusterRole('unrelated', [WILDCARD]),
  ]);
  assert.equal(rulesOf(roles, 'ops'), [readPods, bindRoles]);
  assert.equal(rulesOf(roles, 'sneaky'), [bindRoles], 'a role without aggregationRule keeps its rules');
});

Aggregation('withAggregatedRules :: a Role with the label :: never aggregated (only ClusterRoles are)', () => {
  const roles = withAggregatedRules([
    clusterRole('ops', [], { aggregationRule: { clusterRoleSelectors: [aggregateTo('ops')] } }),
    namespacedRole('payments', 'labelled', [WILDCARD], { labels: { ops: 'true' } }),
  ]);
  assert.equal(rulesOf(roles, 'ops'), []);
});

Aggregation('withAggregatedRules :: two roles selecting each other :: both get both rule sets, no loop', () => {
  const roles = withAggregatedRules([
    clusterRole('a', [readPods], { labels: { b: 'true' }, aggregationRule: { clusterRoleSelectors: [aggregateTo('a')] } }),
    clusterRole('b', [bindRoles], { labels: { a: 'true' }, aggregationRule: { clusterRoleSelectors: [aggregateTo('b')] } }),
  ]);
  assert.equal(rulesOf(roles, 'a'), [readPods, bindRoles]);
  assert.equal(rulesOf(roles, 'b'), [bindRoles, readPods]);
});

Aggregation('withAggregatedRules :: a role whose selector matches itself :: does not add itself twice', () => {
  const roles = withAggregatedRules([clusterRole('self', [readPods], { labels: { self: 'true' }, aggregationRule: { clusterRoleSelectors: [aggregateTo('self')] } })]);
  assert.equal(rulesOf(roles, 'self'), [readPods]);
});

Aggregation.run();
