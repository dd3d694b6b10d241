/**
 * What `policy vap` prints: objects the Kubernetes 1.30+ OpenAPI schema accepts (kubernetes-models), the API server's
 * own rules for names and actions, expressions that parse and stay linear in the binding's subjects, the deny/warn
 * layout, and the command itself.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@bufbuild/cel';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments, stringify } from 'yaml';
import { backstopObjects, DEFAULT_BACKSTOP_OPTIONS, type BackstopOptions, type KubeObject } from '../../src/backstop/generate.ts';
import { runCli, type Io } from '../../src/cli.ts';
import type { Policy } from '../../src/policy/model.ts';
import { ADMIN_GROUP_ID } from '../helpers.ts';
import { POLICIES, policyOf } from './policies.ts';

type Json = Record<string, any>;

const OPTIONS: readonly BackstopOptions[] = [
  DEFAULT_BACKSTOP_OPTIONS,
  { ...DEFAULT_BACKSTOP_OPTIONS, namePrefix: 'rel-entra-rbac-guard-backstop', excludeNamespaces: ['guard', 'monitoring'], skipAksManagedNamespaces: true, skipUsernames: ['system:apiserver'], skipGroups: ['gitops'] },
];

const specOf = (object: KubeObject) => object['spec'] as Json;
const policies = (objects: readonly KubeObject[]) => objects.filter((object) => object.kind === 'ValidatingAdmissionPolicy');
const bindings = (objects: readonly KubeObject[]) => objects.filter((object) => object.kind === 'ValidatingAdmissionPolicyBinding');

// --- schema ----------------------------------------------------------------------------------------------------------

const Schema = suite('backstop :: the Kubernetes OpenAPI schema and API validation');

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const CEL_IDENTIFIER = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

for (const [policyName, policy] of Object.entries(POLICIES)) {
  for (const [index, options] of OPTIONS.entries()) {
    Schema(`policy ${policyName}, options ${index} :: every object validates against the admissionregistration.k8s.io/v1 schema`, () => {
      const objects = backstopObjects(policy, options);
      assert.ok(objects.length >= 2);
      for (const object of objects) {
        const model = object.kind === 'ValidatingAdmissionPolicy' ? new ValidatingAdmissionPolicy(object as never) : new ValidatingAdmissionPolicyBinding(object as never);
        model.validate();
      }
    });

    Schema(`policy ${policyName}, options ${index} :: names, variables, conditions and actions as the API server validates them`, () => {
      const objects = backstopObjects(policy, options);
      for (const object of objects) {
        assert.ok(object.metadata.name.length <= 253 && DNS_SUBDOMAIN.test(object.metadata.name), object.metadata.name);
      }
      for (const object of policies(objects)) {
        const spec = specOf(object);
        const variableNames = (spec['variables'] as Json[]).map((variable) => variable['name'] as string);
        assert.equal(variableNames.filter((name) => !CEL_IDENTIFIER.test(name)), []);
        assert.is(new Set(variableNames).size, variableNames.length, 'variable names are unique');
        const conditions = (spec['matchConditions'] as Json[]).map((condition) => condition['name'] as string);
        assert.ok(conditions.length <= 64);
        assert.equal(conditions.filter((name) => name.length > 63 || !QUALIFIED_NAME.test(name)), []);
        assert.is(new Set(conditions).size, conditions.length, 'condition names are unique');
        assert.ok((spec['validations'] as Json[]).length > 0, 'a policy has at least one validation');
        for (const expression of expressionsOf(spec)) parse(expression);
      }
      for (const object of bindings(objects)) {
        const actions = specOf(object)['validationActions'] as string[];
        assert.ok(actions.every((action) => ['Deny', 'Warn', 'Audit'].includes(action)));
        assert.not.ok(actions.includes('Deny') && actions.includes('Warn'), 'Deny and Warn never together');
      }
    });
  }
}

Schema('the schema check is real :: a binding without its policy name, a policy with a malformed rule, are refused', () => {
  const [policy, binding] = backstopObjects(POLICIES['default']!);
  assert.throws(() => new ValidatingAdmissionPolicyBinding({ ...binding, spec: { validationActions: 'Deny' } } as never).validate());
  assert.throws(() => new ValidatingAdmissionPolicy({ ...policy, spec: { ...specOf(policy!), validations: [{ message: 'no expression' }] } } as never).validate());
});

function expressionsOf(spec: Json): string[] {
  return [
    ...(spec['matchConditions'] as Json[]).map((condition) => condition['expression'] as string),
    ...(spec['variables'] as Json[]).map((variable) => variable['expression'] as string),
    ...(spec['validations'] as Json[]).flatMap((validation) => [validation['expression'] as string, validation['messageExpression'] as string]),
  ];
}

// --- cost ---------------------------------------------------------------------------------------------------------

/**
 * How deep comprehensions (all, exists, map, filter) nest in the step of another. A comprehension in another's range
 * runs once; one in its step runs once per element: over a binding's subjects, which the schema does not bound, that
 * would make the cost quadratic.
 */
