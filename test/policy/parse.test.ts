import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY_YAML } from '../../src/policy/default-policy.ts';
import { RULE_IDS, type Policy } from '../../src/policy/model.ts';
import { DEFAULT_POLICY, formatProblems, parsePolicy, type PolicyProblem } from '../../src/policy/parse.ts';
import { ADMIN_GROUP_ID, GROUP_ID } from '../helpers.ts';

/** The policy of a document that must parse; fails the test with every problem otherwise. */
function parsed(text: string): { policy: Policy; warnings: readonly PolicyProblem[] } {
  const result = parsePolicy(text);
  if (!result.ok) assert.unreachable(`expected the policy to parse, got:\n${formatProblems(result.errors)}`);
  return result as { policy: Policy; warnings: readonly PolicyProblem[] };
}

/** The problems of a document that must be rejected. */
function rejected(text: string): readonly PolicyProblem[] {
  const result = parsePolicy(text);
  if (result.ok) assert.unreachable(`expected the policy to be rejected:\n${text}`);
  const { errors } = result as { errors: readonly PolicyProblem[] };
  assert.ok(errors.length > 0, 'a rejection names at least one problem');
  return errors;
}

/** The single problem reported at `path`, with every problem in the failure message. */
function problemAt(errors: readonly PolicyProblem[], path: string): PolicyProblem {
  const matching = errors.filter((problem) => problem.path === path);
  assert.is(matching.length, 1, `expected one problem at ${path}, got:\n${formatProblems(errors)}`);
  return matching[0]!;
}

function assertIncludes(text: string, part: string): void {
  assert.ok(text.includes(part), `expected ${JSON.stringify(text)} to contain ${JSON.stringify(part)}`);
}

const LOCKOUT = 'adminGroups';

// --- defaults -----------------------------------------------------------------------------------------------------

const Defaults = suite('parsePolicy :: defaults');

Defaults('parsePolicy :: embedded DEFAULT_POLICY_YAML :: parses to exactly DEFAULT_POLICY', () => {
  const { policy } = parsed(DEFAULT_POLICY_YAML);
  assert.equal(policy, DEFAULT_POLICY);
});

Defaults('parsePolicy :: embedded DEFAULT_POLICY_YAML :: only warning is the adminGroups lock-out', () => {
  const { warnings } = parsed(DEFAULT_POLICY_YAML);
  assert.equal(
    warnings.map((warning) => warning.path),
    [LOCKOUT],
  );
  assertIncludes(warnings[0]!.message, 'cluster-admin');
  assertIncludes(warnings[0]!.message, '--aad-admin-group-object-ids');
});

Defaults('parsePolicy :: embedded DEFAULT_POLICY_YAML :: names every configurable rule', () => {
  for (const rule of RULE_IDS) assertIncludes(DEFAULT_POLICY_YAML, rule);
});

Defaults('DEFAULT_POLICY :: every rule :: deny', () => {
  assert.equal(Object.keys(DEFAULT_POLICY.rules).sort(), [...RULE_IDS].sort());
  for (const rule of RULE_IDS) assert.is(DEFAULT_POLICY.rules[rule], 'deny', rule);
});

for (const [name, text] of [
  ['empty document', ''],
  ['whitespace only', '  \n\n'],
  ['comment only', '# nothing here\n'],
  ['empty mapping {}', '{}'],
  ['null document', '~'],
] as const) {
  Defaults(`parsePolicy :: ${name} :: the defaults`, () => {
    const { policy, warnings } = parsed(text);
    assert.equal(policy, DEFAULT_POLICY);
    assert.equal(
      warnings.map((warning) => warning.path),
      [LOCKOUT],
    );
  });
}

Defaults('parsePolicy :: null sections (rules, allow, directory, lists) :: the defaults', () => {
  const { policy } = parsed('rules:\nallow:\n  users: ~\n  requesters:\ndirectory:\nadminGroups:\n');
  assert.equal(policy, DEFAULT_POLICY);
});

