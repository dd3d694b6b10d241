/**
 * The chart's backstop (backstop.enabled) through the real helm: off by default, refused on a cluster without
 * ValidatingAdmissionPolicy v1, and, for several policies and webhook settings, exactly the objects that
 * `entra-rbac-guard policy vap` prints for the same policy (the one in the rendered ConfigMap) and the same
 * exclusions, bar the release's labels. files/backstop.json is what the TypeScript generates, and the chart
 * README's example runs as printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { backstopChartFile, CHART_FILE } from '../../src/backstop/chart-file.ts';
import { runCli, type Io } from '../../src/cli.ts';
import { ADMIN_GROUP_ID, GROUP_ID } from '../helpers.ts';
import { CHART, find, helmBinary, installed, NAMESPACE, RELEASE, render, renderError, REPO_ROOT, type K8sObject, type RenderOptions } from './helm.ts';

type Json = Record<string, any>;

const VAP_API = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
const ON: RenderOptions = { apiVersions: [VAP_API], kubeVersion: '1.30.0' };
const PREFIX = `${RELEASE}-entra-rbac-guard-backstop`;
const isBackstop = (object: K8sObject) => object.kind.startsWith('ValidatingAdmissionPolicy');

const withoutLabels = (object: Json) => ({ ...object, metadata: { name: object['metadata']['name'] } });
/** helm orders what it renders by kind; `policy vap` prints each policy beside its binding. */
const byKindAndName = (objects: readonly Json[]) => [...objects].sort((a, b) => `${a['kind']}/${a['metadata']['name']}`.localeCompare(`${b['kind']}/${b['metadata']['name']}`));

/** `policy vap` run in-process on the policy file the chart rendered into its ConfigMap, with the flags given. */
async function policyVap(policyYaml: string, flags: readonly string[]): Promise<Json[]> {
  const file = join(mkdtempSync(join(tmpdir(), 'entra-rbac-guard-backstop-')), 'policy.yaml');
  writeFileSync(file, policyYaml);
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), readStdin: async () => '', env: {} };
  const code = await runCli(['policy', 'vap', '--policy', file, ...flags], io);
  assert.is(code, 0, stderr);
  return parseAllDocuments(stdout).map((document) => document.toJS() as Json).filter(Boolean);
}

/** The flags that tell `policy vap` what the chart's webhook configuration keeps from the webhook. */
function flagsFor(values: Json): string[] {
  const webhook = values['webhook'] ?? {};
  const skip = webhook['matchConditions'] ?? {};
  const skipping = skip['enabled'] === true;
  return [
    '--name-prefix', PREFIX,
    ...[NAMESPACE, ...(webhook['excludeNamespaces'] ?? [])].flatMap((namespace) => ['--exclude-namespace', namespace]),
    ...(webhook['disableAksAdmissionsEnforcer'] ? [] : ['--skip-aks-managed-namespaces']),
    ...(skipping ? (skip['skipUsernames'] ?? ['system:apiserver']).flatMap((name: string) => ['--skip-username', name]) : []),
    ...(skipping ? (skip['skipGroups'] ?? []).flatMap((name: string) => ['--skip-group', name]) : []),
  ];
}

// --- on and off ------------------------------------------------------------------------------------------------------

const Switch = suite('chart :: backstop.enabled');

Switch('default values :: no backstop', () => {
  assert.equal(render(ON).filter(isBackstop), []);
});

