/**
 * `entra-rbac-guard preflight` against a real kube-apiserver 1.20: the built CLI (bin/entra-rbac-guard, so `make build`
 * first) with the harness's kubeconfig and, for the directory, the real Graph client against the loopback Graph fake
 * through the Entra token fake (the Azure environment of a workload identity).
 *
 * The cluster holds the chart's own ValidatingWebhookConfiguration, Service and PodDisruptionBudget (rendered by
 * `helm template` for this API server's version, so policy/v1beta1), Endpoints with 2 ready addresses made by hand
 * (no kubelet runs here), the namespace labelled as Kubernetes 1.21+ labels it, and AKS's cluster-admin binding of
 * the admin group. Each test then breaks one thing and puts it back; the last breaks many at once.
 *
 * No packet may leave loopback: with the chart's configuration registered, the API server would call its Service's
 * ClusterIP for every RBAC write. So RBAC is only written while that configuration is gone (seeding, and the last
 * test, which removes the Service first so nothing can resolve it). Run with `make e2e`.
 */
import * as assert from 'uvu/assert';
import { helmBinary, parseObjects, renderYaml, type K8sObject } from '../chart/helm.ts';
import { runCli, type Ran } from '../cli/spawn-cli.ts';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { startFakes, type Fakes } from '../fakes/harness.ts';
import { e2eSuite, eventually, expectOk, show } from './expect.ts';
import { E2E_GROUPS, startHarness, type Harness } from './harness.ts';

type Json = Record<string, any>;

const NAMESPACE = 'entra-rbac-guard';
/** What `helm template` names the release's objects (test/chart/helm.ts renders release `rel`). */
const FULLNAME = 'rel-entra-rbac-guard';
const ADMINS: FakeGroup = E2E_GROUPS[1];
const EMPTY: FakeGroup = { id: '6a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d', displayName: 'New Admins (nobody yet)', securityEnabled: true };
const M365: FakeGroup = { id: '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f', displayName: 'Platform (Microsoft 365)', securityEnabled: false };
const MISSING = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
const AKS_BINDING = 'aks-cluster-admin-binding-aad';
const CLI_TIMEOUT_MS = 60_000;

interface Context {
  harness: Harness;
  fakes: Fakes;
  /** The chart's objects as `helm template` rendered them for this API server. */
  chart: { configuration: K8sObject; service: K8sObject; budget: K8sObject };
  setupError?: Error;
  setupErrorReported?: boolean;
}

