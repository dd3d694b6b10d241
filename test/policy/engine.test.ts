import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeAdmissionReview } from '../../src/admission/decode.ts';
import { RBAC_GROUP, type Binding, type Subject, type UserInfo } from '../../src/admission/types.ts';
import type { Decision, Violation } from '../../src/policy/decision.ts';
import { evaluate, type Review } from '../../src/policy/engine.ts';
import { NO_DIRECTORY, type DirectoryFacts } from '../../src/policy/facts.ts';
import type { Policy } from '../../src/policy/model.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import {
  ADMIN_GROUP_ID,
  DEVELOPER,
  GROUP_ID,
  SECURITY_GROUP,
  RECORDED_REVIEWS,
  clusterRoleBinding,
  createReview,
  directoryFacts,
  group,
  policyWith,
  policyWithAllow,
  policyWithDirectory,
  recordedReview,
  roleBinding,
  serviceAccount,
  user,
} from '../helpers.ts';

/** `rule action Kind name`, the shape most assertions compare. */
function summary(violation: Violation): string {
  return `${violation.rule} ${violation.action} ${violation.subject.kind} ${violation.subject.name}`;
}

function summaries(decision: Decision): string[] {
  return decision.violations.map(summary);
}

const alice = user('alice@contoso.com');
const bob = user('bob@contoso.com');
const CHECKED = directoryFacts({ [GROUP_ID]: SECURITY_GROUP, [ADMIN_GROUP_ID]: SECURITY_GROUP });

// ---------------------------------------------------------------- operations and kinds

const Operations = suite('engine: operations and kinds');