Defaults('parsePolicy :: partial rules :: only the named rules change', () => {
  const { policy } = parsed('rules:\n  user-subject: warn\n');
  assert.equal(policy.rules, { ...DEFAULT_POLICY.rules, 'user-subject': 'warn' });
});

Defaults('parsePolicy :: result :: does not share arrays with DEFAULT_POLICY', () => {
  const { policy } = parsed('');
  assert.is.not(policy.clusterAdminRoles, DEFAULT_POLICY.clusterAdminRoles);
  assert.is.not(policy.rules, DEFAULT_POLICY.rules);
});

Defaults.run();

// --- every field accepted -----------------------------------------------------------------------------------------

const Accepted = suite('parsePolicy :: valid values');

const FULL = `apiVersion: entra-rbac-guard/v1
kind: Policy
mode: audit
adminGroups: [${ADMIN_GROUP_ID}]
clusterAdminRoles: [cluster-admin, platform-admin]
rules:
  user-subject: warn
  group-format: off
  group-unknown: deny
  group-not-security-enabled: warn
  cluster-admin: deny
  escalation: warn
  broad-group: off
  local-account: warn
allow:
  users: [breakglass@contoso.com]
  groups: [oidc:platform]
  clusterAdminSubjects:
    - {kind: Group, name: ${GROUP_ID}}
    - {kind: ServiceAccount, name: flux, namespace: flux-system}
    - {kind: User, name: breakglass@contoso.com, apiGroup: rbac.authorization.k8s.io}
  namespaces: [kube-system, sandbox]
  requesters:
    usernames: [system:serviceaccount:flux-system:kustomize-controller]
    groups: [${GROUP_ID}]
directory:
  verify: false
  requireSecurityEnabled: false
  onError: allow
  lookup: getByIds
`;

Accepted('parsePolicy :: every field with a valid value :: read exactly', () => {
  const { policy, warnings } = parsed(FULL);
  assert.equal(policy, {
    mode: 'audit',
    adminGroups: [ADMIN_GROUP_ID],
    clusterAdminRoles: ['cluster-admin', 'platform-admin'],
    rules: {
      'user-subject': 'warn',
      'group-format': 'off',
      'group-unknown': 'deny',
      'group-not-security-enabled': 'warn',
      'directory-unavailable': 'deny',
      'cluster-admin': 'deny',
      escalation: 'warn',
      'broad-group': 'off',
      'local-account': 'warn',
    },
    allow: {
      users: ['breakglass@contoso.com'],
      groups: ['oidc:platform'],
      clusterAdminSubjects: [
        { kind: 'Group', name: GROUP_ID },
        { kind: 'ServiceAccount', name: 'flux', namespace: 'flux-system' },
        { kind: 'User', name: 'breakglass@contoso.com' },
      ],
      namespaces: ['kube-system', 'sandbox'],
      requesters: {
        usernames: ['system:serviceaccount:flux-system:kustomize-controller'],
        groups: [GROUP_ID],
      },
    },
    timeBoxed: [],
    directory: { verify: false, requireSecurityEnabled: false, onError: 'allow', lookup: 'getByIds' },
  });
  assert.equal(warnings, []);
});

for (const mode of ['enforce', 'audit'] as const) {
  Accepted(`parsePolicy :: mode ${mode} :: accepted`, () => {
    assert.is(parsed(`mode: ${mode}`).policy.mode, mode);
  });
}

for (const action of ['deny', 'warn', 'off'] as const) {
  Accepted(`parsePolicy :: every configurable rule set to ${action} :: accepted`, () => {
    const configurable = RULE_IDS.filter((rule) => rule !== 'directory-unavailable');
    const { policy } = parsed(`rules:\n${configurable.map((rule) => `  ${rule}: ${action}`).join('\n')}\n`);
    for (const rule of configurable) assert.is(policy.rules[rule], action, rule);
    assert.is(policy.rules['directory-unavailable'], 'deny', 'directory-unavailable is not set from rules');
  });
}

