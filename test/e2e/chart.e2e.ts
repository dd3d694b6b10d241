/**
 * The Helm chart on a real kube-apiserver 1.20 (the harness of admission.e2e.ts): the rendered chart is accepted by
 * `kubectl apply --dry-run=server`; `helm install` succeeds and registers a webhook configuration the API server obeys
 * (RBAC writes outside the release namespace go to it, fail closed while no pod answers, the release namespace is
 * exempt); the generated CA survives `helm upgrade`; the documented recovery works; `helm uninstall` leaves the cluster
 * as it was. There is no kubelet, so the chart's pods never run: the live path is the webhook process the harness
 * starts, run with the Deployment's own arguments as the chart's ServiceAccount, reading the chart's policy ConfigMap,
 * behind the harness's URL-mode webhook configuration.
 *
 * Run with `make e2e` (or `node --import tsx node_modules/uvu/bin.js test 'chart\.e2e\.ts$'` after `make build`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { parsePolicy } from '../../src/policy/parse.ts';
import { CHART, helm, helmBinary, parseObjects, renderYaml, VALUES_DIR, type HelmResult, type K8sObject } from '../chart/helm.ts';
import { startHarness, WEBHOOK_NAME, type Harness, type KubectlResult } from './harness.ts';
import { e2eSuite, expectOk, show } from './expect.ts';

const RELEASE = 'rel';
const NAMESPACE = 'entra-rbac-guard';
const FULLNAME = `${RELEASE}-entra-rbac-guard`;
const CHART_WEBHOOK = 'bindings.entra-rbac-guard.io';
const DRY_RUN_NAMESPACE = 'chart-dry-run';
const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';

interface Context {
  harness: Harness;
  /** The API server's version, e.g. v1.20.2: what helm template renders for. */
  kubeVersion: string;
  /** The generated Secret's ca.crt after install, to compare after upgrade. */
  installedCa?: string;
  setupError?: Error;
  setupErrorReported?: boolean;
}