const Preflight = e2eSuite<Context>('e2e: preflight on kube-apiserver 1.20 with the Graph fake', {
  async setup(context) {
    if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('run with NODE_EXTRA_CA_CERTS=test/fakes/.ca/ca.crt: the CLI must trust the Graph fake');
    helmBinary();
    context.fakes = await startFakes([ADMINS, EMPTY, M365]);
    context.fakes.graph.members.set(ADMINS.id, ['11111111-2222-4333-8444-555555555555']);
    // Audit mode: the harness's own webhook lets the seeds in, local-account bindings included.
    context.harness = await startHarness({ policyYaml: 'apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: audit\n' });
    const { harness } = context;
    const version = expectOk(await harness.kubectl(['version', '-o', 'json']), 'kubectl version');
    const kubeVersion = (JSON.parse(version.stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion;
    const objects = parseObjects(renderYaml({ namespace: NAMESPACE, kubeVersion }));
    const one = (kind: string) => objects.find((object) => object.kind === kind && object.metadata.name === FULLNAME)!;
    context.chart = { configuration: one('ValidatingWebhookConfiguration'), service: one('Service'), budget: one('PodDisruptionBudget') };
    assert.is(context.chart.budget.apiVersion, 'policy/v1beta1', 'the chart renders policy/v1beta1 for Kubernetes 1.20');

    expectOk(await harness.kubectl(['create', 'namespace', NAMESPACE]), 'create the namespace');
    await labelNamespace(harness);
    expectOk(
      await harness.kubectl(['create', 'clusterrolebinding', AKS_BINDING, '--clusterrole=cluster-admin', `--group=${ADMINS.id}`]),
      'the cluster-admin binding AKS makes from --aad-admin-group-object-ids',
    );
    await installChart(context);
    return 'Graph fake, etcd, kube-apiserver, the chart\'s objects up';
  },
  async teardown(context) {
    await context.harness?.stop();
    await context.fakes?.close();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

function policyYaml(adminGroups: readonly string[], mode = 'enforce'): string {
  return `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\nadminGroups: [${adminGroups.join(', ')}]\n`;
}

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_') && !name.startsWith('AZURE_') && name !== 'KUBECONFIG');
  return { ...Object.fromEntries(kept), ...extra };
}

interface RunOptions {
  readonly adminGroups?: readonly string[];
  readonly mode?: string;
  /** Graph through the fakes (default), or no directory at all. */
  readonly graph?: boolean;
  readonly args?: readonly string[];
}

/** preflight on the harness's cluster, with a policy file written for the run (unless `args` names the policy). */
async function preflight(context: Context, options: RunOptions = {}): Promise<Ran> {
  const args = options.args ?? [];
  const policy = args.some((arg) => arg.startsWith('--policy'))
    ? []
    : ['--policy', context.harness.writePolicy('preflight-policy.yaml', policyYaml(options.adminGroups ?? [ADMINS.id], options.mode))];
  const env = options.graph === false ? cleanEnv() : cleanEnv(context.fakes.env);
  return runCli(['preflight', '--kubeconfig', context.harness.kubeconfig, ...policy, ...args], env, { timeoutMs: CLI_TIMEOUT_MS });
}

async function preflightJson(context: Context, options: RunOptions = {}): Promise<{ ran: Ran; document: Json; byId: Record<string, Json> }> {
  const ran = await preflight(context, { ...options, args: [...(options.args ?? []), '--output', 'json'] });
  let document: Json;
  try {
    document = JSON.parse(ran.stdout) as Json;
  } catch {
    assert.unreachable(`not JSON:\n${show({ ...ran, code: ran.code ?? -1 })}`);
    throw new Error('unreachable');
  }
  return { ran, document, byId: Object.fromEntries((document['checks'] as Json[]).map((check) => [check['id'], check])) };
}

function expectExit(ran: Ran, code: number): void {
  assert.is(ran.code, code, `expected exit ${code}\nstdout: ${ran.stdout}\nstderr: ${ran.stderr}`);
}

/** The check's status, and every text somewhere in its details or fix. */
function expectCheck(byId: Record<string, Json>, id: string, status: string, ...texts: string[]): void {
  const check = byId[id];
  assert.ok(check, `no check ${id} in ${Object.keys(byId).join(', ')}`);
  const text = `${(check!['details'] as string[]).join('\n')}\nfix: ${check!['fix'] ?? ''}`;
  assert.is(check!['status'], status, `${id}:\n${text}`);
  for (const expected of texts) assert.ok(text.includes(expected), `${id}: "${expected}" not in:\n${text}`);
}

async function apply(harness: Harness, object: unknown, what: string): Promise<void> {
  expectOk(await harness.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(object) }), what);
}

function endpoints(ready: number, notReady = 0): Json {
  const address = (index: number) => ({ ip: `10.244.0.${10 + index}` });
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: FULLNAME, namespace: NAMESPACE },
    subsets: [
      {
        ...(ready > 0 ? { addresses: Array.from({ length: ready }, (_, index) => address(index)) } : {}),
        ...(notReady > 0 ? { notReadyAddresses: Array.from({ length: notReady }, (_, index) => address(ready + index)) } : {}),
        ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
      },
    ],
  };
}

/** What the API server sets on every namespace from Kubernetes 1.21 on, and 1.20 does not. */
async function labelNamespace(harness: Harness): Promise<void> {
  expectOk(await harness.kubectl(['label', 'namespace', NAMESPACE, `kubernetes.io/metadata.name=${NAMESPACE}`, '--overwrite']), 'label the namespace');
}

/** The chart's Service, PodDisruptionBudget and webhook configuration, and 2 ready endpoints: the configuration last. */
async function installChart(context: Context): Promise<void> {
  const { harness, chart } = context;
  await apply(harness, chart.service, "the chart's Service");
  await apply(harness, endpoints(2), 'Endpoints with 2 ready addresses');
  await apply(harness, chart.budget, "the chart's PodDisruptionBudget");
  await apply(harness, chart.configuration, "the chart's ValidatingWebhookConfiguration");
}

/**
 * Writes RBAC with the chart's configuration gone: the Service first (a call the API server still makes then fails
 * on loopback, unable to resolve it), then the configuration; writes are retried until the API server has let go of it.
 */