for (const onError of ['deny', 'allow'] as const) {
  Accepted(`parsePolicy :: directory.onError ${onError} :: accepted`, () => {
    assert.is(parsed(`directory: {onError: ${onError}}`).policy.directory.onError, onError);
  });
}

Accepted('parsePolicy :: directory.lookup :: batch by default, getByIds accepted, anything else named with what is allowed', () => {
  assert.is(parsed('mode: enforce').policy.directory.lookup, 'batch');
  assert.is(parsed('directory: {lookup: getByIds}').policy.directory.lookup, 'getByIds');
  const result = parsePolicy('directory: {lookup: getbyids}');
  assert.ok(!result.ok && result.errors.some((error) => error.path === 'directory.lookup' && /batch/.test(error.message) && /getByIds/.test(error.message)), JSON.stringify(result));
});

Accepted('parsePolicy :: JSON document :: accepted (JSON is YAML)', () => {
  const { policy } = parsed(JSON.stringify({ mode: 'audit', adminGroups: [ADMIN_GROUP_ID] }));
  assert.is(policy.mode, 'audit');
  assert.equal(policy.adminGroups, [ADMIN_GROUP_ID]);
});

Accepted('parsePolicy :: clusterAdminRoles [] :: no role is cluster-admin', () => {
  assert.equal(parsed('clusterAdminRoles: []').policy.clusterAdminRoles, []);
});

Accepted.run();

// --- rejected input -----------------------------------------------------------------------------------------------

const Rejected = suite('parsePolicy :: wrong input');

Rejected('parsePolicy :: unknown top-level field, near typo :: did you mean, and the known fields', () => {
  const problem = problemAt(rejected('mdoe: audit'), 'mdoe');
  assertIncludes(problem.message, 'unknown field');
  assertIncludes(problem.message, 'did you mean mode?');
  assertIncludes(problem.message, 'known fields are apiVersion, kind, mode, adminGroups, clusterAdminRoles, rules, allow, directory');
});

Rejected('parsePolicy :: unknown top-level field, no near name :: no guess, the known fields', () => {
  const problem = problemAt(rejected('webhookTimeout: 10'), 'webhookTimeout');
  assertIncludes(problem.message, 'unknown field');
  assert.not.ok(problem.message.includes('did you mean'), problem.message);
  assertIncludes(problem.message, 'known fields are');
});

Rejected('parsePolicy :: unknown nested field :: dotted path', () => {
  const errors = rejected('directory:\n  verfy: false\nallow:\n  requesters:\n    user: [x]\n');
  assertIncludes(problemAt(errors, 'directory.verfy').message, 'did you mean verify?');
  assertIncludes(problemAt(errors, 'allow.requesters.user').message, 'known fields are usernames, groups');
});

Rejected('parsePolicy :: rules.user-subjct :: unknown rule, did you mean user-subject, known rules', () => {
  const problem = problemAt(rejected('rules:\n  user-subjct: warn\n'), 'rules.user-subjct');
  assertIncludes(problem.message, 'unknown rule');
  assertIncludes(problem.message, 'did you mean user-subject');
  assertIncludes(problem.message, 'known rules are');
  for (const rule of RULE_IDS.filter((id) => id !== 'directory-unavailable')) assertIncludes(problem.message, rule);
  assert.not.ok(problem.message.includes('directory-unavailable'), 'directory-unavailable is not offered as a rule to set');
});

Rejected('parsePolicy :: rules.directory-unavailable :: points to directory.onError', () => {
  const problem = problemAt(rejected('rules:\n  directory-unavailable: warn\n'), 'rules.directory-unavailable');
  assertIncludes(problem.message, 'directory.onError');
});