const Chart = e2eSuite<Context>('e2e: the Helm chart on kube-apiserver 1.20', {
  async setup(context) {
  helmBinary();
  context.harness = await startHarness({ policyYaml: `apiVersion: entra-rbac-guard/v1\nkind: Policy\nadminGroups: [${ADMIN_GROUP_ID}]\n` });
  const version = expectOk(await context.harness.kubectl(['version', '-o', 'json']), 'kubectl version');
  context.kubeVersion = (JSON.parse(version.stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion;
    return `etcd, kube-apiserver ${context.kubeVersion} and the webhook up`;
  },
  async teardown(context) {
    await context.harness?.stop();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

/**
 * helm against the harness's API server, as its admin (system:masters).
 *
 * Every install or upgrade (re)creates the chart's Service, with a ClusterIP in the harness's service range
 * (10.96.0.0/16). kube-apiserver calls a service-referenced webhook at that ClusterIP, and here there is no cluster
 * network behind it: no packet may leave loopback. So the Service is deleted as soon as helm returns, before any RBAC
 * write: the API server then fails to resolve the webhook locally (`service "…" not found`), which is all these tests
 * need of the chart's webhook (the live path goes through the harness's URL-mode webhook on 127.0.0.1). Within one helm
 * command no RBAC object is written after the Service (Helm orders RBAC kinds before Services).
 */
async function helmOnCluster(context: Context, args: readonly string[]): Promise<HelmResult> {
  const result = helm([...args, '--kube-context', 'admin'], { KUBECONFIG: context.harness.kubeconfig });
  if (args[0] === 'install' || args[0] === 'upgrade') await deleteChartService(context);
  return result;
}

async function deleteChartService(context: Context): Promise<void> {
  const deleted = expectOk(await context.harness.kubectl(['delete', 'service', FULLNAME, `--namespace=${NAMESPACE}`, '--ignore-not-found']), 'delete the chart Service');
  // The API server resolves services from an informer cache: give it time to see the deletion.
  if (deleted.stdout.trim()) await new Promise((resolve) => setTimeout(resolve, 2_000));
}

/** The guard of the above, before every RBAC write a test makes. */
async function assertNoChartService(context: Context): Promise<void> {
  const result = await context.harness.kubectl(['get', 'service', FULLNAME, `--namespace=${NAMESPACE}`, '-o', 'name', '--ignore-not-found']);
  assert.is(result.stdout.trim(), '', 'the chart Service must not exist while its webhook is registered (the API server would dial its ClusterIP)');
}

async function getJson(context: Context, ...args: string[]): Promise<Record<string, any>> {
  return JSON.parse(expectOk(await context.harness.kubectl(['get', ...args, '-o', 'json']), `kubectl get ${args.join(' ')}`).stdout);
}

/** A namespace as Kubernetes 1.21+ creates it: 1.20 does not yet set the kubernetes.io/metadata.name label. */
async function createNamespace(context: Context, name: string): Promise<void> {
  expectOk(await context.harness.kubectl(['create', 'namespace', name]), `create namespace ${name}`);
  expectOk(await context.harness.kubectl(['label', 'namespace', name, `kubernetes.io/metadata.name=${name}`]), `label namespace ${name}`);
}

async function dryRunBinding(context: Context, namespace: string, subject: string, name = `chart-e2e-${Date.now()}`): Promise<KubectlResult> {
  await assertNoChartService(context);
  return context.harness.kubectl(['create', 'rolebinding', name, `--namespace=${namespace}`, '--clusterrole=view', subject, '--dry-run=server']);
}

function expectChartWebhookCalled(result: KubectlResult): void {
  assert.is.not(result.code, 0, `should fail: the chart's webhook cannot be reached:\n${show(result)}`);
  assert.match(result.stderr, `failed calling webhook "${CHART_WEBHOOK}"`, show(result));
  assert.match(result.stderr, `service "${FULLNAME}" not found`, `resolved locally, nothing dialled:\n${show(result)}`);
}

/** The Deployment's container args, less what the harness sets itself (listen address, port, certificate files). */
function serveArgsOf(deployment: Record<string, any>): string[] {
  const args = [...(deployment.spec.template.spec.containers[0].args as string[])];
  assert.is(args.shift(), 'serve');
  const dropped = new Set(['--host', '--port', '--tls-cert', '--tls-key']);
  const kept: string[] = [];
  for (let index = 0; index < args.length; index++) {
    if (dropped.has(args[index]!)) index++;
    else kept.push(args[index]!);
  }
  return kept;
}

/** A kubeconfig whose context `chart-sa` is the chart's ServiceAccount (a TokenRequest token). */
async function serviceAccountKubeconfig(context: Context, serviceAccount: string): Promise<string> {
  const token = expectOk(
    await context.harness.kubectl(['create', 'token', serviceAccount, `--namespace=${NAMESPACE}`, '--duration=1h']),
    'a token for the chart ServiceAccount',
  ).stdout.trim();
  const kubeconfig = JSON.parse(readFileSync(context.harness.kubeconfig, 'utf8')) as { users: unknown[]; contexts: unknown[] };
  kubeconfig.users.push({ name: 'chart-sa', user: { token } });
  kubeconfig.contexts.push({ name: 'chart-sa', context: { cluster: 'e2e', user: 'chart-sa', namespace: NAMESPACE } });
  const path = join(context.harness.dir, 'chart-sa-kubeconfig');
  writeFileSync(path, JSON.stringify(kubeconfig), { mode: 0o600 });
  return path;
}

/** Runs the chart's helm test script against the harness's API server as its admin. */
function runHelmTestScript(context: Context, mode: 'enforce' | 'audit', webhookName: string): { code: number | null; output: string } {
  const kubeconfig = JSON.parse(readFileSync(context.harness.kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority': string } }>;
    users: Array<{ name: string; user: { token: string } }>;
  };
  const tokenFile = join(context.harness.dir, 'helm-test-token');
  writeFileSync(tokenFile, kubeconfig.users.find((user) => user.name === 'admin')!.user.token, { mode: 0o600 });
  const result = spawnSync(process.execPath, [join(CHART, 'files', 'helm-test.mjs')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env['PATH'] ?? '',
      NAMESPACE: 'default',
      ROLE: 'chart-e2e-test-role',
      WEBHOOK_NAME: webhookName,
      MODE: mode,
      KUBE_API_URL: kubeconfig.clusters[0]!.cluster.server,
      KUBE_CA_FILE: kubeconfig.clusters[0]!.cluster['certificate-authority'],
      KUBE_TOKEN_FILE: tokenFile,
    },
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

// --- the rendered chart, before anything is installed ---------------------------------------------------------------

Chart('helm test script :: against the real API server, a known-bad RoleBinding is denied by the webhook named', async (context) => {
  const denied = runHelmTestScript(context, 'enforce', WEBHOOK_NAME);
  assert.is(denied.code, 0, denied.output);
  assert.match(denied.output, 'PASS: the known-bad RoleBinding was denied');
  assert.match(denied.output, '[user-subject]');
  const wrongName = runHelmTestScript(context, 'enforce', CHART_WEBHOOK);
  assert.is(wrongName.code, 1, `a denial by another webhook is not this webhook's: ${wrongName.output}`);
  const wrongMode = runHelmTestScript(context, 'audit', WEBHOOK_NAME);
  assert.is(wrongMode.code, 1, `audit mode expects an allowed request: ${wrongMode.output}`);
});

for (const [name, flags] of [
  ['default values', []],
  ['tls.mode secret (values/secret-tls.yaml)', ['--values', join(VALUES_DIR, 'secret-tls.yaml')]],
  [
    'audit, workload identity, excluded namespaces, AKS annotation, Ignore, directory options, one replica',
    [
      '--set', 'dryRun=true',
      '--set', 'azureWorkloadIdentity.enabled=true,azureWorkloadIdentity.clientId=6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
      '--set', 'webhook.excludeNamespaces={kube-system,monitoring}',
      '--set', 'webhook.disableAksAdmissionsEnforcer=true,webhook.failurePolicy=Ignore',
      '--set', 'directory.cloud=usgov,directory.cacheTtl=5m,replicas=1',
    ],
  ],
] as const) {
  Chart(`kubectl apply --dry-run=server :: the rendered chart is accepted (${name})`, async (context) => {
    const { harness } = context;
    const prepared = (await harness.kubectl(['get', 'namespace', DRY_RUN_NAMESPACE])).code === 0;
    if (!prepared) {
      await createNamespace(context, DRY_RUN_NAMESPACE);
      // The ServiceAccounts must exist for the test Pod to be admitted (a dry run creates nothing).
      for (const serviceAccount of [FULLNAME, `${FULLNAME}-test`]) {
        expectOk(await harness.kubectl(['create', 'serviceaccount', serviceAccount, `--namespace=${DRY_RUN_NAMESPACE}`]), `create serviceaccount ${serviceAccount}`);
      }
    }
    const yaml = renderYaml({ namespace: DRY_RUN_NAMESPACE, kubeVersion: context.kubeVersion, flags: [...flags] });
    const objects = parseObjects(yaml);
    const result = expectOk(await harness.kubectl(['apply', '--dry-run=server', '-f', '-'], { stdin: yaml }), 'kubectl apply --dry-run=server');
    const accepted = result.stdout.split('\n').filter((line) => line.includes('(server dry run)'));
    assert.is(accepted.length, objects.length, `every object accepted:\n${result.stdout}`);
    const kinds = new Set(objects.map((object: K8sObject) => object.kind));
    for (const kind of ['Deployment', 'ValidatingWebhookConfiguration', 'ClusterRole', 'ConfigMap', 'Service']) assert.ok(kinds.has(kind), kind);
  });
}

// --- helm install ---------------------------------------------------------------------------------------------------

Chart('helm install :: succeeds, and the objects are in the cluster as rendered', async (context) => {
  await createNamespace(context, NAMESPACE);
  const install = await helmOnCluster(context, [
    'install', RELEASE, CHART, '--namespace', NAMESPACE,
    '--set-json', `policy.adminGroups=["${ADMIN_GROUP_ID}"]`,
    '--set', 'policy.directory.verify=false',
  ]);
  expectOk(install, 'helm install');
  assert.match(install.stdout, 'STATUS: deployed');
  assert.match(install.stdout, 'MODE: ENFORCE');
  const status = expectOk(await helmOnCluster(context, ['status', RELEASE, '--namespace', NAMESPACE, '-o', 'json']), 'helm status');
  assert.is(JSON.parse(status.stdout).info.status, 'deployed');

  const configuration = await getJson(context, 'validatingwebhookconfiguration', FULLNAME);
  const webhook = configuration.webhooks[0];
  assert.is(webhook.name, CHART_WEBHOOK);
  assert.is(webhook.failurePolicy, 'Fail');
  assert.equal(webhook.namespaceSelector.matchExpressions, [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE] }]);
  assert.equal(webhook.clientConfig.service, { name: FULLNAME, namespace: NAMESPACE, path: '/validate', port: 443 });
  const secret = await getJson(context, 'secret', `${FULLNAME}-tls`, `--namespace=${NAMESPACE}`);
  assert.is(webhook.clientConfig.caBundle, secret.data['ca.crt'], 'the caBundle is the stored CA');
  context.installedCa = secret.data['ca.crt'];

  const configMap = await getJson(context, 'configmap', `${FULLNAME}-policy`, `--namespace=${NAMESPACE}`);
  const policy = parsePolicy(configMap.data['policy.yaml']);
  assert.ok(policy.ok && policy.policy.adminGroups[0] === ADMIN_GROUP_ID && policy.policy.mode === 'enforce', configMap.data['policy.yaml']);
  // The Service was created too (helm's manifest), and deleted right after: see helmOnCluster.
  const manifest = parseObjects(expectOk(await helmOnCluster(context, ['get', 'manifest', RELEASE, '--namespace', NAMESPACE]), 'helm get manifest').stdout);
  assert.equal(manifest.filter((object) => object.kind === 'Service').map((object) => object.metadata.name), [FULLNAME]);
  for (const [kind, name] of [['deployment', FULLNAME], ['serviceaccount', FULLNAME], ['role', FULLNAME], ['rolebinding', FULLNAME], ['poddisruptionbudget', FULLNAME]]) {
    await getJson(context, kind!, name!, `--namespace=${NAMESPACE}`);
  }
  await getJson(context, 'clusterrole', FULLNAME);
  await getJson(context, 'clusterrolebinding', FULLNAME);
});

Chart('installed webhook :: the API server sends RBAC writes to it and fails closed while it cannot be reached', async (context) => {
  expectChartWebhookCalled(await dryRunBinding(context, 'default', `--group=${GROUP_ID}`));
  // A namespaceSelector never filters cluster-scoped objects.
  await assertNoChartService(context);
  expectChartWebhookCalled(await context.harness.kubectl(['create', 'clusterrolebinding', 'chart-e2e', '--clusterrole=view', `--group=${GROUP_ID}`, '--dry-run=server']));
  // Not RBAC: not sent.
  expectOk(await context.harness.kubectl(['create', 'configmap', 'chart-e2e', '--namespace=default', '--dry-run=server']), 'a ConfigMap');
});

Chart('installed webhook :: the release namespace is exempt, so the webhook can be repaired there', async (context) => {
  // The same binding that fails in default (the harness's own webhook, with no namespaceSelector, allows it).
  expectOk(await dryRunBinding(context, NAMESPACE, `--group=${GROUP_ID}`), 'a RoleBinding in the release namespace (not sent to the chart webhook)');
});

Chart('helm upgrade :: blocked while the webhook is down; deleting the configuration recovers; the generated CA is kept', async (context) => {
  const upgrade = (...set: string[]) =>
    helmOnCluster(context, ['upgrade', RELEASE, CHART, '--namespace', NAMESPACE, '--reuse-values', ...set.flatMap((value) => ['--set', value])]);
  await assertNoChartService(context);
  // The chart's own ClusterRole and ClusterRoleBinding are cluster-scoped: the webhook judges them, so with
  // failurePolicy Fail an upgrade cannot pass while it is down. The recovery of the README and docs/install-aks.md:
  const blocked = await upgrade('logLevel=debug');
  assert.is.not(blocked.code, 0, show(blocked));
  assert.match(blocked.stderr, `failed calling webhook "${CHART_WEBHOOK}"`);
  assert.match(blocked.stderr, `service "${FULLNAME}" not found`);
  expectOk(await context.harness.kubectl(['delete', 'validatingwebhookconfiguration', FULLNAME]), 'delete the ValidatingWebhookConfiguration');
  await deleteChartService(context);
  expectOk(await dryRunBinding(context, 'default', `--group=${GROUP_ID}`), 'RBAC writes work again once it is deleted');
  // Ignore from here on: the chart's webhook stays unreachable, and the harness's webhook decides.
  expectOk(await upgrade('logLevel=debug', 'webhook.failurePolicy=Ignore'), 'helm upgrade, after the recovery');
  const secret = await getJson(context, 'secret', `${FULLNAME}-tls`, `--namespace=${NAMESPACE}`);
  assert.is(secret.data['ca.crt'], context.installedCa, 'the CA generated at install is kept on upgrade');
  const configuration = await getJson(context, 'validatingwebhookconfiguration', FULLNAME);
  assert.is(configuration.webhooks[0].clientConfig.caBundle, context.installedCa, 'and the caBundle with it');
  assert.is(configuration.webhooks[0].failurePolicy, 'Ignore');
});

Chart("live path :: the webhook with the Deployment's arguments, as the chart's ServiceAccount, enforces the chart's policy", async (context) => {
  const { harness } = context;
  const deployment = await getJson(context, 'deployment', FULLNAME, `--namespace=${NAMESPACE}`);
  const args = serveArgsOf(deployment);
  assert.equal(args.slice(0, 2), ['--policy-configmap', `${NAMESPACE}/${FULLNAME}-policy`]);
  const kubeconfig = await serviceAccountKubeconfig(context, deployment.spec.template.spec.serviceAccountName);
  await assertNoChartService(context);
  await harness.restartWebhook({ args: [...args, '--kubeconfig', kubeconfig, '--context', 'chart-sa'] });
  const denied = await dryRunBinding(context, 'default', '--user=someone@example.com');
  assert.is.not(denied.code, 0, show(denied));
  assert.match(denied.stderr, `admission webhook "${WEBHOOK_NAME}" denied the request`);
  assert.match(denied.stderr, '[user-subject]');
  expectOk(await dryRunBinding(context, 'default', `--group=${GROUP_ID}`), 'a binding to an Entra group object ID');
  const rejectedByRbac = harness.webhookLog().filter((line) => /forbidden/i.test(JSON.stringify(line)));
  assert.equal(rejectedByRbac, [], "the chart's Role and ClusterRole give the webhook all it reads");
});

Chart('live path :: helm upgrade --set dryRun=true switches the running webhook to audit, without a restart', async (context) => {
  expectOk(
    await helmOnCluster(context, ['upgrade', RELEASE, CHART, '--namespace', NAMESPACE, '--reuse-values', '--set', 'dryRun=true']),
    'helm upgrade --set dryRun=true',
  );
  let last: KubectlResult | undefined;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    last = await dryRunBinding(context, 'default', '--user=someone@example.com');
    if (last.code === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expectOk(last!, 'the same RoleBinding, in audit mode');
  assert.match(last!.stderr, 'Warning:');
  assert.match(last!.stderr, '[user-subject]');
  await assertNoChartService(context);
  const script = runHelmTestScript(context, 'audit', WEBHOOK_NAME);
  assert.is(script.code, 0, script.output);
});

Chart('helm uninstall :: removes the webhook configuration and everything else', async (context) => {
  expectOk(await helmOnCluster(context, ['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait']), 'helm uninstall');
  const left = await context.harness.kubectl(['get', 'validatingwebhookconfiguration', FULLNAME]);
  assert.match(left.stderr, 'NotFound');
  for (const kind of ['clusterrole', 'clusterrolebinding']) assert.match((await context.harness.kubectl(['get', kind, FULLNAME])).stderr, 'NotFound');
  const namespaced = await context.harness.kubectl(['get', 'all,configmap,secret,role,rolebinding,serviceaccount', `--namespace=${NAMESPACE}`, '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name']);
  assert.is(namespaced.stdout.trim(), '', `left in ${NAMESPACE}: ${namespaced.stdout}`);
});

Chart.run();
