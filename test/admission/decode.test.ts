import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidInputError } from '../../src/admission/narrow.ts';
import { decodeAdmissionReview } from '../../src/admission/decode.ts';
import { ADMISSION_V1, RBAC_GROUP, type AdmissionChange } from '../../src/admission/types.ts';
import { GROUP_ID, RECORDED_REVIEWS, recordedReview } from '../helpers.ts';

const ADMIN = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };
const VIEW = { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'view' };

function decodeFixture(fileName: string): AdmissionChange {
  return decodeAdmissionReview(recordedReview(fileName));
}

/** The InvalidInputError that decoding `body` throws; fails if it decodes or throws anything else. */
function decodeError(body: unknown): InvalidInputError {
  try {
    decodeAdmissionReview(body);
  } catch (error) {
    assert.instance(error, InvalidInputError, `expected InvalidInputError, got ${String(error)}`);
    return error as InvalidInputError;
  }
  return assert.unreachable('expected decodeAdmissionReview to throw') as never;
}

// --- recorded reviews ---------------------------------------------------------------------------------------------

const Recorded = suite('decode :: recorded reviews');

Recorded('decode :: fixture directory :: holds the nine recordings this suite covers', () => {
  assert.is(readdirSync(RECORDED_REVIEWS).filter((name) => name.endsWith('.json')).length, 9);
});

for (const fileName of readdirSync(RECORDED_REVIEWS).filter((name) => name.endsWith('.json'))) {
  Recorded(`decode :: ${fileName} :: decodes, uid and identity echoed`, () => {
    const raw = recordedReview(fileName);
    const change = decodeAdmissionReview(raw);
    assert.is(change.uid, raw['request']['uid']);
    assert.is(change.apiVersion, ADMISSION_V1);
    assert.is(change.operation, raw['request']['operation']);
    assert.equal(change.kind, raw['request']['kind']);
    assert.is(change.name, raw['request']['name']);
    assert.is(change.namespace, raw['request']['namespace'] ?? '');
    assert.equal(change.requester, ADMIN);
  });
}

Recorded('decode :: 01 CREATE RoleBinding :: binding read in full', () => {
  const change = decodeFixture('01-CREATE-RoleBinding-payments-viewers.json');
  assert.equal(change, {
    uid: '71bda84f-1538-4635-ac41-9237f24412db',
    apiVersion: ADMISSION_V1,
    operation: 'CREATE',
    kind: { group: RBAC_GROUP, version: 'v1', kind: 'RoleBinding' },
    namespace: 'payments',
    name: 'payments-viewers',
    requester: ADMIN,
    dryRun: false,
    binding: {
      kind: 'RoleBinding',
      name: 'payments-viewers',
      namespace: 'payments',
      subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: GROUP_ID }],
      roleRef: VIEW,
    },
  });
});

Recorded('decode :: 02 CREATE RoleBinding to a User :: User subject and admin roleRef', () => {
  const change = decodeFixture('02-CREATE-RoleBinding-carol-admin.json');
  assert.is(change.dryRun, false);
  assert.is(change.oldBinding, undefined);
  assert.equal(change.binding?.subjects, [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'carol@fabrikam.com' }]);
  assert.equal(change.binding?.roleRef, { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'admin' });
});

Recorded('decode :: 03 dry-run CREATE :: dryRun true, display-name Group kept as written', () => {
  const change = decodeFixture('03-CREATE-RoleBinding-team-by-name.json');
  assert.is(change.dryRun, true);
  assert.equal(change.binding?.subjects, [{ kind: 'Group', apiGroup: RBAC_GROUP, name: 'Payments Team' }]);
  assert.equal(change.binding?.roleRef, { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'edit' });
});