for (const [name, text, path, allowed, got] of [
  ['rule action', 'rules:\n  user-subject: block\n', 'rules.user-subject', 'deny, warn, off', '"block"'],
  ['rule action, boolean', 'rules:\n  broad-group: false\n', 'rules.broad-group', 'deny, warn, off', 'false'],
  ['mode', 'mode: dryrun', 'mode', 'enforce, audit', '"dryrun"'],
  ['mode, wrong case', 'mode: Enforce', 'mode', 'enforce, audit', '"Enforce"'],
  ['mode, null', 'mode: ~', 'mode', 'enforce, audit', 'null'],
  ['directory.onError', 'directory: {onError: warn}', 'directory.onError', 'deny, allow', '"warn"'],
  ['clusterAdminSubjects kind', 'allow:\n  clusterAdminSubjects: [{kind: Robot, name: r2}]\n', 'allow.clusterAdminSubjects[0].kind', 'User, Group, ServiceAccount', '"Robot"'],
] as const) {
  Rejected(`parsePolicy :: bad ${name} :: path, allowed values and the value given`, () => {
    const problem = problemAt(rejected(text), path);
    assertIncludes(problem.message, `must be one of ${allowed}`);
    assertIncludes(problem.message, `got ${got}`);
  });
}

Rejected('parsePolicy :: apiVersion wrong :: must be entra-rbac-guard/v1', () => {
  const problem = problemAt(rejected('apiVersion: entra-rbac-guard/v2'), 'apiVersion');
  assertIncludes(problem.message, 'must be entra-rbac-guard/v1');
  assertIncludes(problem.message, '"entra-rbac-guard/v2"');
});

Rejected('parsePolicy :: kind wrong :: must be Policy', () => {
  const problem = problemAt(rejected('kind: ConfigMap'), 'kind');
  assertIncludes(problem.message, 'must be Policy');
  assertIncludes(problem.message, '"ConfigMap"');
});

Rejected('parsePolicy :: adminGroups upper-case GUID :: suggests the lower-case form', () => {
  const problem = problemAt(rejected(`adminGroups: ["${ADMIN_GROUP_ID.toUpperCase()}"]`), 'adminGroups[0]');
  assertIncludes(problem.message, 'not an Entra object ID');
  assertIncludes(problem.message, 'lower-case GUID');
  assertIncludes(problem.message, ADMIN_GROUP_ID);
});

Rejected('parsePolicy :: adminGroups GUID in braces :: suggests the bare lower-case form', () => {
  const problem = problemAt(rejected(`adminGroups: ["{${ADMIN_GROUP_ID}}"]`), 'adminGroups[0]');
  assertIncludes(problem.message, `(${ADMIN_GROUP_ID})`);
});

Rejected('parsePolicy :: adminGroups display name :: asks for the object ID, does not lower-case the name', () => {
  const problem = problemAt(rejected('adminGroups: [AKS Admins]'), 'adminGroups[0]');
  assertIncludes(problem.message, '"AKS Admins" is not an Entra object ID');
  assertIncludes(problem.message, "group's object ID as a lower-case GUID");
  assert.not.ok(problem.message.includes('aks admins'), `a lower-cased display name is no object ID: ${problem.message}`);
});

Rejected('parsePolicy :: adminGroups second entry wrong :: indexed path names it', () => {
  const errors = rejected(`adminGroups: [${ADMIN_GROUP_ID}, Platform Admins]`);
  assert.equal(
    errors.map((error) => error.path),
    ['adminGroups[1]'],
  );
});

Rejected('parsePolicy :: clusterAdminSubjects ServiceAccount without namespace :: namespace required', () => {
  const problem = problemAt(rejected('allow:\n  clusterAdminSubjects:\n    - {kind: ServiceAccount, name: flux}\n'), 'allow.clusterAdminSubjects[0].namespace');
  assertIncludes(problem.message, 'is required for a ServiceAccount');
});

Rejected('parsePolicy :: clusterAdminSubjects subject without name :: name required', () => {
  const problem = problemAt(rejected('allow:\n  clusterAdminSubjects:\n    - {kind: Group}\n'), 'allow.clusterAdminSubjects[0].name');
  assertIncludes(problem.message, 'must be a non-empty string');
});