function comprehensionDepth(node: unknown): number {
  if (Array.isArray(node)) return Math.max(0, ...node.map(comprehensionDepth));
  if (node === null || typeof node !== 'object') return 0;
  const record = node as Json;
  if (record['$typeName'] === 'cel.expr.Expr.Comprehension') {
    const inner = Math.max(comprehensionDepth(record['loopCondition']), comprehensionDepth(record['loopStep']), comprehensionDepth(record['result']));
    return Math.max(comprehensionDepth(record['iterRange']), comprehensionDepth(record['accuInit']), 1 + inner);
  }
  return Math.max(0, ...Object.values(record).map(comprehensionDepth));
}

Schema('cost :: no comprehension runs inside another\'s loop: every expression is linear in the subjects', () => {
  for (const policy of Object.values(POLICIES)) {
    for (const object of policies(backstopObjects(policy, OPTIONS[1]))) {
      for (const expression of expressionsOf(specOf(object))) {
        assert.ok(comprehensionDepth(parse(expression).expr) <= 1, `nested comprehension in ${expression}`);
      }
    }
  }
});

Schema('cost :: the subjects compared on UPDATE are bounded, above the bound the backstop judges nothing', () => {
  const spec = specOf(policies(backstopObjects(POLICIES['default']!))[0]!);
  const variable = (name: string) => (spec['variables'] as Json[]).find((candidate) => candidate['name'] === name)!['expression'] as string;
  assert.match(variable('withinBounds'), 'size(object.subjects) <= 256');
  assert.match(variable('withinBounds'), 'size(oldObject.subjects) <= 256');
  assert.ok(variable('judged').startsWith('variables.withinBounds && '));
  assert.ok(variable('oldKeys').startsWith('variables.withinBounds && '));
});

Schema.run();

// --- layout -----------------------------------------------------------------------------------------------------------

const Layout = suite('backstop :: one policy and one binding per action');

const names = (objects: readonly KubeObject[]) => objects.map((object) => `${object.kind}/${object.metadata.name}`);
const actionsOf = (objects: readonly KubeObject[], name: string) => specOf(bindings(objects).find((object) => object.metadata.name === name)!)['validationActions'];
const rulesOf = (objects: readonly KubeObject[], name: string) =>
  (specOf(policies(objects).find((object) => object.metadata.name === name)!)['validations'] as Json[]).map((validation) => /variables\.(\w+)\)/.exec(validation['expression'])![1]);

Layout('default policy :: only the deny pair, with every rule the backstop holds, denying', () => {
  const objects = backstopObjects(POLICIES['default']!);
  assert.equal(names(objects), ['ValidatingAdmissionPolicy/entra-rbac-guard-backstop-deny', 'ValidatingAdmissionPolicyBinding/entra-rbac-guard-backstop-deny']);
  assert.equal(actionsOf(objects, 'entra-rbac-guard-backstop-deny'), ['Deny']);
  assert.equal(rulesOf(objects, 'entra-rbac-guard-backstop-deny'), ['userSubject', 'groupFormat', 'clusterAdmin', 'broadGroup', 'localAccount']);
  assert.is(specOf(objects[0]!)['failurePolicy'], 'Ignore');
  assert.is(specOf(objects[1]!)['policyName'], 'entra-rbac-guard-backstop-deny');
  assert.equal(objects[0]!.metadata['labels' as never], { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/component': 'backstop', 'app.kubernetes.io/part-of': 'entra-rbac-guard' });
});

Layout('warn rules :: a warn pair beside the deny pair; an off rule is in neither', () => {
  const objects = backstopObjects(POLICIES['warn rules']!);
  assert.equal(rulesOf(objects, 'entra-rbac-guard-backstop-deny'), ['clusterAdmin', 'localAccount']);
  assert.equal(rulesOf(objects, 'entra-rbac-guard-backstop-warn'), ['userSubject', 'broadGroup']);
  assert.equal(actionsOf(objects, 'entra-rbac-guard-backstop-warn'), ['Warn']);
});

Layout('audit mode :: both bindings warn and audit, the names stay (a mode switch changes one field)', () => {
  const objects = backstopObjects(policyOf({ mode: 'audit', rules: { 'user-subject': 'warn' } }));
  assert.equal(actionsOf(objects, 'entra-rbac-guard-backstop-deny'), ['Warn', 'Audit']);
  assert.equal(actionsOf(objects, 'entra-rbac-guard-backstop-warn'), ['Warn', 'Audit']);
});

Layout('every rule off :: nothing', () => {
  const off = policyOf({ rules: { 'user-subject': 'off', 'group-format': 'off', 'cluster-admin': 'off', 'broad-group': 'off', 'local-account': 'off' } });
  assert.equal(backstopObjects(off), []);
});

Layout('the webhook\'s exclusions :: namespaces, AKS-managed namespaces and skipped requesters are skipped too', () => {
  const spec = specOf(backstopObjects(POLICIES['default']!, OPTIONS[1])[0]!);
  assert.equal(spec['matchConstraints']['namespaceSelector'], {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['guard', 'monitoring', 'kube-system'] },
      { key: 'control-plane', operator: 'DoesNotExist' },
    ],
  });
  assert.equal((spec['matchConditions'] as Json[]).map((condition) => condition['name']), ['exclude-api-server', 'exclude-webhook-skipped-requesters']);
});