Recorded('decode :: 04 UPDATE adds a ServiceAccount :: binding and oldBinding both read', () => {
  const change = decodeFixture('04-UPDATE-RoleBinding-payments-viewers.json');
  assert.is(change.operation, 'UPDATE');
  assert.equal(change.binding?.subjects, [
    { kind: 'Group', apiGroup: RBAC_GROUP, name: GROUP_ID },
    { kind: 'ServiceAccount', name: 'reporter', namespace: 'payments' },
  ]);
  assert.equal(change.oldBinding, {
    kind: 'RoleBinding',
    name: 'payments-viewers',
    namespace: 'payments',
    subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: GROUP_ID }],
    roleRef: VIEW,
  });
});

Recorded('decode :: 05 UPDATE of annotations only :: oldBinding equals binding', () => {
  const change = decodeFixture('05-UPDATE-RoleBinding-carol-admin.json');
  assert.ok(change.binding && change.oldBinding);
  assert.equal(change.oldBinding, change.binding);
  assert.equal(change.oldBinding.subjects, [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'carol@fabrikam.com' }]);
});

Recorded('decode :: 06 CREATE ClusterRoleBinding :: namespace "" for request and binding', () => {
  const change = decodeFixture('06-CREATE-ClusterRoleBinding-payments-cluster-admin.json');
  assert.is(change.namespace, '');
  assert.is(change.binding?.kind, 'ClusterRoleBinding');
  assert.is(change.binding?.namespace, '');
  assert.is(change.binding?.name, 'payments-cluster-admin');
  assert.equal(change.binding?.roleRef, { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'cluster-admin' });
});

Recorded('decode :: 07 CREATE ClusterRoleBinding to system:authenticated :: subject kept', () => {
  const change = decodeFixture('07-CREATE-ClusterRoleBinding-everyone-view.json');
  assert.is(change.binding?.namespace, '');
  assert.equal(change.binding?.subjects, [{ kind: 'Group', apiGroup: RBAC_GROUP, name: 'system:authenticated' }]);
});

Recorded('decode :: 08 CREATE ClusterRole :: role read in full, no binding', () => {
  const change = decodeFixture('08-CREATE-ClusterRole-payments-reader.json');
  assert.equal(change.kind, { group: RBAC_GROUP, version: 'v1', kind: 'ClusterRole' });
  assert.is(change.name, 'payments-reader');
  assert.not.ok('binding' in change, 'a ClusterRole is not a binding');
  assert.not.ok('oldBinding' in change);
  assert.not.ok('oldRole' in change, 'a CREATE has no old role');
  assert.equal(change.role, {
    kind: 'ClusterRole',
    name: 'payments-reader',
    namespace: '',
    labels: {},
    rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'], resourceNames: [], nonResourceURLs: [] }],
  });
});

Recorded('decode :: 09 DELETE RoleBinding :: no binding, no oldBinding', () => {
  const change = decodeFixture('09-DELETE-RoleBinding-carol-admin.json');
  assert.is(change.operation, 'DELETE');
  assert.is(change.namespace, 'payments');
  assert.is(change.name, 'carol-admin');
  assert.not.ok('binding' in change, 'DELETE carries no new binding');
  assert.not.ok('oldBinding' in change);
});

Recorded('decode :: CREATE of a binding :: no oldBinding key', () => {
  assert.not.ok('oldBinding' in decodeFixture('01-CREATE-RoleBinding-payments-viewers.json'));
});

Recorded('decode :: recorded review :: the input is not mutated', () => {
  const raw = recordedReview('04-UPDATE-RoleBinding-payments-viewers.json');
  const copy = structuredClone(raw);
  decodeAdmissionReview(raw);
  assert.equal(raw, copy);
});

Recorded.run();

// --- valid variations of the base review --------------------------------------------------------------------------

const Variants = suite('decode :: accepted variations');

/** Fixture 02 (a valid CREATE of a RoleBinding), changed by `mutate`. */
function baseWith(mutate: (review: Record<string, any>) => void): Record<string, any> {
  const review = recordedReview('02-CREATE-RoleBinding-carol-admin.json');
  mutate(review);
  return review;
}

Variants('decode :: userInfo missing :: anonymous requester with no groups', () => {
  const change = decodeAdmissionReview(baseWith((review) => delete review['request']['userInfo']));
  assert.equal(change.requester, { username: '', groups: [] });
});

