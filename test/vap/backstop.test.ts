/**
 * The backstop (`policy vap`) evaluated with a real CEL implementation against the engine: every recorded
 * AdmissionReview, every case of the rule tables, and generated bindings, policies, requesters and times. The backstop
 * must never deny what the webhook (the engine without directory or role facts) allows, and must give its verdict
 * except where it is more lenient by design (time-boxed entries on UPDATE or within the expiry grace, oversized
 * bindings). The agreement figure is printed at the end.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Binding, Subject, UserInfo } from '../../src/admission/types.ts';
import { run as celRun } from '@bufbuild/cel';
import { CLOCK } from '../../src/backstop/cel.ts';
import { DEFAULT_BACKSTOP_OPTIONS, backstopObjects } from '../../src/backstop/generate.ts';
import { MAX_SUBJECTS } from '../../src/backstop/variables.ts';
import { RULE_CASES } from '../policy/rule-cases.ts';
import { ADMIN_GROUP_ID, DEVELOPER, GROUP_ID, RECORDED_REVIEWS, group, serviceAccount, user } from '../helpers.ts';
import { describeTally, record, tally } from './agreement.ts';
import { compare } from './compare.ts';
import { admissionRequest, bindingObject, runBackstop, stampedAt, toCel, type AdmissionRequest } from './harness.ts';
import { BASE_MS, POLICIES, policyOf } from './policies.ts';

type Json = Record<string, any>;

function expectAgreementOrDesign(name: string, comparison: ReturnType<typeof compare>): void {
  record(comparison);
  assert.equal(comparison.problems, [], name);
}

// --- recorded reviews -------------------------------------------------------------------------------------------------

const Recorded = suite('backstop :: recorded AdmissionReviews');

const FIXTURES = readdirSync(RECORDED_REVIEWS).filter((file) => file.endsWith('.json'));

Recorded('there are recorded reviews to judge', () => {
  assert.ok(FIXTURES.length >= 9, `found ${FIXTURES.length}`);
});

for (const file of FIXTURES) {
  for (const [policyName, policy] of Object.entries(POLICIES)) {
    for (const offset of [-3600_000, 30_000, 3600_000]) {
      Recorded(`${file} :: policy ${policyName} :: at expiry ${offset >= 0 ? '+' : ''}${offset / 1000}s :: never stricter, same verdict`, () => {
        const review = JSON.parse(readFileSync(join(RECORDED_REVIEWS, file), 'utf8')) as Json;
        expectAgreementOrDesign(file, compare(policy, review['request'] as AdmissionRequest, BASE_MS + offset));
      });
    }
  }
}

Recorded('02 (a User bound) :: default policy :: denied by the backstop with the webhook\'s message', () => {
  const review = JSON.parse(readFileSync(join(RECORDED_REVIEWS, '02-CREATE-RoleBinding-carol-admin.json'), 'utf8')) as Json;
  const verdict = runBackstop(backstopObjects(POLICIES['default']!), stampedAt(review['request'] as AdmissionRequest, BASE_MS));
  assert.equal(verdict.errors, []);
  assert.equal(verdict.denied.map((finding) => finding.rule), ['user-subject']);
  assert.match(verdict.denied[0]!.message, /^RoleBinding payments\/carol-admin binds User "[^"]+" directly \[user-subject\]: bind a Microsoft Entra group/);
});

Recorded.run();

// --- the rule tables ----------------------------------------------------------------------------------------------------

const Tables = suite('backstop :: the rule tables of test/policy');

const BACKSTOP_TABLES = ['user-subject', 'group-format', 'cluster-admin', 'broad-group', 'local-account'] as const;

for (const rule of BACKSTOP_TABLES) {
  for (const testCase of RULE_CASES[rule]) {
    Tables(`${rule} :: ${testCase.name} :: never stricter, same verdict and messages`, () => {
      const request = admissionRequest('CREATE', bindingObject(testCase.binding), null, DEVELOPER);
      const comparison = compare(testCase.policy, request, BASE_MS);
      expectAgreementOrDesign(testCase.name, comparison);
      assert.ok(comparison.agree, 'a CREATE with no time-boxed entry gets the same verdict');
      const verdict = runBackstop(backstopObjects(testCase.policy), stampedAt(request, BASE_MS));
      const flagged = [...verdict.denied, ...verdict.warned].filter((finding) => finding.rule === rule);
      assert.is(flagged.length > 0, testCase.expected.length > 0, `the backstop flags ${rule} exactly when the engine does`);
    });
  }
}

Tables.run();

// --- time-boxed entries ---------------------------------------------------------------------------------------------

const TimeBoxed = suite('backstop :: time-boxed allow entries');

const alice = user('alice@contoso.com');
const TIME_BOXED = POLICIES['time-boxed entries']!;
const aliceView = bindingObject({ kind: 'RoleBinding', namespace: 'payments', name: 'alice-view', subjects: [alice], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } });

function deniedAt(request: AdmissionRequest, nowMs: number): boolean {
  return runBackstop(backstopObjects(TIME_BOXED), stampedAt(request, nowMs)).denied.length > 0;
}

TimeBoxed('CREATE before the expiry :: the entry exempts, as in the webhook', () => {
  const request = admissionRequest('CREATE', aliceView, null, DEVELOPER);
  assert.not.ok(deniedAt(request, BASE_MS - 1000));
  const comparison = compare(TIME_BOXED, request, BASE_MS - 1000);
  assert.ok(comparison.agree);
  assert.equal(comparison.problems, []);
});

TimeBoxed('CREATE past the expiry and the grace :: denied, as in the webhook', () => {
  const request = admissionRequest('CREATE', aliceView, null, DEVELOPER);
  assert.ok(deniedAt(request, BASE_MS + 61_000));
  assert.ok(compare(TIME_BOXED, request, BASE_MS + 61_000).agree);
});

TimeBoxed('CREATE within the 60 s grace after the expiry :: the backstop still exempts (clock skew), the webhook denies', () => {
  const request = admissionRequest('CREATE', aliceView, null, DEVELOPER);
  assert.not.ok(deniedAt(request, BASE_MS + 59_000));
  const comparison = compare(TIME_BOXED, request, BASE_MS + 59_000);
  assert.not.ok(comparison.agree);
  assert.is(comparison.lenient, 'time-boxed entry within the expiry grace');
  assert.equal(comparison.problems, []);
});

TimeBoxed('UPDATE after the expiry :: CEL has no clock there, so the backstop still exempts; the webhook denies', () => {
  const old = bindingObject({ kind: 'RoleBinding', namespace: 'payments', name: 'alice-view', subjects: [group(GROUP_ID)], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } });
  const request = admissionRequest('UPDATE', { ...aliceView, metadata: { ...aliceView['metadata'], creationTimestamp: '2026-01-01T00:00:00Z' } }, old, DEVELOPER);
  assert.not.ok(deniedAt(request, BASE_MS + 3600_000));
  const comparison = compare(TIME_BOXED, request, BASE_MS + 3600_000);
  assert.is(comparison.lenient, 'time-boxed entry on UPDATE');
  assert.equal(comparison.problems, []);
});

TimeBoxed('an expiry written with a lower-case t and an offset :: read as the same instant', () => {
  // clusterAdminSubjects Group GROUP_ID expires 2026-12-08t19:00:00+01:00, which is BASE_MS.
  const binding = bindingObject({ kind: 'ClusterRoleBinding', namespace: '', name: 'team-admin', subjects: [group(GROUP_ID)], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } });
  const request = admissionRequest('CREATE', binding, null, DEVELOPER);
  assert.not.ok(deniedAt(request, BASE_MS - 1000));
  assert.ok(deniedAt(request, BASE_MS + 61_000));
});

TimeBoxed('a time-boxed requester :: exempt before its expiry, judged after', () => {
  const incident: UserInfo = { username: 'incident@contoso.com', groups: ['system:authenticated'] };
  const request = admissionRequest('CREATE', bindingObject({ kind: 'RoleBinding', namespace: 'payments', name: 'bob-view', subjects: [user('bob@contoso.com')], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } }), null, incident);
  assert.not.ok(deniedAt(request, BASE_MS));
  assert.ok(deniedAt(request, BASE_MS + 91_000));
  for (const offset of [0, 91_000]) assert.equal(compare(TIME_BOXED, request, BASE_MS + offset).problems, []);
});

TimeBoxed('the clock :: creationTimestamp read as a string or as a CEL timestamp (the API server may type it either way)', () => {
  const asString = toCel({ operation: 'CREATE' });
  const metadata = new Map<string, unknown>([['creationTimestamp', '2026-12-08T17:59:59Z']]);
  const typed = new Map<string, unknown>([['creationTimestamp', celRun('timestamp("2026-12-08T17:59:59Z")', {})]]);
  // @bufbuild/cel types its inputs narrowly; these are CEL values it produced or maps of them.
  const seconds = (value: unknown) => celRun('int(clock)', { clock: value } as never);
  const clock = (meta: Map<string, unknown>) => celRun(CLOCK, { request: asString, object: new Map([['metadata', meta]]) } as never);
  assert.is(seconds(clock(metadata)), BigInt(Date.parse('2026-12-08T17:59:59Z') / 1000));
  assert.is(seconds(clock(typed)), BigInt(Date.parse('2026-12-08T17:59:59Z') / 1000));
});

TimeBoxed.run();

// --- what never reaches the webhook -------------------------------------------------------------------------------------

const Scope = suite('backstop :: the namespaces the webhook never sees are skipped too');

const bobIn = (namespace: string) =>
  admissionRequest('CREATE', bindingObject({ kind: 'RoleBinding', namespace, name: 'bob-view', subjects: [user('bob@contoso.com')], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } }), null, DEVELOPER);
const scoped = backstopObjects(POLICIES['default']!, { ...DEFAULT_BACKSTOP_OPTIONS, excludeNamespaces: ['entra-rbac-guard'], skipAksManagedNamespaces: true });
const deniedRules = (request: AdmissionRequest) => runBackstop(scoped, stampedAt(request, BASE_MS)).denied.map((finding) => finding.rule);

Scope('a User bound in an ordinary namespace :: denied', () => {
  assert.equal(deniedRules(bobIn('payments')), ['user-subject']);
});

Scope('the same in an excluded namespace, or in kube-system on AKS :: not judged', () => {
  assert.equal(deniedRules(bobIn('entra-rbac-guard')), []);
  assert.equal(deniedRules(bobIn('kube-system')), []);
});


// --- generated inputs -------------------------------------------------------------------------------------------------

const Generated = suite('backstop :: generated bindings, policies, requesters and times');

const SUBJECTS: readonly Subject[] = [
  user('alice@contoso.com'),
  user('breakglass@contoso.com'),
  user('system:kube-scheduler'),
  user('system:kube-controller-manager'),
  user('system:anonymous'),
  user('clusterAdmin'),
  user('clusterUser'),
  user(GROUP_ID),
  { kind: 'User', name: 'carol@contoso.com', namespace: 'payments' },
  group(GROUP_ID),
  group(ADMIN_GROUP_ID),
  group(GROUP_ID.toUpperCase()),
  group(`{${GROUP_ID}}`),
  group('Payments Team'),
  group('oncall-break-glass'),
  group('system:authenticated'),
  group('system:unauthenticated'),
  group('system:serviceaccounts'),
  group('system:serviceaccounts:payments'),
  group('system:serviceaccounts:'),
  group('system:bootstrappers:kubeadm:default-node-token'),
  group('system:masters'),
  group('system:authenticted'),
  group('system:anonymous'),
  group('system:nodes'),
  group('system:monitoring'),
  serviceAccount('kube-system', 'generic-garbage-collector'),
  serviceAccount('argocd', 'argocd-application-controller'),
  serviceAccount('payments', 'deployer'),
];
const CLUSTER_ROLES = ['cluster-admin', 'platform-admin', 'admin', 'view', 'system:basic-user', 'system:controller:generic-garbage-collector', 'system:kube-controller-manager'];
const BINDING_NAMES = ['cluster-admin', 'system:basic-user', 'system:controller:generic-garbage-collector', 'system:kube-controller-manager', 'team-view', '', 'system::leader-locking-kube-scheduler'];
const NAMESPACES = ['payments', 'kube-system', 'sandbox', 'default'];
const REQUESTERS: readonly UserInfo[] = [
  DEVELOPER,
  { username: 'system:apiserver', groups: ['system:masters'] },
  { username: 'ci@contoso.com', groups: [] },
  { username: 'flux', groups: ['gitops', 'system:serviceaccounts'] },
  { username: 'incident@contoso.com', groups: ['system:authenticated'] },
];
const ACTIONS = ['deny', 'warn', 'off'] as const;
const OFFSETS_S = [-3600, -61, -1, 0, 1, 30, 59, 61, 3600];

const subjectArb = fc.constantFrom(...SUBJECTS);
const bindingArb = fc.record({
  kind: fc.constantFrom('RoleBinding' as const, 'ClusterRoleBinding' as const),
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom(...BINDING_NAMES),
  role: fc.oneof(fc.constantFrom(...CLUSTER_ROLES).map((name) => ({ kind: 'ClusterRole', name })), fc.constantFrom('deployer', 'system::leader-locking-kube-scheduler', 'cluster-admin').map((name) => ({ kind: 'Role', name }))),
  subjects: fc.array(subjectArb, { maxLength: 6 }),
  oldSubjects: fc.option(fc.array(subjectArb, { maxLength: 6 }), { nil: undefined }),
});

const expiry = (seconds: number) => new Date(BASE_MS + seconds * 1000).toISOString().replace('.000Z', 'Z');
const maybeTimeBoxed = (name: string) => fc.option(fc.constantFrom(...OFFSETS_S), { nil: undefined }).map((offset) => (offset === undefined ? name : { name, expires: expiry(offset) }));
const someOf = <T>(items: readonly fc.Arbitrary<T>[]) => fc.tuple(...items).chain((values) => fc.subarray(values));

const policyArb = fc
  .record({
    mode: fc.constantFrom('enforce', 'enforce', 'audit'),
    rules: fc.record({
      'user-subject': fc.constantFrom(...ACTIONS),
      'group-format': fc.constantFrom(...ACTIONS),
      'cluster-admin': fc.constantFrom(...ACTIONS),
      'broad-group': fc.constantFrom(...ACTIONS),
      'local-account': fc.constantFrom(...ACTIONS),
    }),
    adminGroups: fc.subarray([ADMIN_GROUP_ID, GROUP_ID]),
    clusterAdminRoles: fc.subarray(['cluster-admin', 'platform-admin', 'admin']),
    users: someOf(['alice@contoso.com', 'breakglass@contoso.com', 'clusterUser', 'system:anonymous'].map(maybeTimeBoxed)),
    groups: someOf(['Payments Team', 'oncall-break-glass', 'system:authenticated', 'system:masters', 'system:authenticted'].map(maybeTimeBoxed)),
    clusterAdminSubjects: someOf([
      maybeTimeBoxed('alice@contoso.com').map((entry) => ({ kind: 'User', ...(typeof entry === 'string' ? { name: entry } : entry) })),
      fc.constant({ kind: 'ServiceAccount', namespace: 'argocd', name: 'argocd-application-controller' }),
      maybeTimeBoxed(GROUP_ID).map((entry) => ({ kind: 'Group', ...(typeof entry === 'string' ? { name: entry } : entry) })),
    ]),
    namespaces: someOf(['sandbox', 'kube-system'].map(maybeTimeBoxed)),
    usernames: someOf(['ci@contoso.com', 'incident@contoso.com'].map(maybeTimeBoxed)),
    requesterGroups: someOf(['gitops'].map(maybeTimeBoxed)),
  })
  .map(({ users, groups, clusterAdminSubjects, namespaces, usernames, requesterGroups, ...rest }) =>
    policyOf({ ...rest, allow: { users, groups, clusterAdminSubjects, namespaces, requesters: { usernames, groups: requesterGroups } } }),
  );

function toBinding(generated: Json, subjects: readonly Subject[]): Binding {
  return {
    kind: generated['kind'],
    namespace: generated['kind'] === 'RoleBinding' ? generated['namespace'] : '',
    name: generated['name'],
    subjects,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: generated['kind'] === 'ClusterRoleBinding' ? 'ClusterRole' : generated['role'].kind, name: generated['role'].name },
  };
}

Generated('3,000 generated inputs :: never stricter than the webhook; the same verdict but where documented', () => {
  fc.assert(
    fc.property(bindingArb, policyArb, fc.constantFrom(...REQUESTERS), fc.constantFrom(...OFFSETS_S, 0.5, 60.5), (generated, policy, requester, offsetS) => {
      const object = bindingObject(toBinding(generated, generated.subjects), generated.oldSubjects ? '2026-01-01T00:00:00Z' : undefined);
      const oldObject = generated.oldSubjects ? bindingObject(toBinding(generated, generated.oldSubjects), '2026-01-01T00:00:00Z') : null;
      const request = admissionRequest(oldObject ? 'UPDATE' : 'CREATE', object, oldObject, requester);
      const comparison = compare(policy, request, BASE_MS + offsetS * 1000);
      record(comparison);
      assert.equal(comparison.problems, []);
    }),
    { numRuns: 3000, seed: 17 },
  );
});

Generated('the generated inputs reach every rule, both verdicts and both operations', () => {
  // Guards the generator: a tally that never denies, or never updates, would prove little.
  assert.ok(tally.inputs > 3000);
  assert.ok(tally.denied > 500, `denied by the webhook: ${tally.denied}`);
  assert.ok(tally.inputs - tally.denied > 500, `allowed by the webhook: ${tally.inputs - tally.denied}`);
  assert.ok(tally.updates > 500, `updates: ${tally.updates}`);
  assert.ok(tally.agree < tally.inputs, 'some inputs exercise the documented leniency');
});

Generated.run();

// --- bounds ---------------------------------------------------------------------------------------------------------

const Bounds = suite('backstop :: bindings with many subjects');

const many = (count: number) => Array.from({ length: count }, (_, index) => user(`user${index}@contoso.com`));
const manyBinding = (count: number) => bindingObject({ kind: 'ClusterRoleBinding', namespace: '', name: 'many', subjects: many(count), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } });

Bounds(`${MAX_SUBJECTS} subjects, UPDATE against as many :: judged, new users denied`, () => {
  const request = admissionRequest('UPDATE', manyBinding(MAX_SUBJECTS), manyBinding(MAX_SUBJECTS - 1), DEVELOPER);
  const verdict = runBackstop(backstopObjects(POLICIES['default']!), request);
  assert.equal(verdict.errors, []);
  assert.equal(verdict.denied.map((finding) => finding.rule), ['user-subject']);
  assert.match(verdict.denied[0]!.message, `user${MAX_SUBJECTS - 1}@contoso.com`);
  assert.not.match(verdict.denied[0]!.message, 'user0@contoso.com', 'the subjects the old object had are not this change');
});

Bounds(`${MAX_SUBJECTS + 1} subjects :: left to the webhook (never stricter), and the comparison says why`, () => {
  const request = admissionRequest('CREATE', manyBinding(MAX_SUBJECTS + 1), null, DEVELOPER);
  const verdict = runBackstop(backstopObjects(POLICIES['default']!), stampedAt(request, BASE_MS));
  assert.equal(verdict.denied, []);
  const comparison = compare(POLICIES['default']!, request, BASE_MS);
  assert.is(comparison.lenient, `more than ${MAX_SUBJECTS} subjects`);
  assert.equal(comparison.problems, []);
});

Bounds.run();
Scope.run();

// --- the figure -------------------------------------------------------------------------------------------------------

const Figure = suite('backstop :: agreement with the webhook');

Figure('never stricter on any input; the figure is printed', () => {
  console.log(`\n${describeTally()}\n`);
  assert.is(tally.stricter, 0);
  assert.ok(tally.agree / tally.inputs > 0.9, describeTally());
});

Figure('docs/policy.md and README.md quote the figure this run printed', () => {
  const quoted = readFileSync(join(RECORDED_REVIEWS, '..', '..', '..', 'docs', 'policy.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('> backstop agreement') || line.startsWith('> 0 stricter') || line.startsWith('> where no leniency'))
    .map((line) => line.slice(2))
    .join(' ');
  assert.is(quoted, describeTally(), 'update the figure in docs/policy.md (and README.md) after changing the backstop or its tests');
  const readme = readFileSync(join(RECORDED_REVIEWS, '..', '..', '..', 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(readme, `on ${tally.inputs.toLocaleString('en-US')} inputs`);
  assert.match(readme, `gives its verdict on ${((100 * tally.agree) / tally.inputs).toFixed(1)}% of them`);
});

Figure.run();