Rejected('parsePolicy :: clusterAdminSubjects unknown field :: known fields listed', () => {
  const problem = problemAt(rejected('allow:\n  clusterAdminSubjects:\n    - {kind: Group, name: x, nmae: y}\n'), 'allow.clusterAdminSubjects[0].nmae');
  assertIncludes(problem.message, 'did you mean name?');
  assertIncludes(problem.message, 'known fields are kind, name, namespace, apiGroup');
});

for (const [name, text, path, expected] of [
  ['string where a list is expected', 'adminGroups: ' + ADMIN_GROUP_ID, 'adminGroups', `must be a list, got "${ADMIN_GROUP_ID}"`],
  ['string where a list of strings is expected', 'clusterAdminRoles: cluster-admin', 'clusterAdminRoles', 'must be a list, got "cluster-admin"'],
  ['mapping where a list is expected', 'allow:\n  users: {alice: true}\n', 'allow.users', 'must be a list, got a mapping'],
  ['number in a list of strings', 'allow:\n  namespaces: [default, 42]\n', 'allow.namespaces[1]', 'must be a non-empty string, got 42'],
  ['empty string in a list of strings', 'clusterAdminRoles: [""]', 'clusterAdminRoles[0]', 'must be a non-empty string, got ""'],
  ['number where a string is expected', 'mode: 1', 'mode', 'must be one of enforce, audit, got 1'],
  ['number as a subject name', 'allow:\n  clusterAdminSubjects: [{kind: User, name: 7}]\n', 'allow.clusterAdminSubjects[0].name', 'must be a non-empty string, got 7'],
  ['list where a mapping is expected (rules)', 'rules: [user-subject]', 'rules', 'must be a mapping, got a list'],
  ['list where a mapping is expected (directory)', 'directory: [verify]', 'directory', 'must be a mapping, got a list'],
  ['string where a mapping is expected (allow)', 'allow: everything', 'allow', 'must be a mapping, got "everything"'],
  ['list where a mapping is expected (requesters)', 'allow:\n  requesters: [admin]\n', 'allow.requesters', 'must be a mapping, got a list'],
  ['list document', '- mode: audit\n', '(document)', 'must be a mapping, got a list'],
  ['scalar document', 'enforce', '(document)', 'must be a mapping, got "enforce"'],
  ['string where a boolean is expected', 'directory: {verify: "yes"}', 'directory.verify', 'must be true or false, got "yes"'],
  ['number where a boolean is expected', 'directory: {requireSecurityEnabled: 1}', 'directory.requireSecurityEnabled', 'must be true or false, got 1'],
  ['list item not a mapping (subject)', 'allow:\n  clusterAdminSubjects: [admins]\n', 'allow.clusterAdminSubjects[0]', 'must be a mapping, got "admins"'],
] as const) {
  Rejected(`parsePolicy :: ${name} :: rejected at ${path}`, () => {
    assertIncludes(problemAt(rejected(text), path).message, expected);
  });
}

Rejected('parsePolicy :: YAML syntax error :: reported with line and column', () => {
  const errors = rejected('mode: enforce\nrules: {user-subject: deny\nallow: {}\n');
  assert.ok(errors.every((error) => error.path === '(yaml)'), formatProblems(errors));
  assert.match(errors[0]!.message, /at line \d+, column \d+/);
});

Rejected('parsePolicy :: YAML syntax error on line 3 :: exact line and column', () => {
  const errors = rejected('mode: enforce\nadminGroups: []\nrules: user-subject: deny\n');
  assert.equal(errors, [{ path: '(yaml)', message: 'Nested mappings are not allowed in compact mappings at line 3, column 8' }]);
});

Rejected('parsePolicy :: bad indentation :: reported as a YAML error, single-line message', () => {
  const errors = rejected('mode: enforce\n  extra: 1\n');
  for (const error of errors) {
    assert.is(error.path, '(yaml)');
    assert.not.ok(error.message.includes('\n'), `one line per problem: ${JSON.stringify(error.message)}`);
  }
});