Variants('decode :: userInfo.groups missing :: empty groups', () => {
  const change = decodeAdmissionReview(baseWith((review) => delete review['request']['userInfo']['groups']));
  assert.equal(change.requester.groups, []);
});

Variants('decode :: subjects missing :: empty subject list', () => {
  const change = decodeAdmissionReview(baseWith((review) => delete review['request']['object']['subjects']));
  assert.equal(change.binding?.subjects, []);
});

Variants('decode :: dryRun missing :: false', () => {
  assert.is(decodeAdmissionReview(baseWith((review) => delete review['request']['dryRun'])).dryRun, false);
});

Variants('decode :: dryRun a non-boolean "true" :: not taken as dry run', () => {
  assert.is(decodeAdmissionReview(baseWith((review) => (review['request']['dryRun'] = 'true'))).dryRun, false);
});

Variants('decode :: CONNECT :: no binding read', () => {
  const change = decodeAdmissionReview(baseWith((review) => (review['request']['operation'] = 'CONNECT')));
  assert.is(change.operation, 'CONNECT');
  assert.not.ok('binding' in change);
});

/** Fixture 08 (a valid CREATE of a ClusterRole), changed by `mutate`. */
function roleReviewWith(mutate: (review: Record<string, any>) => void): Record<string, any> {
  const review = recordedReview('08-CREATE-ClusterRole-payments-reader.json');
  mutate(review);
  return review;
}