Switch('on :: the deny policy and its binding, with the release labels and stable names', () => {
  const objects = render({ ...ON, values: { backstop: { enabled: true } } }).filter(isBackstop);
  assert.equal(objects.map((object) => `${object.kind}/${object.metadata.name}`), [`ValidatingAdmissionPolicy/${PREFIX}-deny`, `ValidatingAdmissionPolicyBinding/${PREFIX}-deny`]);
  for (const object of objects) {
    assert.is(object.metadata.labels?.['app.kubernetes.io/instance'], RELEASE);
    assert.is(object.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    assert.is(object.metadata.labels?.['app.kubernetes.io/component'], 'backstop');
    assert.is(object.metadata.namespace, undefined, 'cluster-scoped');
  }
  assert.equal(find(objects, 'ValidatingAdmissionPolicyBinding').spec.validationActions, ['Deny']);
});

Switch('on, twice :: the same output (helm upgrade and GitOps diffs stay quiet)', () => {
  const once = render({ ...ON, values: { backstop: { enabled: true }, policy: { adminGroups: [ADMIN_GROUP_ID] } } }).filter(isBackstop);
  const twice = render({ ...ON, values: { backstop: { enabled: true }, policy: { adminGroups: [ADMIN_GROUP_ID] } } }).filter(isBackstop);
  assert.equal(once, twice);
});

for (const [name, options, message] of [
  ['Kubernetes 1.29', { apiVersions: [VAP_API], kubeVersion: '1.29.9' }, 'backstop.enabled needs ValidatingAdmissionPolicy from admissionregistration.k8s.io/v1 (Kubernetes 1.30 or later), which this cluster (v1.29.9) does not serve'],
  ['a cluster that does not serve the API', { kubeVersion: '1.31.0' }, 'set backstop.enabled: false and keep webhook.failurePolicy: Fail'],
] as const) {
  Switch(`on, ${name} :: refused, saying what to do`, () => {
    assert.match(renderError({ ...options, values: { backstop: { enabled: true } } }), message);
  });
}

Switch('off on Kubernetes 1.29 :: renders, without a backstop', () => {
  assert.equal(render({ kubeVersion: '1.29.9' }).filter(isBackstop), []);
});

for (const [name, values, message] of [
  ['backstop.enabled as a string', { backstop: { enabled: 'yes' } }, "at '/backstop/enabled': got string, want boolean"],
  ['a misspelt backstop key', { backstop: { enable: true } }, "at '/backstop': additional properties 'enable' not allowed"],
] as const) {
  Switch(`schema :: ${name} :: refused with its path`, () => {
    const stderr = renderError({ ...ON, values: values as Json });
    assert.match(stderr, "values don't meet the specifications of the schema");
    assert.match(stderr, message);
  });
}

Switch.run();

// --- the chart and `policy vap` agree --------------------------------------------------------------------------------

const Agree = suite('chart :: the backstop equals `policy vap` on the same policy');

const CASES: ReadonlyArray<readonly [string, Json]> = [
  ['the default policy', {}],
  [
    'admins, allow-lists, requesters and namespaces',
    {
      policy: {
        adminGroups: [ADMIN_GROUP_ID],
        clusterAdminRoles: ['cluster-admin', 'platform-admin'],
        allow: {
          users: ['breakglass@contoso.com', 'a<b>&c'],
          groups: ['oncall-break-glass'],
          clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'argocd', name: 'argocd-application-controller' }, { kind: 'Group', name: GROUP_ID }],
          namespaces: ['sandbox'],
          requesters: { usernames: ['ci@contoso.com'], groups: ['gitops'] },
        },
      },
    },
  ],
  ['warn and off rules', { policy: { rules: { 'user-subject': 'warn', 'broad-group': 'warn', 'group-format': 'off' } } }],
  ['dryRun (audit mode)', { dryRun: true, policy: { rules: { 'local-account': 'warn' } } }],
  ['no clusterAdminRoles at all', { policy: { clusterAdminRoles: [] } }],
  [
    'time-boxed entries in every list',
    {
      policy: {
        allow: {
          users: ['breakglass@contoso.com', { name: 'alice@contoso.com', expires: '2026-12-08T18:00:00Z', reason: 'INC-4711' }],
          groups: [{ name: 'Payments Team', expires: '2026-12-08t19:00:00+01:00' }],
          clusterAdminSubjects: [{ kind: 'User', name: 'alice@contoso.com', expires: '2026-12-08 18:00:00.5Z', reason: 'INC-4711' }],
          namespaces: [{ name: 'sandbox', expires: '2026-12-08T18:00:00Z' }],
          requesters: { usernames: [{ name: 'incident@contoso.com', expires: '2026-12-08T18:00:00Z' }], groups: ['gitops'] },
        },
      },
    },
  ],
  ['the webhook\'s matchConditions, excluded namespaces and no AKS enforcer', { webhook: { matchConditions: { enabled: true, skipGroups: ['flux'] }, excludeNamespaces: ['monitoring', NAMESPACE], disableAksAdmissionsEnforcer: true } }],
];

for (const [name, values] of CASES) {
  Agree(`${name} :: the same objects, bar the release's labels`, async () => {
    const objects = render({ ...ON, values: { ...values, backstop: { enabled: true } } });
    const policyYaml = find(installed(objects), 'ConfigMap').data['policy.yaml'] as string;
    const expected = await policyVap(policyYaml, flagsFor(values));
    assert.ok(expected.length >= 2);
    assert.equal(byKindAndName(objects.filter(isBackstop).map(withoutLabels)), byKindAndName(expected.map(withoutLabels)));
  });
}

Agree.run();

// --- the generated chart file and the README -------------------------------------------------------------------------

const Files = suite('chart :: the backstop\'s files');

Files(`${CHART_FILE} :: what src/backstop generates (regenerate with the command in its comment)`, () => {
  assert.ok(readFileSync(join(REPO_ROOT, CHART_FILE), 'utf8') === backstopChartFile(), `${CHART_FILE} is stale: npm exec -- node --import tsx scripts/backstop-chart-file.ts > ${CHART_FILE}`);
});

Files('the chart README\'s backstop example :: runs as printed, printing the policies', () => {
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  const block = /<!-- tested by test\/chart\/backstop\.test\.ts -->\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has the tested example');
  const result = spawnSync('bash', ['-euo', 'pipefail', '-c', block], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dirname(helmBinary())}:${process.env['PATH']}`, KUBECONFIG: join(tmpdir(), 'no-kubeconfig') },
    timeout: 120_000,
  });
  assert.is(result.status, 0, result.stderr);
  const kinds = parseAllDocuments(result.stdout).map((document) => (document.toJS() as Json | null)?.['kind']).filter(Boolean);
  assert.equal(kinds.sort(), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicyBinding']);
});

Files.run();