async function withoutChartWebhook(context: Context, write: () => Promise<void>): Promise<void> {
  const { harness } = context;
  expectOk(await harness.kubectl(['delete', 'service', FULLNAME, '-n', NAMESPACE]), 'delete the Service');
  expectOk(await harness.kubectl(['delete', 'validatingwebhookconfiguration', FULLNAME]), 'delete the configuration');
  await eventually(
    'RBAC writes no longer sent to the chart\'s configuration',
    async () => ((await harness.kubectl(['create', 'clusterrolebinding', 'probe', '--clusterrole=view', `--group=${ADMINS.id}`, '--dry-run=server'])).code === 0 ? true : undefined),
    30_000,
  );
  await write();
}

function report(title: string, ran: Ran): void {
  process.stderr.write(`\n  --- ${title} (exit ${ran.code}) ---\n${ran.stdout.replace(/^/gm, '  ')}\n`);
}

// --- a cluster ready for --disable-local-accounts --------------------------------------------------------------------

Preflight('a passing set-up :: every check passes, exit 0; the table names the binding and the recovery step', async (context) => {
  const ran = await preflight(context);
  report('preflight on a passing cluster', ran);
  expectExit(ran, 0);
  const lines = ran.stdout.split('\n');
  assert.match(lines[0]!, `entra-rbac-guard preflight of --kubeconfig ${context.harness.kubeconfig}, context admin, server https://127.0.0.1:`);
  assert.match(lines[1]!, /^policy: .*preflight-policy\.yaml \(mode enforce\); directory: Microsoft Graph at https:\/\/127\.0\.0\.1:\d+ /);
  assert.equal(
    lines.filter((line) => /^(PASS|WARN|FAIL) /.test(line)).map((line) => line.split(/\s+/).slice(0, 2).join(' ')),
    ['PASS admin-groups', 'PASS admin-binding', 'PASS local-accounts', 'PASS webhook-installed', 'PASS webhook-namespace', 'PASS webhook-failure-policy', 'PASS webhook-endpoints', 'PASS webhook-pdb', 'PASS policy-mode'],
  );
  assert.ok(ran.stdout.includes(`ClusterRoleBinding ${AKS_BINDING} grants ClusterRole cluster-admin to Group ${ADMINS.id}; the webhook would allow it`));
  assert.ok(ran.stdout.includes(`kubectl delete validatingwebhookconfiguration ${FULLNAME}`));
  assert.ok(ran.stdout.includes(`PodDisruptionBudget ${NAMESPACE}/${FULLNAME} (policy/v1beta1, minAvailable 1) covers the webhook's pods`));
  assert.match(lines.at(-2)!, '9 checks: 9 pass, 0 warn, 0 fail. Ready:');
  assert.is(context.fakes.graph.memberCalls > 0, true, 'the members were asked of Graph');
});

Preflight('--output json :: {checks: [{id, status, title, details, fix?}], summary}', async (context) => {
  const { ran, document, byId } = await preflightJson(context);
  expectExit(ran, 0);
  assert.equal(Object.keys(document), ['checks', 'summary']);
  assert.equal(document['summary'], { pass: 9, warn: 0, fail: 0 });
  for (const check of document['checks'] as Json[]) {
    assert.equal(Object.keys(check), ['id', 'status', 'title', 'details']);
    assert.ok((check['details'] as unknown[]).length > 0);
  }
  expectCheck(byId, 'admin-groups', 'pass', `Group ${ADMINS.id} ("${ADMINS.displayName}"): a security group with members`);
  expectCheck(byId, 'webhook-endpoints', 'pass', `Service ${NAMESPACE}/${FULLNAME} has 2 ready addresses`);
});