Layout('allow.requesters and allow.namespaces :: matchConditions, a time-boxed one only while the API server\'s clock is before its expiry', () => {
  const spec = specOf(backstopObjects(POLICIES['time-boxed entries']!)[0]!);
  const conditions = Object.fromEntries((spec['matchConditions'] as Json[]).map((condition) => [condition['name'], condition['expression']]));
  assert.equal(Object.keys(conditions), ['exclude-api-server', 'exclude-exempt-requesters', 'exclude-allowed-namespaces']);
  assert.match(conditions['exclude-exempt-requesters'], '["gitops"]');
  assert.match(conditions['exclude-exempt-requesters'], 'timestamp(object.metadata.creationTimestamp) : timestamp("1970-01-01T00:00:00Z")) < timestamp("2026-12-08T18:00:30Z") + duration("60s") ? ["incident@contoso.com"] : []');
});

Layout('the same policy twice :: the same objects (helm upgrade and GitOps diffs stay quiet)', () => {
  const policy = policyOf({ adminGroups: [ADMIN_GROUP_ID], allow: { users: ['a@contoso.com'] } });
  assert.equal(stringify(backstopObjects(policy)), stringify(backstopObjects(policyOf({ adminGroups: [ADMIN_GROUP_ID], allow: { users: ['a@contoso.com'] } }))));
});

Layout.run();

// --- the command --------------------------------------------------------------------------------------------------------

const Command = suite('backstop :: entra-rbac-guard policy vap');

async function vap(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), readStdin: async () => '', env: {} };
  const code = await runCli(['policy', 'vap', ...args], io);
  return { code, stdout, stderr };
}

function policyFile(policy: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'entra-rbac-guard-vap-')), 'policy.yaml');
  writeFileSync(file, stringify({ apiVersion: 'entra-rbac-guard/v1', kind: 'Policy', ...policy }));
  return file;
}

const documentsOf = (text: string) => parseAllDocuments(text).map((document) => document.toJS() as KubeObject).filter(Boolean);

Command('--policy FILE :: the objects of that policy, after a comment saying what stays the webhook\'s', async () => {
  const document = { adminGroups: [ADMIN_GROUP_ID], rules: { 'user-subject': 'warn' } };
  const { code, stdout, stderr } = await vap(['--policy', policyFile(document)]);
  assert.is(code, 0, stderr);
  assert.equal(documentsOf(stdout), backstopObjects(policyOf(document)));
  const comment = stdout.slice(0, stdout.indexOf('---'));
  for (const text of ['group-unknown, group-not-security-enabled, directory-unavailable', 'escalation', 'Roles and ClusterRoles', 'ClusterRole that grants everything']) {
    assert.match(comment, text);
  }
});

Command('no --policy :: the embedded default policy', async () => {
  const { code, stdout } = await vap([]);
  assert.is(code, 0);
  assert.equal(documentsOf(stdout), backstopObjects(POLICIES['default'] as Policy));
});

Command('the exclusion flags :: as the options', async () => {
  const { stdout } = await vap([
    '--name-prefix', 'rel-entra-rbac-guard-backstop', '--exclude-namespace', 'guard', '--exclude-namespace', 'monitoring',
    '--skip-aks-managed-namespaces', '--skip-username', 'system:apiserver', '--skip-group', 'gitops',
  ]);
  assert.equal(documentsOf(stdout), backstopObjects(POLICIES['default']!, OPTIONS[1]));
});

Command('a name prefix that is no DNS label :: usage error naming the flag', async () => {
  const { code, stderr } = await vap(['--name-prefix', 'Not_A_Name']);
  assert.is(code, 2);
  assert.match(stderr, '--name-prefix must be lower-case letters, digits and dashes');
});

Command('an invalid policy :: exit 2 with its problems', async () => {
  const { code, stderr } = await vap(['--policy', policyFile({ rules: { 'user-subjct': 'deny' } })]);
  assert.is(code, 2);
  assert.match(stderr, 'rules.user-subjct: unknown rule');
});

Command.run();