Rejected('parsePolicy :: duplicate top-level key :: rejected with its line', () => {
  const errors = rejected('mode: enforce\nadminGroups: []\nmode: audit\n');
  assert.is(errors.length, 1, formatProblems(errors));
  assert.is(errors[0]!.path, '(yaml)');
  assertIncludes(errors[0]!.message, 'unique');
  assertIncludes(errors[0]!.message, 'line 3');
});

Rejected('parsePolicy :: duplicate rule key :: rejected (the later value must not silently win)', () => {
  const errors = rejected('rules:\n  user-subject: deny\n  user-subject: off\n');
  assert.is(errors[0]!.path, '(yaml)');
  assertIncludes(errors[0]!.message, 'unique');
});

Rejected('parsePolicy :: several problems at once :: all reported, in document order', () => {
  const errors = rejected(
    [
      'apiVersion: v1',
      'kind: Policy',
      'mode: dryrun',
      'adminGroups: [AKS Admins]',
      'rules:',
      '  user-subjct: warn',
      '  group-format: maybe',
      'allow:',
      '  clusterAdminSubjects: [{kind: ServiceAccount, name: ci}]',
      'directory:',
      '  onError: retry',
      'extra: 1',
    ].join('\n'),
  );
  assert.equal(errors.map((error) => error.path).sort(), [
    'adminGroups[0]',
    'allow.clusterAdminSubjects[0].namespace',
    'apiVersion',
    'directory.onError',
    'extra',
    'mode',
    'rules.group-format',
    'rules.user-subjct',
  ]);
});

Rejected('formatProblems :: problems :: one "path: message" line each', () => {
  const text = formatProblems(rejected('mode: x\nkind: y\n'));
  assert.equal(text.split('\n').length, 2);
  assert.match(text, /^kind: must be Policy/m);
  assert.match(text, /^mode: must be one of enforce, audit/m);
});

Rejected.run();

// --- warnings -----------------------------------------------------------------------------------------------------

const Warnings = suite('parsePolicy :: warnings');

const WITH_ADMINS = `adminGroups: [${ADMIN_GROUP_ID}]\n`;

Warnings('parsePolicy :: allow.requesters.groups has system:masters :: warning names it', () => {
  const { warnings } = parsed(`${WITH_ADMINS}allow:\n  requesters:\n    groups: [system:masters]\n`);
  assert.is(warnings.length, 1);
  assert.is(warnings[0]!.path, 'allow.requesters.groups');
  assertIncludes(warnings[0]!.message, 'system:masters');
});

Warnings('parsePolicy :: allow.requesters.groups has system:authenticated :: warning names it', () => {
  const { warnings } = parsed(`${WITH_ADMINS}allow:\n  requesters:\n    groups: [${GROUP_ID}, system:authenticated]\n`);
  assert.equal(
    warnings.map((warning) => warning.path),
    ['allow.requesters.groups'],
  );
  assertIncludes(warnings[0]!.message, 'system:authenticated');
});

Warnings('parsePolicy :: allow.requesters.groups with a specific group :: no warning', () => {
  assert.equal(parsed(`${WITH_ADMINS}allow:\n  requesters:\n    groups: [${GROUP_ID}]\n`).warnings, []);
});

Warnings('parsePolicy :: adminGroups set :: no lock-out warning', () => {
  assert.equal(parsed(WITH_ADMINS).warnings, []);
});

for (const action of ['warn', 'off'] as const) {
  Warnings(`parsePolicy :: adminGroups empty, cluster-admin ${action} :: no lock-out warning`, () => {
    assert.equal(parsed(`rules:\n  cluster-admin: ${action}\n`).warnings, []);
  });
}

Warnings('parsePolicy :: lock-out and system:masters together :: both warnings', () => {
  const { warnings } = parsed('allow:\n  requesters:\n    groups: [system:masters]\n');
  assert.equal(
    warnings.map((warning) => warning.path),
    ['adminGroups', 'allow.requesters.groups'],
  );
});

Warnings.run();