Operations('engine :: DELETE of a violating binding :: allowed, nothing judged', () => {
  const binding = clusterRoleBinding([alice, group('system:authenticated')], 'cluster-admin');
  const decision = evaluate(createReview(binding, { operation: 'DELETE', oldBinding: binding }), policyWith(), NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
  assert.equal(decision.notes, []);
});

Operations('engine :: CONNECT :: allowed, nothing judged', () => {
  const decision = evaluate(createReview(roleBinding([alice]), { operation: 'CONNECT' }), policyWith(), NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Operations('engine :: CREATE of the same binding :: denied (the DELETE case is not vacuous)', () => {
  const decision = evaluate(createReview(roleBinding([alice])), policyWith(), NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject deny User alice@contoso.com']);
});

const kindDefault = { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, note: 'ConfigMap' as string | undefined };
for (const { kind, note } of [
  kindDefault,
  { ...kindDefault, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, note: 'Deployment' },
  { ...kindDefault, kind: { group: RBAC_GROUP, version: 'v1', kind: 'Role' }, note: undefined },
  { ...kindDefault, kind: { group: RBAC_GROUP, version: 'v1', kind: 'ClusterRole' }, note: undefined },
]) {
  Operations(`engine :: CREATE ${kind.group || 'core'}/${kind.kind} :: allowed${note ? ' with a note' : ', no note'}`, () => {
    const review: Review = { operation: 'CREATE', kind, requester: DEVELOPER };
    const decision = evaluate(review, policyWith(), NO_DIRECTORY);
    assert.ok(decision.allowed);
    assert.equal(decision.violations, []);
    if (note === undefined) {
      assert.equal(decision.notes, []);
    } else {
      assert.is(decision.notes.length, 1);
      assert.ok(decision.notes[0]!.includes(note), decision.notes[0]);
      assert.ok(decision.notes[0]!.includes('only RBAC objects'), decision.notes[0]);
    }
  });
}

Operations.run();

// ---------------------------------------------------------------- UPDATE

const Update = suite('engine: UPDATE');

Update('engine :: UPDATE keeps a pre-existing user and adds another :: old one warns, new one denies', () => {
  const oldBinding = roleBinding([alice]);
  const binding = roleBinding([alice, bob]);
  const decision = evaluate(createReview(binding, { operation: 'UPDATE', oldBinding }), policyWith(), NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject warn User alice@contoso.com', 'user-subject deny User bob@contoso.com']);
  assert.match(decision.violations[0]!.downgradedBecause ?? '', /already there/);
  assert.is(decision.violations[1]!.downgradedBecause, undefined);
});

Update('engine :: UPDATE that only keeps existing violations :: allowed with warnings', () => {
  const binding = clusterRoleBinding([alice, group('system:authenticated')], 'cluster-admin');
  const decision = evaluate(createReview(binding, { operation: 'UPDATE', oldBinding: binding }), policyWith(), NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(summaries(decision), [
    'user-subject warn User alice@contoso.com',
    'cluster-admin warn User alice@contoso.com',
    'cluster-admin warn Group system:authenticated',
    'broad-group warn Group system:authenticated',
  ]);
  for (const violation of decision.violations) assert.match(violation.downgradedBecause ?? '', /already there/);
});

Update('engine :: UPDATE of a binding whose group no longer exists, adding a display name :: old warns, new denies', () => {
  // The old object is judged with the same facts, so the group that vanished from the directory is pre-existing.
  const oldBinding = roleBinding([group(GROUP_ID)]);
  const binding = roleBinding([group(GROUP_ID), group('Payments Team')]);
  const facts = directoryFacts({ [GROUP_ID]: { state: 'not-found' } });
  const decision = evaluate(createReview(binding, { operation: 'UPDATE', oldBinding }), policyWith(), facts);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['group-format deny Group Payments Team', `group-unknown warn Group ${GROUP_ID}`]);
  assert.match(decision.violations[1]!.downgradedBecause ?? '', /already there/);
});

Update('engine :: UPDATE of a clean binding adding a user :: denied', () => {
  const oldBinding = roleBinding([group(GROUP_ID)]);
  const decision = evaluate(createReview(roleBinding([group(GROUP_ID), alice]), { operation: 'UPDATE', oldBinding }), policyWith(), CHECKED);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject deny User alice@contoso.com']);
});

Update.run();

// ---------------------------------------------------------------- audit mode and exempt requesters

const Exempt = suite('engine: audit mode and requesters');

const violating = clusterRoleBinding([alice, group('system:authenticated')], 'cluster-admin');
const violatingSummaries = [
  'user-subject warn User alice@contoso.com',
  'cluster-admin warn User alice@contoso.com',
  'cluster-admin warn Group system:authenticated',
  'broad-group warn Group system:authenticated',
];

Exempt('engine :: audit mode :: allowed, every violation warns because of audit', () => {
  const decision = evaluate(createReview(violating), policyWith({ mode: 'audit' }), NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(summaries(decision), violatingSummaries);
  for (const violation of decision.violations) assert.match(violation.downgradedBecause ?? '', /audit/);
});

Exempt('engine :: enforce mode, same binding :: denied (audit case is not vacuous)', () => {
  const decision = evaluate(createReview(violating), policyWith(), NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), violatingSummaries.map((text) => text.replace(' warn ', ' deny ')));
});

Exempt('engine :: audit mode with a warn rule :: stays warn, not marked downgraded', () => {
  const policy = policyWith({ mode: 'audit', rules: { ...DEFAULT_POLICY.rules, 'user-subject': 'warn' } });
  const decision = evaluate(createReview(roleBinding([alice])), policy, NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject warn User alice@contoso.com']);
  assert.is(decision.violations[0]!.downgradedBecause, undefined);
});

interface RequesterCase {
  readonly name: string;
  readonly requester: UserInfo;
  readonly policy: Policy;
  readonly exempt: boolean;
  /** What downgradedBecause must mention when exempt. */
  readonly because?: RegExp;
}
const requesterDefault: RequesterCase = {
  name: 'system:apiserver',
  requester: { username: 'system:apiserver', groups: ['system:masters'] },
  policy: policyWith(),
  exempt: true,
  because: /system:apiserver/,
};
for (const testCase of [
  requesterDefault,
  {
    ...requesterDefault,
    name: 'system:apiserver with allow.requesters empty in audit-free DEFAULT_POLICY',
    policy: DEFAULT_POLICY,
  },
  {
    ...requesterDefault,
    name: 'username in allow.requesters.usernames',
    requester: { username: 'gitops@contoso.com', groups: ['system:authenticated'] },
    policy: policyWithAllow({ requesters: { usernames: ['gitops@contoso.com'], groups: [] } }),
    because: /gitops@contoso\.com.*allow\.requesters\.usernames/,
  },
  {
    ...requesterDefault,
    name: 'group in allow.requesters.groups',
    requester: { username: 'platform@contoso.com', groups: ['system:authenticated', ADMIN_GROUP_ID] },
    policy: policyWithAllow({ requesters: { usernames: [], groups: [ADMIN_GROUP_ID] } }),
    because: new RegExp(`${ADMIN_GROUP_ID}.*allow\\.requesters\\.groups`),
  },
  {
    ...requesterDefault,
    name: 'system:masters member, default policy',
    requester: { username: 'admin', groups: ['system:masters', 'system:authenticated'] },
    exempt: false,
  },
  {
    ...requesterDefault,
    name: 'username listed only as a group',
    requester: { username: 'gitops@contoso.com', groups: ['system:authenticated'] },
    policy: policyWithAllow({ requesters: { usernames: [], groups: ['gitops@contoso.com'] } }),
    exempt: false,
  },
  {
    ...requesterDefault,
    name: 'plain developer',
    requester: DEVELOPER,
    exempt: false,
  },
] satisfies RequesterCase[]) {
  Exempt(`engine :: requester ${testCase.name} :: ${testCase.exempt ? 'allowed, violations warn' : 'denied'}`, () => {
    const decision = evaluate(createReview(violating, { requester: testCase.requester }), testCase.policy, NO_DIRECTORY);
    assert.is(decision.allowed, testCase.exempt);
    const expected = testCase.exempt ? violatingSummaries : violatingSummaries.map((text) => text.replace(' warn ', ' deny '));
    assert.equal(summaries(decision), expected, 'violations are still computed');
    for (const violation of decision.violations) {
      if (testCase.exempt) assert.match(violation.downgradedBecause ?? '', testCase.because ?? /./);
      else assert.is(violation.downgradedBecause, undefined);
    }
  });
}

Exempt.run();

// ---------------------------------------------------------------- allow.namespaces

const Namespaces = suite('engine: allow.namespaces');
const sandbox = policyWithAllow({ namespaces: ['sandbox'] });

Namespaces('engine :: RoleBinding in an allow.namespaces namespace :: allowed with an exemption, nothing judged', () => {
  const binding = roleBinding([alice, group('system:authenticated')], { namespace: 'sandbox' });
  const decision = evaluate(createReview(binding), sandbox, NO_DIRECTORY);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
  assert.match(decision.exemption ?? '', /sandbox.*allow\.namespaces/);
});

Namespaces('engine :: RoleBinding in another namespace :: denied', () => {
  const decision = evaluate(createReview(roleBinding([alice], { namespace: 'retail-app' })), sandbox, NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject deny User alice@contoso.com']);
  assert.is(decision.exemption, undefined);
});

Namespaces('engine :: ClusterRoleBinding while allow.namespaces is set :: never exempt, denied', () => {
  for (const namespaces of [['sandbox'], [''], ['sandbox', '']]) {
    const binding = clusterRoleBinding([alice]);
    const decision = evaluate(createReview(binding), policyWithAllow({ namespaces }), NO_DIRECTORY);
    assert.not.ok(decision.allowed, `allow.namespaces ${JSON.stringify(namespaces)}`);
    assert.equal(summaries(decision), ['user-subject deny User alice@contoso.com']);
    assert.is(decision.exemption, undefined);
  }
});

Namespaces('engine :: ClusterRoleBinding granting a ServiceAccount of an allowed namespace :: still judged', () => {
  const binding = clusterRoleBinding([serviceAccount('sandbox', 'ci')], 'cluster-admin');
  const decision = evaluate(createReview(binding), sandbox, NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['cluster-admin deny ServiceAccount ci']);
});

Namespaces.run();

// ---------------------------------------------------------------- Kubernetes bootstrap bindings

const Bootstrap = suite('engine: Kubernetes bootstrap bindings');

const authenticated = group('system:authenticated');
const unauthenticated = group('system:unauthenticated');
const kubeControllerManager = user('system:kube-controller-manager');
const kubeScheduler = user('system:kube-scheduler');

function bootstrapCluster(name: string, subjects: readonly Subject[], role = name): Binding {
  return clusterRoleBinding(subjects, role, { name });
}

function bootstrapKubeSystem(name: string, role: string, subjects: readonly Subject[]): Binding {
  return roleBinding(subjects, {
    namespace: 'kube-system',
    name,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
  });
}

/** As kube-apiserver 1.20 to 1.33 creates them (see test/fixtures/bootstrap-rbac-kube-apiserver-1.20.yaml). */
const BOOTSTRAP_BINDINGS: readonly Binding[] = [
  bootstrapCluster('cluster-admin', [group('system:masters')]),
  bootstrapCluster('system:basic-user', [authenticated]),
  bootstrapCluster('system:basic-user', [authenticated, unauthenticated]),
  bootstrapCluster('system:discovery', [authenticated]),
  bootstrapCluster('system:discovery', [authenticated, unauthenticated]),
  bootstrapCluster('system:public-info-viewer', [authenticated, unauthenticated]),
  bootstrapCluster('system:service-account-issuer-discovery', [group('system:serviceaccounts')]),
  bootstrapKubeSystem('system::extension-apiserver-authentication-reader', 'extension-apiserver-authentication-reader', [
    kubeControllerManager,
    kubeScheduler,
  ]),
  bootstrapKubeSystem('system::leader-locking-kube-controller-manager', 'system::leader-locking-kube-controller-manager', [
    kubeControllerManager,
    serviceAccount('kube-system', 'kube-controller-manager'),
  ]),
  bootstrapKubeSystem('system::leader-locking-kube-scheduler', 'system::leader-locking-kube-scheduler', [
    kubeScheduler,
    serviceAccount('kube-system', 'kube-scheduler'),
  ]),
];

function bindingName(binding: Binding): string {
  const subjects = binding.subjects.map((subject) => subject.name).join(',');
  return `${binding.kind} ${binding.namespace ? `${binding.namespace}/` : ''}${binding.name} → ${subjects}`;
}

for (const binding of BOOTSTRAP_BINDINGS) {
  for (const [label, review] of [
    ['CREATE by a developer', createReview(binding)],
    ['UPDATE by the API server', createReview(binding, { operation: 'UPDATE', oldBinding: binding, requester: { username: 'system:apiserver', groups: ['system:masters'] } })],
  ] as const) {
    Bootstrap(`engine :: bootstrap ${bindingName(binding)}, ${label}, DEFAULT_POLICY :: no violation, exempt`, () => {
      const decision = evaluate(review, DEFAULT_POLICY, NO_DIRECTORY);
      assert.ok(decision.allowed);
      assert.equal(decision.violations, []);
      assert.ok(decision.exemption, 'the decision says why it is exempt');
      if (label === 'CREATE by a developer') assert.match(decision.exemption ?? '', /bootstrap/);
    });
  }
}

interface TamperCase {
  readonly name: string;
  readonly binding: Binding;
  readonly violations: readonly string[];
}
const tamperDefault: TamperCase = {
  name: 'User alice@contoso.com added to ClusterRoleBinding cluster-admin',
  binding: bootstrapCluster('cluster-admin', [group('system:masters'), alice]),
  violations: ['user-subject deny User alice@contoso.com', 'cluster-admin deny User alice@contoso.com'],
};
for (const testCase of [
  tamperDefault,
  {
    ...tamperDefault,
    name: 'Group system:authenticated added to ClusterRoleBinding cluster-admin',
    binding: bootstrapCluster('cluster-admin', [group('system:masters'), authenticated]),
    violations: ['cluster-admin deny Group system:authenticated', 'broad-group deny Group system:authenticated'],
  },
  {
    ...tamperDefault,
    name: 'ClusterRoleBinding cluster-admin with only system:authenticated (system:masters removed)',
    binding: bootstrapCluster('cluster-admin', [authenticated]),
    violations: ['cluster-admin deny Group system:authenticated', 'broad-group deny Group system:authenticated'],
  },
  {
    ...tamperDefault,
    name: 'Group system:serviceaccounts added to system:public-info-viewer',
    binding: bootstrapCluster('system:public-info-viewer', [authenticated, unauthenticated, group('system:serviceaccounts')]),
    violations: ['broad-group deny Group system:serviceaccounts'],
  },
  {
    ...tamperDefault,
    name: 'Group system:authenticated added to system:service-account-issuer-discovery',
    binding: bootstrapCluster('system:service-account-issuer-discovery', [group('system:serviceaccounts'), authenticated]),
    violations: ['broad-group deny Group system:authenticated'],
  },
  {
    ...tamperDefault,
    name: 'User bob@contoso.com added to kube-system system::leader-locking-kube-scheduler',
    binding: bootstrapKubeSystem('system::leader-locking-kube-scheduler', 'system::leader-locking-kube-scheduler', [kubeScheduler, bob]),
    violations: ['user-subject deny User bob@contoso.com'],
  },
  {
    ...tamperDefault,
    name: 'copy of system:public-info-viewer bound to ClusterRole view',
    binding: bootstrapCluster('system:public-info-viewer', [authenticated, unauthenticated], 'view'),
    violations: ['broad-group deny Group system:authenticated', 'broad-group deny Group system:unauthenticated'],
  },
  {
    ...tamperDefault,
    name: 'copy of cluster-admin bound to ClusterRole admin',
    binding: bootstrapCluster('cluster-admin', [group('system:masters')], 'admin'),
    violations: ['local-account deny Group system:masters'],
  },
  {
    ...tamperDefault,
    name: 'bootstrap-named binding system:masters → cluster-admin as a RoleBinding',
    binding: roleBinding([group('system:masters')], {
      name: 'cluster-admin',
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    }),
    violations: ['cluster-admin deny Group system:masters', 'local-account deny Group system:masters'],
  },
  {
    ...tamperDefault,
    name: 'kube-system extension-apiserver-authentication-reader copy bound to ClusterRole cluster-admin',
    binding: roleBinding([kubeScheduler], {
      namespace: 'kube-system',
      name: 'system::extension-apiserver-authentication-reader',
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    }),
    violations: ['cluster-admin deny User system:kube-scheduler'],
  },
  {
    ...tamperDefault,
    name: 'system:discovery with system:authenticated in another binding name',
    binding: bootstrapCluster('discovery-for-all', [authenticated], 'system:discovery'),
    violations: ['broad-group deny Group system:authenticated'],
  },
] satisfies TamperCase[]) {
  Bootstrap(`engine :: bootstrap tampered: ${testCase.name} :: denied, not exempt`, () => {
    const decision = evaluate(createReview(testCase.binding), DEFAULT_POLICY, NO_DIRECTORY);
    assert.not.ok(decision.allowed);
    assert.equal(summaries(decision), [...testCase.violations]);
    assert.is(decision.exemption, undefined);
  });
}

for (const namespace of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
  Bootstrap(`a RoleBinding in namespace "${namespace}" (an Object.prototype member's name) :: judged like any other, no crash`, () => {
    const decision = evaluate(createReview(roleBinding([alice], { namespace })), policyWith(), NO_DIRECTORY);
    assert.is(decision.allowed, false);
    assert.equal(summaries(decision), ['user-subject deny User alice@contoso.com']);
  });
}

Bootstrap.run();

// ---------------------------------------------------------------- notes

const Notes = suite('engine: directory notes');

Notes('engine :: Entra groups with no directory :: allowed with one note naming each group', () => {
  const binding = roleBinding([group(GROUP_ID), group(ADMIN_GROUP_ID), group(GROUP_ID.toUpperCase())]);
  const decision = evaluate(createReview(binding), policyWith(), NO_DIRECTORY);
  assert.not.ok(decision.allowed, 'the upper-case GUID is still a group-format violation');
  assert.equal(summaries(decision), [`group-format deny Group ${GROUP_ID.toUpperCase()}`]);
  assert.is(decision.notes.length, 1);
  assert.ok(decision.notes[0]!.includes(`"${GROUP_ID}"`), decision.notes[0]);
  assert.ok(decision.notes[0]!.includes(`"${ADMIN_GROUP_ID}"`), decision.notes[0]);
  assert.not.ok(decision.notes[0]!.includes(GROUP_ID.toUpperCase()), 'only canonical IDs would be looked up');
});

Notes('engine :: Entra groups with a directory :: no note', () => {
  const decision = evaluate(createReview(roleBinding([group(GROUP_ID)])), policyWith(), CHECKED);
  assert.ok(decision.allowed);
  assert.equal(decision.notes, []);
});

Notes.run();

// ---------------------------------------------------------------- factsNeeded

const Needs = suite('factsNeeded');

const mixed = roleBinding([
  group(GROUP_ID),
  group(ADMIN_GROUP_ID),
  group(GROUP_ID),
  group(GROUP_ID.toUpperCase()),
  group(`{${ADMIN_GROUP_ID}}`),
  group('Payments Team'),
  group('system:authenticated'),
  user('3f1e2d3c-4b5a-4697-8a9b-0c1d2e3f4a5b'),
  serviceAccount('retail-app', 'reporter'),
]);

interface NeedsCase {
  readonly name: string;
  readonly review: { readonly operation: string; readonly binding?: Binding };
  readonly policy: Policy;
  readonly groupIds: readonly string[];
}
const needsDefault: NeedsCase = {
  name: 'CREATE with mixed subjects returns each canonical GUID group once',
  review: { operation: 'CREATE', binding: mixed },
  policy: policyWith(),
  groupIds: [GROUP_ID, ADMIN_GROUP_ID],
};
for (const testCase of [
  needsDefault,
  { ...needsDefault, name: 'UPDATE returns the same', review: { operation: 'UPDATE', binding: mixed } },
  { ...needsDefault, name: 'ClusterRoleBinding returns the same', review: { operation: 'CREATE', binding: clusterRoleBinding(mixed.subjects) } },
  { ...needsDefault, name: 'DELETE needs nothing', review: { operation: 'DELETE', binding: mixed }, groupIds: [] },
  { ...needsDefault, name: 'CONNECT needs nothing', review: { operation: 'CONNECT', binding: mixed }, groupIds: [] },
  { ...needsDefault, name: 'no binding needs nothing', review: { operation: 'CREATE' }, groupIds: [] },
  {
    ...needsDefault,
    name: 'allow-listed group is not looked up',
    policy: policyWithAllow({ groups: [ADMIN_GROUP_ID] }),
    groupIds: [GROUP_ID],
  },
  {
    ...needsDefault,
    name: 'RoleBinding in an allow.namespaces namespace needs nothing',
    policy: policyWithAllow({ namespaces: ['retail-app'] }),
    groupIds: [],
  },
  {
    ...needsDefault,
    name: 'ClusterRoleBinding is never namespace-exempt',
    review: { operation: 'CREATE', binding: clusterRoleBinding(mixed.subjects) },
    policy: policyWithAllow({ namespaces: ['retail-app', ''] }),
  },
  { ...needsDefault, name: 'directory.verify false needs nothing', policy: policyWithDirectory({ verify: false }), groupIds: [] },
  {
    ...needsDefault,
    name: 'binding without Entra groups needs nothing',
    review: { operation: 'CREATE', binding: roleBinding([alice, group('Payments Team')]) },
    groupIds: [],
  },
] satisfies NeedsCase[]) {
  Needs(`factsNeeded :: ${testCase.name} :: ${JSON.stringify(testCase.groupIds)}`, () => {
    assert.equal(factsNeeded(testCase.review, testCase.policy).groupIds, [...testCase.groupIds]);
  });
}

Needs.run();

// ---------------------------------------------------------------- recorded AdmissionReviews

const Recorded = suite('recorded AdmissionReviews');

interface FixtureCase {
  readonly allowed: boolean;
  readonly violations: readonly string[];
  /** When set, every violation's downgradedBecause matches it; when not, none has one. */
  readonly downgraded?: RegExp;
  /** One substring per expected note. */
  readonly notes: readonly string[];
  readonly dryRun?: boolean;
}
const fixtureDefault: FixtureCase = { allowed: true, violations: [], notes: [] };
const FIXTURES: Readonly<Record<string, FixtureCase>> = {
  '01-CREATE-RoleBinding-payments-viewers.json': { ...fixtureDefault, notes: [`"${GROUP_ID}" not checked in Microsoft Entra ID`] },
  '02-CREATE-RoleBinding-carol-admin.json': { ...fixtureDefault, allowed: false, violations: ['user-subject deny User carol@fabrikam.com'] },
  '03-CREATE-RoleBinding-team-by-name.json': {
    ...fixtureDefault,
    allowed: false,
    violations: ['group-format deny Group Payments Team'],
    dryRun: true,
  },
  '04-UPDATE-RoleBinding-payments-viewers.json': { ...fixtureDefault, notes: [`"${GROUP_ID}" not checked`] },
  '05-UPDATE-RoleBinding-carol-admin.json': {
    ...fixtureDefault,
    violations: ['user-subject warn User carol@fabrikam.com'],
    downgraded: /already there/,
  },
  '06-CREATE-ClusterRoleBinding-payments-cluster-admin.json': {
    ...fixtureDefault,
    allowed: false,
    violations: [`cluster-admin deny Group ${GROUP_ID}`],
    notes: [`"${GROUP_ID}" not checked`],
  },
  '07-CREATE-ClusterRoleBinding-everyone-view.json': {
    ...fixtureDefault,
    allowed: false,
    violations: ['broad-group deny Group system:authenticated'],
  },
  '08-CREATE-ClusterRole-payments-reader.json': fixtureDefault,
  '09-DELETE-RoleBinding-carol-admin.json': fixtureDefault,
};

function judgeRecorded(body: unknown, facts: DirectoryFacts = NO_DIRECTORY): Decision {
  return evaluate(decodeAdmissionReview(body), policyWith(), facts);
}

const recordedFiles = readdirSync(RECORDED_REVIEWS).filter((file) => file.endsWith('.json')).sort();

Recorded('recorded :: fixture directory :: every file has an expectation and vice versa', () => {
  assert.equal(recordedFiles, Object.keys(FIXTURES).sort());
});

for (const file of recordedFiles) {
  const expected = FIXTURES[file] ?? { allowed: true, violations: ['(no expectation written for this fixture)'], notes: [] };
  const label = expected.allowed ? (expected.violations.length > 0 ? 'allowed with warnings' : 'allowed') : 'denied';
  Recorded(`recorded :: ${file} :: ${label}`, () => {
    const change = decodeAdmissionReview(recordedReview(file));
    assert.is(change.dryRun, expected.dryRun ?? false, 'dryRun');
    const decision = evaluate(change, policyWith(), NO_DIRECTORY);
    assert.is(decision.allowed, expected.allowed, 'allowed');
    assert.equal(summaries(decision), [...expected.violations]);
    for (const violation of decision.violations) {
      if (expected.downgraded) assert.match(violation.downgradedBecause ?? '', expected.downgraded);
      else assert.is(violation.downgradedBecause, undefined);
    }
    assert.is(decision.notes.length, expected.notes.length, `notes: ${JSON.stringify(decision.notes)}`);
    expected.notes.forEach((text, index) => assert.ok(decision.notes[index]?.includes(text), `note ${index} mentions ${text}`));
  });
}

Recorded('recorded :: 03 dry run :: same decision as the same request without dryRun', () => {
  const body = recordedReview('03-CREATE-RoleBinding-team-by-name.json');
  const persisted = { ...body, request: { ...body['request'], dryRun: false, options: { ...body['request'].options, dryRun: undefined } } };
  assert.is(decodeAdmissionReview(persisted).dryRun, false);
  assert.equal(judgeRecorded(body), judgeRecorded(persisted));
  assert.not.ok(judgeRecorded(body).allowed);
});

Recorded('recorded :: 06 with the group in adminGroups :: allowed (the denial is about cluster-admin only)', () => {
  const change = decodeAdmissionReview(recordedReview('06-CREATE-ClusterRoleBinding-payments-cluster-admin.json'));
  const decision = evaluate(change, policyWith({ adminGroups: [GROUP_ID] }), CHECKED);
  assert.ok(decision.allowed);
  assert.equal(decision.violations, []);
});

Recorded('recorded :: 05 as a CREATE (no oldObject) :: denied (the UPDATE downgrade is not vacuous)', () => {
  const change = decodeAdmissionReview(recordedReview('05-UPDATE-RoleBinding-carol-admin.json'));
  const { oldBinding: _old, ...rest } = change;
  const decision = evaluate({ ...rest, operation: 'CREATE' }, policyWith(), NO_DIRECTORY);
  assert.not.ok(decision.allowed);
  assert.equal(summaries(decision), ['user-subject deny User carol@fabrikam.com']);
});

Recorded.run();