Preflight('the policy from its ConfigMap :: read as audit reads it, named in the report', async (context) => {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${FULLNAME}-policy`, namespace: NAMESPACE }, data: { 'policy.yaml': policyYaml([ADMINS.id]) } };
  await apply(context.harness, configMap, 'the policy ConfigMap');
  const ran = await preflight(context, { args: ['--policy-configmap', `${NAMESPACE}/${FULLNAME}-policy`] });
  expectExit(ran, 0);
  assert.match(ran.stdout, `policy: ConfigMap ${NAMESPACE}/${FULLNAME}-policy (resourceVersion `);
});

Preflight('as a user with no RBAC grant :: exit 2, the 403 and the permissions preflight needs; no stack trace', async (context) => {
  const ran = await preflight(context, { args: ['--context', 'developer'] });
  expectExit(ran, 2);
  assert.is(ran.stdout, '');
  assert.match(ran.stderr, 'entra-rbac-guard: cannot list clusterroles cluster-wide: permission denied (HTTP 403: clusterroles.rbac.authorization.k8s.io is forbidden: User "e2e-developer"');
  assert.match(ran.stderr, 'preflight needs list on roles, clusterroles, rolebindings and clusterrolebindings cluster-wide, list on validatingwebhookconfigurations');
  assert.not.match(ran.stderr, /\n\s+at [\w.<]+ \(/);
});

// --- the directory ---------------------------------------------------------------------------------------------------

Preflight('admin groups: empty, missing, Microsoft 365 :: admin-groups fails with what to do; exit 1', async (context) => {
  const empty = await preflightJson(context, { adminGroups: [EMPTY.id] });
  expectExit(empty.ran, 1);
  expectCheck(empty.byId, 'admin-groups', 'fail', `Group ${EMPTY.id} ("${EMPTY.displayName}") has no members: nobody is cluster admin through it`, 'az ad group member add');
  expectCheck(empty.byId, 'admin-binding', 'fail', 'no ClusterRoleBinding grants cluster-admin', `--aad-admin-group-object-ids ${EMPTY.id}`);

  const missing = await preflightJson(context, { adminGroups: [ADMINS.id, MISSING] });
  expectExit(missing.ran, 1);
  expectCheck(missing.byId, 'admin-groups', 'fail', `Group ${MISSING} does not exist in Microsoft Entra ID (Microsoft Graph)`, `"${ADMINS.displayName}"): a security group with members`);
  expectCheck(missing.byId, 'admin-binding', 'pass');

  const m365 = await preflightJson(context, { adminGroups: [M365.id] });
  expectExit(m365.ran, 1);
  expectCheck(m365.byId, 'admin-groups', 'fail', `Group ${M365.id} ("${M365.displayName}") is not security-enabled (a Microsoft 365 group)`);
});

Preflight('403 on members :: a warning naming GroupMember.Read.All, not a failure; exit 0', async (context) => {
  context.fakes.graph.membersAllowed = false;
  try {
    const { ran, byId } = await preflightJson(context);
    expectExit(ran, 0);
    expectCheck(byId, 'admin-groups', 'warn', 'HTTP 403 Authorization_RequestDenied', 'GroupMember.Read.All');
  } finally {
    context.fakes.graph.membersAllowed = true;
  }
});

Preflight('a snapshot :: existence checked, members not (a warning saying so); no directory :: a warning naming the variables', async (context) => {
  const snapshot = context.harness.writePolicy('preflight-groups.yaml', JSON.stringify({ groups: [ADMINS, M365] }));
  const fromSnapshot = await preflightJson(context, { graph: false, args: ['--directory', snapshot] });
  expectExit(fromSnapshot.ran, 0);
  expectCheck(fromSnapshot.byId, 'admin-groups', 'warn', 'exists and is a security group; its members were not checked: snapshot preflight-groups.yaml holds no members');

  const none = await preflightJson(context, { graph: false });
  expectExit(none.ran, 0);
  expectCheck(none.byId, 'admin-groups', 'warn', 'no directory (neither --directory FILE nor Azure credentials are given', 'AZURE_TENANT_ID');
});

// --- the webhook's installation ----------------------------------------------------------------------------------------

Preflight('1 ready endpoint (1 not ready) :: webhook-endpoints fails; exit 1', async (context) => {
  await apply(context.harness, endpoints(1, 1), 'Endpoints with 1 ready address');
  try {
    const { ran, byId } = await preflightJson(context);
    expectExit(ran, 1);
    expectCheck(byId, 'webhook-endpoints', 'fail', `Service ${NAMESPACE}/${FULLNAME} has 1 ready address and 1 not ready`, 'replicas=2');
  } finally {
    await apply(context.harness, endpoints(2), 'Endpoints with 2 ready addresses');
  }
});

Preflight('no PodDisruptionBudget :: webhook-pdb fails; exit 1', async (context) => {
  expectOk(await context.harness.kubectl(['delete', 'poddisruptionbudgets.v1beta1.policy', FULLNAME, '-n', NAMESPACE]), 'delete the PodDisruptionBudget');
  try {
    const { ran, byId } = await preflightJson(context);
    expectExit(ran, 1);
    expectCheck(byId, 'webhook-pdb', 'fail', `no PodDisruptionBudget in namespace ${NAMESPACE} selects the webhook's pods`, 'podDisruptionBudget.enabled=true');
  } finally {
    await apply(context.harness, context.chart.budget, "the chart's PodDisruptionBudget");
  }
});