Variants('decode :: UPDATE of a ClusterRole with an aggregationRule :: role and oldRole, selectors read', () => {
  const change = decodeAdmissionReview(
    roleReviewWith((review) => {
      const request = review['request'];
      request['operation'] = 'UPDATE';
      request['object']['metadata']['labels'] = { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' };
      request['object']['aggregationRule'] = {
        clusterRoleSelectors: [
          { matchLabels: { 'rbac.example.com/aggregate-to-payments': 'true' } },
          { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] },
        ],
      };
      request['oldObject'] = structuredClone(request['object']);
      request['oldObject']['rules'] = [];
    }),
  );
  assert.equal(change.role?.labels, { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' });
  assert.equal(change.role?.aggregationRule, {
    clusterRoleSelectors: [
      { matchLabels: { 'rbac.example.com/aggregate-to-payments': 'true' }, matchExpressions: [] },
      { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] },
    ],
  });
  assert.equal(change.oldRole?.rules, []);
  assert.is(change.role?.rules.length, 1);
});

Variants('decode :: CREATE of a Role :: namespace from the object, rules with resourceNames', () => {
  const change = decodeAdmissionReview(
    roleReviewWith((review) => {
      const request = review['request'];
      request['kind']['kind'] = 'Role';
      request['namespace'] = 'payments';
      request['object']['kind'] = 'Role';
      request['object']['metadata']['namespace'] = 'payments';
      request['object']['rules'] = [{ verbs: ['bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], resourceNames: ['admin'] }];
    }),
  );
  assert.equal([change.role?.kind, change.role?.namespace, change.role?.rules[0]?.resourceNames], ['Role', 'payments', ['admin']]);
});

Variants('decode :: DELETE of a ClusterRole :: no role read', () => {
  const change = decodeAdmissionReview(roleReviewWith((review) => (review['request']['operation'] = 'DELETE')));
  assert.not.ok('role' in change);
});

Variants('decode :: a ClusterRole whose rule verbs are not strings :: 400 naming the field', () => {
  const error = decodeError(roleReviewWith((review) => (review['request']['object']['rules'][0]['verbs'] = ['get', 7])));
  assert.is(error.path, 'request.object.rules[0].verbs[1]');
});

Variants('decode :: RoleBinding of another API group :: not read as an RBAC binding', () => {
  const change = decodeAdmissionReview(
    baseWith((review) => {
      review['request']['kind']['group'] = 'example.com';
      review['request']['object'] = { kind: 'RoleBinding', spec: 'not rbac' };
    }),
  );
  assert.not.ok('binding' in change);
});

Variants.run();

// --- rejected input -----------------------------------------------------------------------------------------------

const Rejected = suite('decode :: wrong input');

type Case = readonly [name: string, mutate: (review: Record<string, any>) => void, path: string, problem: string | RegExp];

const CASES: readonly Case[] = [
  ['apiVersion admission.k8s.io/v1beta1', (r) => (r['apiVersion'] = 'admission.k8s.io/v1beta1'), 'apiVersion/kind', /admission\.k8s\.io\/v1beta1.*admissionReviewVersions: \[v1\]/],
  ['apiVersion missing', (r) => delete r['apiVersion'], 'apiVersion/kind', 'expected admission.k8s.io/v1 AdmissionReview'],
  ['kind AdmissionResponse', (r) => (r['kind'] = 'AdmissionResponse'), 'apiVersion/kind', 'got admission.k8s.io/v1 AdmissionResponse'],
  ['request missing', (r) => delete r['request'], 'request', /must be an object, got (?!undefined undefined)/],
  ['request null', (r) => (r['request'] = null), 'request', 'must be an object, got null'],
  ['request an array', (r) => (r['request'] = []), 'request', 'must be an object, got an array'],
  ['uid missing', (r) => delete r['request']['uid'], 'request.uid', 'is required'],
  ['uid empty', (r) => (r['request']['uid'] = ''), 'request.uid', 'must not be empty'],
  ['uid a number', (r) => (r['request']['uid'] = 42), 'request.uid', 'must be a string, got number 42'],
  ['operation lower-case', (r) => (r['request']['operation'] = 'create'), 'request.operation', 'must be one of CREATE, UPDATE, DELETE, CONNECT, got string "create"'],
  ['operation missing', (r) => delete r['request']['operation'], 'request.operation', 'must be one of CREATE, UPDATE, DELETE, CONNECT'],
  ['operation PATCH', (r) => (r['request']['operation'] = 'PATCH'), 'request.operation', '"PATCH"'],
  ['request.kind missing', (r) => delete r['request']['kind'], 'request.kind', 'must be an object'],
  ['request.kind a string', (r) => (r['request']['kind'] = 'RoleBinding'), 'request.kind', 'must be an object, got string "RoleBinding"'],
  ['request.kind.kind missing', (r) => delete r['request']['kind']['kind'], 'request.kind.kind', 'is required'],
  ['request.kind.version missing', (r) => delete r['request']['kind']['version'], 'request.kind.version', 'is required'],
  ['object kind not request.kind.kind', (r) => (r['request']['object']['kind'] = 'ClusterRoleBinding'), 'request.object.kind', 'is string "ClusterRoleBinding" but request.kind.kind is "RoleBinding"'],
  ['object kind missing', (r) => delete r['request']['object']['kind'], 'request.object.kind', 'but request.kind.kind is "RoleBinding"'],
  [
    'oldObject kind not request.kind.kind',
    (r) => (r['request']['oldObject'] = { ...r['request']['object'], kind: 'Role' }),
    'request.oldObject.kind',
    'is string "Role" but request.kind.kind is "RoleBinding"',
  ],
  [
    'oldObject kind wrong on DELETE',
    (r) => {
      r['request']['operation'] = 'DELETE';
      r['request']['oldObject'] = { ...r['request']['object'], kind: 'ClusterRole' };
      r['request']['object'] = null;
    },
    'request.oldObject.kind',
    'but request.kind.kind is "RoleBinding"',
  ],
  ['object not an object', (r) => (r['request']['object'] = 'RoleBinding'), 'request.object', 'must be an object, got string'],
  ['object missing on CREATE', (r) => (r['request']['object'] = null), 'request.object', 'must be an object, got null'],
  [
    'oldObject missing on UPDATE',
    (r) => {
      r['request']['operation'] = 'UPDATE';
      r['request']['oldObject'] = null;
    },
    'request.oldObject',
    'must be an object',
  ],
  ['subjects not a list', (r) => (r['request']['object']['subjects'] = { kind: 'User', name: 'carol' }), 'request.object.subjects', 'must be a list, got an object'],
  ['subjects a string', (r) => (r['request']['object']['subjects'] = 'carol'), 'request.object.subjects', 'must be a list, got string "carol"'],
  ['subject not an object', (r) => (r['request']['object']['subjects'] = ['carol']), 'request.object.subjects[0]', 'must be an object'],
  ['subject without name', (r) => delete r['request']['object']['subjects'][0]['name'], 'request.object.subjects[0].name', 'is required'],
  ['subject name a number', (r) => (r['request']['object']['subjects'][0]['name'] = 42), 'request.object.subjects[0].name', 'must be a string, got number 42'],
  [
    'second subject without kind',
    (r) => r['request']['object']['subjects'].push({ name: 'x' }),
    'request.object.subjects[1].kind',
    'is required',
  ],
  ['subject namespace a list', (r) => (r['request']['object']['subjects'][0]['namespace'] = ['a']), 'request.object.subjects[0].namespace', 'must be a string, got an array'],
  ['roleRef missing', (r) => delete r['request']['object']['roleRef'], 'request.object.roleRef', 'must be an object'],
  ['roleRef name missing', (r) => delete r['request']['object']['roleRef']['name'], 'request.object.roleRef.name', 'is required'],
  ['roleRef kind a number', (r) => (r['request']['object']['roleRef']['kind'] = 1), 'request.object.roleRef.kind', 'must be a string, got number 1'],
  ['metadata a string', (r) => (r['request']['object']['metadata'] = 'carol-admin'), 'request.object.metadata', 'must be an object'],
  ['oldBinding subject invalid on UPDATE', (r) => {
    r['request']['operation'] = 'UPDATE';
    r['request']['oldObject'] = structuredClone(r['request']['object']);
    r['request']['oldObject']['subjects'][0]['name'] = null;
  }, 'request.oldObject.subjects[0].name', 'is required'],
  ['userInfo.groups not strings', (r) => (r['request']['userInfo']['groups'] = ['system:authenticated', 7]), 'request.userInfo.groups', 'must be a list of strings'],
  ['userInfo.groups a string', (r) => (r['request']['userInfo']['groups'] = 'system:masters'), 'request.userInfo.groups', 'must be a list of strings'],
  ['userInfo a string', (r) => (r['request']['userInfo'] = 'admin'), 'request.userInfo', 'must be an object'],
  ['userInfo.username a number', (r) => (r['request']['userInfo']['username'] = 1), 'request.userInfo.username', 'must be a string'],
  ['namespace a number', (r) => (r['request']['namespace'] = 3), 'request.namespace', 'must be a string, got number 3'],
];

for (const [name, mutate, path, problem] of CASES) {
  Rejected(`decode :: ${name} :: rejected at ${path}`, () => {
    const error = decodeError(baseWith(mutate));
    assert.is(error.path, path);
    if (typeof problem === 'string') {
      assert.ok(error.problem.includes(problem), `problem ${JSON.stringify(error.problem)} should contain ${JSON.stringify(problem)}`);
    } else {
      assert.match(error.problem, problem);
    }
    assert.is(error.message, `${path}: ${error.problem}`);
    assert.is(error.name, 'InvalidInputError');
  });
}

for (const [name, body, expected] of [
  ['not an object (string)', 'AdmissionReview', 'must be an object, got string "AdmissionReview"'],
  ['not an object (number)', 42, 'must be an object, got number 42'],
  ['null', null, 'must be an object, got null'],
  ['undefined', undefined, 'must be an object, got nothing'],
  ['array body', [recordedReview('02-CREATE-RoleBinding-carol-admin.json')], 'must be an object, got an array'],
] as const) {
  Rejected(`decode :: body ${name} :: rejected at body`, () => {
    const error = decodeError(body);
    assert.is(error.path, 'body');
    assert.is(error.problem, expected);
  });
}

Rejected('decode :: missing value :: described as nothing, never "undefined undefined"', () => {
  const error = decodeError(baseWith((review) => delete review['request']['object']['roleRef']));
  assert.is(error.problem, 'must be an object, got nothing');
});

Rejected.run();