Preflight("the namespace without kubernetes.io/metadata.name (as 1.20 leaves it) :: webhook-namespace fails with the label to add", async (context) => {
  expectOk(await context.harness.kubectl(['label', 'namespace', NAMESPACE, 'kubernetes.io/metadata.name-']), 'remove the label');
  try {
    const { ran, byId } = await preflightJson(context);
    expectExit(ran, 1);
    expectCheck(byId, 'webhook-namespace', 'fail', 'has no label kubernetes.io/metadata.name', `kubectl label namespace ${NAMESPACE} kubernetes.io/metadata.name=${NAMESPACE}`);
  } finally {
    await labelNamespace(context.harness);
  }
});

Preflight('audit mode :: policy-mode warns how to enforce; exit 0', async (context) => {
  const { ran, byId } = await preflightJson(context, { mode: 'audit' });
  expectExit(ran, 0);
  expectCheck(byId, 'policy-mode', 'warn', 'nothing is enforced yet', 'dryRun: false');
});

Preflight("the chart's configuration gone :: found by name instead (the harness's, registered by URL), which cannot be counted", async (context) => {
  expectOk(await context.harness.kubectl(['delete', 'validatingwebhookconfiguration', FULLNAME]), 'delete the configuration');
  try {
    const { ran, byId } = await preflightJson(context);
    expectExit(ran, 0);
    expectCheck(byId, 'webhook-installed', 'pass', 'found by its name', 'URL https://127.0.0.1:');
    expectCheck(byId, 'webhook-endpoints', 'warn', 'its endpoints cannot be counted');
    expectCheck(byId, 'webhook-pdb', 'warn', 'registered by URL');
  } finally {
    await apply(context.harness, context.chart.configuration, "the chart's ValidatingWebhookConfiguration");
  }
});

// --- a cluster not ready ---------------------------------------------------------------------------------------------

Preflight('a failing cluster :: local-account bindings, admin group bound nowhere and empty, 1 endpoint, no PDB, audit mode; exit 1', async (context) => {
  const { harness } = context;
  await withoutChartWebhook(context, async () => {
    expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'legacy-admin', '--clusterrole=cluster-admin', '--user=clusterAdmin']), 'bind clusterAdmin');
    expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'masters-view', '--clusterrole=view', '--group=system:masters']), 'bind system:masters');
  });
  await installChart(context);
  await apply(harness, endpoints(1), 'Endpoints with 1 ready address');
  expectOk(await harness.kubectl(['delete', 'poddisruptionbudgets.v1beta1.policy', FULLNAME, '-n', NAMESPACE]), 'delete the PodDisruptionBudget');

  const ran = await preflight(context, { adminGroups: [EMPTY.id], mode: 'audit' });
  report('preflight on a failing cluster', ran);
  expectExit(ran, 1);
  const statuses = ran.stdout.split('\n').filter((line) => /^(PASS|WARN|FAIL) /.test(line)).map((line) => line.split(/\s+/).slice(0, 2).join(' '));
  assert.equal(statuses, ['FAIL admin-groups', 'FAIL admin-binding', 'WARN local-accounts', 'PASS webhook-installed', 'PASS webhook-namespace', 'PASS webhook-failure-policy', 'FAIL webhook-endpoints', 'FAIL webhook-pdb', 'WARN policy-mode']);
  assert.ok(ran.stdout.includes('ClusterRoleBinding legacy-admin binds User "clusterAdmin"'));
  assert.ok(ran.stdout.includes('ClusterRoleBinding masters-view binds Group "system:masters"'));
  assert.ok(ran.stdout.includes('hard-wired'));
  assert.not.ok(ran.stdout.includes('ClusterRoleBinding cluster-admin binds'), "the API server's own binding of system:masters is not a finding");

  const { document } = await preflightJson(context, { adminGroups: [EMPTY.id], mode: 'audit' });
  assert.equal(document['summary'], { pass: 3, warn: 2, fail: 4 });
});

Preflight.run();
