/**
 * The Helm chart (charts/entra-rbac-guard), through the real helm 4: `helm lint`, and `helm template` with default and
 * non-default values, parsed and asserted on object by object; the schema and the `fail` guards refusing what cannot
 * work; and the values, schema, README and policy model kept in step. helm comes from scripts/get-helm.sh: when it
 * cannot be had, these tests fail (they are never skipped).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_POLICY, parsePolicy } from '../../src/policy/parse.ts';
import { DEFAULT_POLICY_YAML } from '../../src/policy/default-policy.ts';
import { RULE_IDS } from '../../src/policy/model.ts';
import { all, CHART, find, helm, hooks, installed, NAMESPACE, RELEASE, render, renderError, VALUES_DIR, type K8sObject, type RenderOptions } from './helm.ts';

type Json = Record<string, any>;

const FULLNAME = `${RELEASE}-entra-rbac-guard`;
const WEBHOOK_NAME = 'bindings.entra-rbac-guard.io';
const TEST_CA_PEM = (parseYaml(readFileSync(join(VALUES_DIR, 'secret-tls.yaml'), 'utf8')) as Json)['tls']['secret']['caBundle'] as string;
const VALUES_SCHEMA = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Json;
const DEFAULT_VALUES = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Json;
const SELECTOR = { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/instance': RELEASE };
const CERT_MANAGER: RenderOptions = { valuesFiles: [join(VALUES_DIR, 'cert-manager.yaml')], apiVersions: ['cert-manager.io/v1'] };

// --- helpers ---------------------------------------------------------------------------------------------------------

function webhookOf(objects: readonly K8sObject[]): Json {
  const configuration = find(objects, 'ValidatingWebhookConfiguration');
  assert.is(configuration.webhooks.length, 1, 'one webhook');
  return configuration.webhooks[0];
}

function containerOf(objects: readonly K8sObject[]): Json {
  const deployment = find(objects, 'Deployment');
  assert.is(deployment.spec.template.spec.containers.length, 1, 'one container');
  return deployment.spec.template.spec.containers[0];
}

function podSpecOf(objects: readonly K8sObject[]): Json {
  return find(objects, 'Deployment').spec.template.spec;
}

/** The value after `flag` in the container's args, or undefined. */
function argOf(objects: readonly K8sObject[], flag: string): string | undefined {
  const args = containerOf(objects).args as string[];
  const index = args.indexOf(flag);
  return index < 0 ? undefined : args[index + 1];
}

/** The policy document in the ConfigMap, parsed by the webhook's own parser. */
function renderedPolicy(objects: readonly K8sObject[]) {
  const configMap = find(installed(objects), 'ConfigMap');
  const text = configMap.data['policy.yaml'] as string;
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new Error(`the rendered policy does not parse:\n${text}\n${JSON.stringify(parsed.errors)}`);
  return { text, policy: parsed.policy };
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function pem(base64Pem: string): string {
  return Buffer.from(base64Pem, 'base64').toString('utf8');
}

// --- lint ---------------------------------------------------------------------------------------------------------

const Lint = suite('chart :: helm lint');

for (const [name, files] of [
  ['default values', []],
  ['every knob away from its default (values/full.yaml)', ['full.yaml']],
  ['tls.mode secret (values/secret-tls.yaml)', ['secret-tls.yaml']],
] as const) {
  Lint(`helm lint --strict :: ${name} :: passes`, () => {
    const result = helm(['lint', '--strict', CHART, '--namespace', 'entra-rbac-guard', ...files.flatMap((file) => ['--values', join(VALUES_DIR, file)])]);
    assert.is(result.code, 0, `helm lint failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, '1 chart(s) linted, 0 chart(s) failed');
  });
}

Lint('helm lint :: a value of the wrong type :: fails, naming it', () => {
  const result = helm(['lint', CHART, '--set', 'replicas=two']);
  assert.is.not(result.code, 0);
  assert.match(result.stdout + result.stderr, "at '/replicas': got string, want integer");
});

Lint.run();

// --- defaults -------------------------------------------------------------------------------------------------------

const Defaults = suite<{ objects: K8sObject[]; error?: Error }>('chart :: helm template with the defaults', { objects: [] });

// uvu 0.5 does not report an error thrown by a `before` hook: keep it, and fail every test with it.
Defaults.before((context) => {
  try {
    context.objects = render();
  } catch (error) {
    context.error = error as Error;
  }
});

Defaults.before.each((context) => {
  if (context.error) throw context.error;
});

Defaults('objects :: exactly what an install needs, plus the test hook', ({ objects }) => {
  const kinds = (list: readonly K8sObject[]) => list.map((object) => `${object.kind}/${object.metadata.name}`).sort();
  assert.equal(kinds(installed(objects)), [
    `ClusterRole/${FULLNAME}`,
    `ClusterRoleBinding/${FULLNAME}`,
    `ConfigMap/${FULLNAME}-policy`,
    `Deployment/${FULLNAME}`,
    `PodDisruptionBudget/${FULLNAME}`,
    `Role/${FULLNAME}`,
    `RoleBinding/${FULLNAME}`,
    `Secret/${FULLNAME}-tls`,
    `Service/${FULLNAME}`,
    `ServiceAccount/${FULLNAME}`,
    `ValidatingWebhookConfiguration/${FULLNAME}`,
  ]);
  assert.equal(kinds(hooks(objects)), [
    `ConfigMap/${FULLNAME}-test`,
    `Pod/${FULLNAME}-test`,
    `Role/${FULLNAME}-test`,
    `RoleBinding/${FULLNAME}-test`,
    `ServiceAccount/${FULLNAME}-test`,
  ]);
});

Defaults('objects :: namespaced ones name the release namespace (helm template | kubectl apply works)', ({ objects }) => {
  const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration'];
  for (const object of installed(objects)) {
    if (clusterScoped.includes(object.kind)) assert.is(object.metadata.namespace, undefined, `${object.kind} is cluster-scoped`);
    else assert.is(object.metadata.namespace, NAMESPACE, `${object.kind}/${object.metadata.name}`);
    assert.is(object.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
  }
});

Defaults('webhook :: RBAC bindings and roles, CREATE and UPDATE, v1 reviews, no side effects', ({ objects }) => {
  const webhook = webhookOf(objects);
  assert.is(webhook.name, WEBHOOK_NAME);
  assert.equal(webhook.rules, [
    {
      apiGroups: ['rbac.authorization.k8s.io'],
      apiVersions: ['v1'],
      operations: ['CREATE', 'UPDATE'],
      resources: ['rolebindings', 'clusterrolebindings', 'roles', 'clusterroles'],
      scope: '*',
    },
  ]);
  assert.equal(webhook.admissionReviewVersions, ['v1']);
  assert.is(webhook.sideEffects, 'None');
  assert.is(webhook.matchPolicy, 'Equivalent');
  assert.is(webhook.objectSelector, undefined, 'no objectSelector: an object could label itself out');
  assert.is(webhook.matchConditions, undefined);
});

Defaults('webhook :: fails closed, within 10 s', ({ objects }) => {
  const webhook = webhookOf(objects);
  assert.is(webhook.failurePolicy, 'Fail');
  assert.is(webhook.timeoutSeconds, 10);
});

Defaults('webhook :: namespaceSelector exempts the release namespace by its name label', ({ objects }) => {
  assert.equal(webhookOf(objects).namespaceSelector, {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE] }],
  });
});

Defaults('webhook :: calls the Service on /validate, trusting the generated CA', ({ objects }) => {
  const webhook = webhookOf(objects);
  assert.equal(webhook.clientConfig.service, { name: FULLNAME, namespace: NAMESPACE, path: '/validate', port: 443 });
  const secret = find(objects, 'Secret', `${FULLNAME}-tls`);
  assert.is(webhook.clientConfig.caBundle, secret.data['ca.crt'], 'caBundle is the Secret ca.crt');
  const annotations = find(objects, 'ValidatingWebhookConfiguration').metadata.annotations ?? {};
  assert.is(annotations['admissions.enforcer/disabled'], undefined);
  assert.is(annotations['cert-manager.io/inject-ca-from'], undefined);
});

Defaults('tls :: generated certificate is for the Service names and signed by the CA in the caBundle', ({ objects }) => {
  const secret = find(objects, 'Secret', `${FULLNAME}-tls`);
  assert.is(secret.type, 'kubernetes.io/tls');
  const ca = new X509Certificate(pem(secret.data['ca.crt']));
  const cert = new X509Certificate(pem(secret.data['tls.crt']));
  assert.ok(ca.ca, 'ca.crt is a CA');
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
  for (const name of [`${FULLNAME}.${NAMESPACE}.svc`, `${FULLNAME}.${NAMESPACE}.svc.cluster.local`]) {
    assert.ok(cert.checkHost(name), `the certificate is valid for ${name} (${cert.subjectAltName})`);
  }
  assert.match(pem(secret.data['tls.key']), /-----BEGIN (RSA )?PRIVATE KEY-----/);
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 3000, `valid for tls.helm.validityDays (3650), got ${days.toFixed(0)} days`);
});

Defaults('deployment :: 2 replicas that never all go down in a rollout', ({ objects }) => {
  const deployment = find(objects, 'Deployment');
  assert.is(deployment.spec.replicas, 2);
  assert.equal(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  assert.equal(deployment.spec.selector.matchLabels, SELECTOR);
  for (const [key, value] of Object.entries(SELECTOR)) assert.is(deployment.spec.template.metadata.labels[key], value);
  assert.is(deployment.spec.template.metadata.labels['azure.workload.identity/use'], undefined);
});

Defaults('deployment :: args map the values to serve flags', ({ objects }) => {
  const container = containerOf(objects);
  assert.is(container.image, 'ghcr.io/entra-rbac-guard/entra-rbac-guard:0.1.0');
  assert.is(container.command, undefined, "the image's entry point (the CLI) runs");
  assert.equal(container.args, [
    'serve',
    '--host', '0.0.0.0',
    '--port', '8443',
    '--tls-cert', '/tls/tls.crt',
    '--tls-key', '/tls/tls.key',
    '--policy-configmap', `${NAMESPACE}/${FULLNAME}-policy`,
    '--log-level', 'info',
    '--drain-period', '10s',
    '--cloud', 'public',
  ]);
  assert.equal(container.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
});

Defaults('deployment :: probes on the HTTPS health endpoints', ({ objects }) => {
  const container = containerOf(objects);
  assert.equal(container.readinessProbe.httpGet, { scheme: 'HTTPS', path: '/readyz', port: 'https' });
  assert.equal(container.livenessProbe.httpGet, { scheme: 'HTTPS', path: '/healthz', port: 'https' });
  assert.ok(container.readinessProbe.periodSeconds <= 10);
});

Defaults('deployment :: hardened pod and container security contexts', ({ objects }) => {
  const spec = podSpecOf(objects);
  assert.is(spec.securityContext.runAsNonRoot, true);
  assert.is(spec.securityContext.runAsUser, 65532);
  assert.equal(spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  const container = containerOf(objects);
  assert.equal(container.securityContext, {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  });
  assert.is(spec.hostNetwork, undefined);
  assert.is(spec.hostPID, undefined);
});

Defaults('deployment :: the token is mounted in the pod only (the ServiceAccount does not automount)', ({ objects }) => {
  assert.is(podSpecOf(objects).automountServiceAccountToken, true);
  assert.is(podSpecOf(objects).serviceAccountName, FULLNAME);
  const serviceAccount = find(objects, 'ServiceAccount', FULLNAME);
  assert.is(serviceAccount.automountServiceAccountToken, false);
  assert.is(serviceAccount.metadata.annotations, undefined);
});

Defaults('deployment :: resources, priority, spread, drain time', ({ objects }) => {
  const spec = podSpecOf(objects);
  const container = containerOf(objects);
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory, 'requests');
  assert.ok(container.resources.limits.cpu && container.resources.limits.memory, 'limits');
  assert.is(spec.priorityClassName, 'system-cluster-critical');
  assert.equal(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.equal(
    spec.topologySpreadConstraints.map((constraint: Json) => [constraint.topologyKey, constraint.whenUnsatisfiable, constraint.labelSelector.matchLabels]),
    [
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', SELECTOR],
      ['kubernetes.io/hostname', 'ScheduleAnyway', SELECTOR],
    ],
  );
  const preStop = container.lifecycle.preStop.sleep.seconds as number;
  assert.is(preStop, 5);
  assert.ok(spec.terminationGracePeriodSeconds > webhookOf(objects).timeoutSeconds + preStop + 10, 'preStop sleep, drain and the longest review fit in the grace period');
});

Defaults('deployment :: mounts the TLS pair read-only and a scratch /tmp', ({ objects }) => {
  const spec = podSpecOf(objects);
  const container = containerOf(objects);
  assert.equal(container.volumeMounts, [
    { name: 'tls', mountPath: '/tls', readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ]);
  const tls = spec.volumes.find((volume: Json) => volume.name === 'tls');
  assert.is(tls.secret.secretName, `${FULLNAME}-tls`);
  assert.equal(tls.secret.items.map((item: Json) => item.path), ['tls.crt', 'tls.key']);
});

Defaults('pdb :: keeps one pod through voluntary disruptions', ({ objects }) => {
  const pdb = find(objects, 'PodDisruptionBudget');
  assert.is(pdb.apiVersion, 'policy/v1');
  assert.is(pdb.spec.minAvailable, 1);
  assert.equal(pdb.spec.selector.matchLabels, SELECTOR);
});

Defaults('service :: 443 to the https port of the pods', ({ objects }) => {
  const service = find(objects, 'Service');
  assert.is(service.spec.type, 'ClusterIP');
  assert.equal(service.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
  assert.equal(service.spec.selector, SELECTOR);
});

Defaults('configmap :: the policy parses with the webhook parser, in enforce mode', ({ objects }) => {
  const { text, policy } = renderedPolicy(objects);
  assert.is(policy.mode, 'enforce');
  assert.equal(policy, DEFAULT_POLICY, 'the default values give the default policy');
  assert.match(text, /^apiVersion: entra-rbac-guard\/v1\nkind: Policy\n/);
});

Defaults('rbac :: Role reads only the policy ConfigMap and writes events', ({ objects }) => {
  const role = find(objects, 'Role', FULLNAME);
  assert.equal(role.rules, [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: [`${FULLNAME}-policy`], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ]);
  const binding = find(objects, 'RoleBinding', FULLNAME);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: FULLNAME });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
});

Defaults('rbac :: ClusterRole only reads roles and bindings', ({ objects }) => {
  const role = find(objects, 'ClusterRole', FULLNAME);
  assert.equal(role.rules, [
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'], verbs: ['get', 'list', 'watch'] },
  ]);
  const binding = find(objects, 'ClusterRoleBinding', FULLNAME);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FULLNAME });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
});

Defaults('helm test :: a pod of the webhook image runs the denial script with its own minimal RBAC', ({ objects }) => {
  const testObjects = hooks(objects);
  for (const object of testObjects) assert.is(object.metadata.annotations?.['helm.sh/hook'], 'test', `${object.kind} is a test hook`);
  const pod = find(testObjects, 'Pod');
  const container = pod.spec.containers[0];
  assert.is(container.image, containerOf(objects).image, 'the webhook image');
  assert.equal(container.command, ['/nodejs/bin/node', '/helm-test/helm-test.mjs']);
  const env = Object.fromEntries(container.env.map((entry: Json) => [entry.name, entry.value]));
  assert.equal(env, { NAMESPACE: 'default', ROLE: `${FULLNAME}-test`, WEBHOOK_NAME, MODE: 'enforce' });
  assert.is(pod.spec.restartPolicy, 'Never');
  assert.equal(pod.spec.securityContext, podSpecOf(objects).securityContext);
  assert.equal(container.securityContext, containerOf(objects).securityContext);
  const script = find(testObjects, 'ConfigMap').data['helm-test.mjs'];
  assert.is(script, readFileSync(join(CHART, 'files', 'helm-test.mjs'), 'utf8'));
  const role = find(testObjects, 'Role');
  assert.is(role.metadata.namespace, 'default');
  assert.equal(role.rules, [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] }]);
  const binding = find(testObjects, 'RoleBinding');
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${FULLNAME}-test` });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: `${FULLNAME}-test`, namespace: NAMESPACE }]);
});

Defaults.run();

// --- TLS modes ------------------------------------------------------------------------------------------------------

const Tls = suite('chart :: TLS modes');

Tls('cert-manager :: a CA chain, a serving Certificate for the Service, CA injection, no caBundle or Secret', () => {
  const objects = render(CERT_MANAGER);
  assert.equal(all(objects, 'Secret'), [], 'cert-manager writes the Secret');
  const configuration = find(objects, 'ValidatingWebhookConfiguration');
  assert.is(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/${FULLNAME}`);
  assert.is(webhookOf(objects).clientConfig.caBundle, undefined);
  assert.equal(all(objects, 'Issuer').map((issuer) => [issuer.metadata.name, Object.keys(issuer.spec)[0]]), [
    [`${FULLNAME}-selfsigned`, 'selfSigned'],
    [`${FULLNAME}-ca`, 'ca'],
  ]);
  const ca = find(objects, 'Certificate', `${FULLNAME}-ca`);
  assert.is(ca.spec.isCA, true);
  assert.is(find(objects, 'Issuer', `${FULLNAME}-ca`).spec.ca.secretName, ca.spec.secretName);
  const serving = find(objects, 'Certificate', FULLNAME);
  assert.ok(serving.spec.dnsNames.includes(`${FULLNAME}.${NAMESPACE}.svc`));
  assert.equal([serving.spec.duration, serving.spec.renewBefore], ['720h', '240h'], 'values/cert-manager.yaml');
  assert.equal(serving.spec.issuerRef, { name: `${FULLNAME}-ca`, kind: 'Issuer', group: 'cert-manager.io' });
  assert.is(serving.spec.privateKey.rotationPolicy, 'Always');
  const tls = podSpecOf(objects).volumes.find((volume: Json) => volume.name === 'tls');
  assert.is(tls.secret.secretName, serving.spec.secretName, 'the pods mount what cert-manager writes');
});

Tls("cert-manager :: the user's issuer signs, and the chart creates no CA", () => {
  const objects = render({ ...CERT_MANAGER, values: { tls: { mode: 'cert-manager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } } });
  assert.equal(all(objects, 'Issuer'), []);
  assert.equal(all(objects, 'Certificate').map((certificate) => certificate.metadata.name), [FULLNAME]);
  assert.equal(find(objects, 'Certificate').spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
});

for (const [form, caBundle] of [
  ['as PEM', TEST_CA_PEM],
  ['as base64 of the PEM', base64(TEST_CA_PEM)],
] as const) {
  Tls(`secret :: the user's Secret is mounted and the CA given ${form} becomes the caBundle`, () => {
    const objects = render({ values: { tls: { mode: 'secret', secret: { name: 'my-webhook-tls', caBundle } } } });
    assert.equal(all(objects, 'Secret'), []);
    assert.equal(all(objects, 'Certificate'), []);
    assert.is(pem(webhookOf(objects).clientConfig.caBundle).trim(), TEST_CA_PEM.trim());
    assert.is(podSpecOf(objects).volumes.find((volume: Json) => volume.name === 'tls').secret.secretName, 'my-webhook-tls');
  });
}

Tls('helm :: each render without a cluster generates a new pair (install keeps the stored one: see chart.e2e.ts)', () => {
  const first = find(render(), 'Secret').data['ca.crt'];
  const second = find(render(), 'Secret').data['ca.crt'];
  assert.is.not(first, second);
});

Tls.run();

// --- non-default values -------------------------------------------------------------------------------------------

const Values = suite('chart :: non-default values');

Values('excludeNamespaces :: added after the release namespace, once each', () => {
  const objects = render({ values: { webhook: { excludeNamespaces: ['kube-system', NAMESPACE, 'monitoring', 'kube-system'] } } });
  assert.equal(webhookOf(objects).namespaceSelector.matchExpressions[0].values, [NAMESPACE, 'kube-system', 'monitoring']);
});

Values('excludeNamespaces :: the release namespace stays exempt whatever the list', () => {
  const objects = render({ namespace: 'security', values: { webhook: { excludeNamespaces: [] } } });
  assert.equal(webhookOf(objects).namespaceSelector.matchExpressions[0].values, ['security']);
});

Values('matchConditions :: skip the listed and the policy requesters, as CEL', () => {
  const objects = render({
    values: {
      policy: { allow: { requesters: { usernames: ['system:serviceaccount:flux-system:kustomize-controller'], groups: ['contoso:platform'] } } },
      webhook: { matchConditions: { enabled: true, skipGroups: ['contoso:gitops'] } },
    },
  });
  assert.equal(webhookOf(objects).matchConditions, [
    { name: 'skip-exempt-usernames', expression: '!(request.userInfo.username in ["system:apiserver", "system:serviceaccount:flux-system:kustomize-controller"])' },
    { name: 'skip-exempt-groups', expression: '!request.userInfo.groups.exists(g, g in ["contoso:gitops", "contoso:platform"])' },
  ]);
});

Values('break-glass entries :: values.policy takes {name, expires, reason}; the webhook reads them; an expiring requester never skips the webhook', () => {
  const expires = '2026-12-08T18:00:00Z';
  const objects = render({
    values: {
      policy: {
        allow: {
          users: ['permanent@contoso.com', { name: 'alice@contoso.com', expires, reason: 'INC-4711' }],
          clusterAdminSubjects: [{ kind: 'User', name: 'alice@contoso.com', expires, reason: 'INC-4711' }],
          requesters: { usernames: ['ci-bot', { name: 'deployer', reason: 'documented' }, { name: 'incident-bot', expires }] },
        },
      },
      webhook: { matchConditions: { enabled: true } },
    },
  });
  const { policy } = renderedPolicy(objects);
  assert.equal(policy.allow.users, ['permanent@contoso.com', 'alice@contoso.com']);
  assert.equal(
    policy.timeBoxed.map((entry) => [entry.list, entry.name, entry.expires, entry.reason]),
    [
      ['allow.users', 'alice@contoso.com', expires, 'INC-4711'],
      ['allow.clusterAdminSubjects', 'alice@contoso.com', expires, 'INC-4711'],
      ['allow.requesters.usernames', 'incident-bot', expires, undefined],
    ],
  );
  assert.is(webhookOf(objects).matchConditions[0].expression, '!(request.userInfo.username in ["system:apiserver", "ci-bot", "deployer"])');
});

Values('matchConditions :: without the policy requesters, and nothing rendered when nothing is skipped', () => {
  const policy = { allow: { requesters: { usernames: ['ci-bot'] } } };
  const without = render({ values: { policy, webhook: { matchConditions: { enabled: true, includePolicyRequesters: false } } } });
  assert.equal(webhookOf(without).matchConditions, [{ name: 'skip-exempt-usernames', expression: '!(request.userInfo.username in ["system:apiserver"])' }]);
  const empty = render({ values: { webhook: { matchConditions: { enabled: true, skipUsernames: [] } } } });
  assert.is(webhookOf(empty).matchConditions, undefined);
});

Values('matchConditions :: a quote in a name cannot break out of the CEL string', () => {
  const objects = render({ values: { webhook: { matchConditions: { enabled: true, skipUsernames: ['evil"] || true || ["'] } } } });
  assert.is(webhookOf(objects).matchConditions[0].expression, '!(request.userInfo.username in ["evil\\"] || true || [\\""])');
});

Values('failurePolicy Ignore, timeoutSeconds and the AKS Admissions Enforcer annotation', () => {
  const objects = render({ values: { webhook: { failurePolicy: 'Ignore', timeoutSeconds: 5, disableAksAdmissionsEnforcer: true, annotations: { 'contoso.com/owner': 'platform' } } } });
  const webhook = webhookOf(objects);
  assert.is(webhook.failurePolicy, 'Ignore');
  assert.is(webhook.timeoutSeconds, 5);
  assert.equal(find(objects, 'ValidatingWebhookConfiguration').metadata.annotations, { 'admissions.enforcer/disabled': 'true', 'contoso.com/owner': 'platform' });
});

Values('dryRun :: renders mode audit, and the helm test expects a warning', () => {
  const objects = render({ values: { dryRun: true } });
  assert.is(renderedPolicy(objects).policy.mode, 'audit');
  const env = find(hooks(objects), 'Pod').spec.containers[0].env;
  assert.equal(env.find((entry: Json) => entry.name === 'MODE'), { name: 'MODE', value: 'audit' });
});

Values('policy :: values.policy reaches the ConfigMap as the webhook reads it', () => {
  const objects = render({
    values: {
      policy: {
        adminGroups: ['0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f'],
        rules: { 'group-format': 'warn', escalation: 'off' },
        allow: { clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'flux-system', name: 'kustomize-controller' }] },
        directory: { onError: 'allow' },
      },
    },
  });
  const { policy } = renderedPolicy(objects);
  assert.equal(policy.adminGroups, ['0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f']);
  assert.is(policy.rules['group-format'], 'warn');
  assert.is(policy.rules.escalation, 'off');
  assert.is(policy.rules['user-subject'], 'deny');
  assert.equal(policy.allow.clusterAdminSubjects, [{ kind: 'ServiceAccount', namespace: 'flux-system', name: 'kustomize-controller' }]);
  assert.is(policy.directory.onError, 'allow');
  assert.is(policy.mode, 'enforce');
});

Values('policy :: the document `policy default` prints is a valid values.policy, and gives the default policy', () => {
  const objects = render({ values: { policy: parseYaml(DEFAULT_POLICY_YAML) } });
  assert.equal(renderedPolicy(objects).policy, DEFAULT_POLICY);
});

Values('workload identity :: pod label and ServiceAccount annotations', () => {
  const clientId = '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f';
  const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const objects = render({ values: { azureWorkloadIdentity: { enabled: true, clientId, tenantId }, serviceAccount: { annotations: { team: 'platform' } } } });
  assert.is(find(objects, 'Deployment').spec.template.metadata.labels['azure.workload.identity/use'], 'true');
  assert.equal(find(objects, 'ServiceAccount', FULLNAME).metadata.annotations, {
    'azure.workload.identity/client-id': clientId,
    'azure.workload.identity/tenant-id': tenantId,
    team: 'platform',
  });
  const withoutTenant = render({ values: { azureWorkloadIdentity: { enabled: true, clientId } } });
  assert.equal(find(withoutTenant, 'ServiceAccount', FULLNAME).metadata.annotations, { 'azure.workload.identity/client-id': clientId });
});

Values('directory options :: each becomes its serve flag', () => {
  const objects = render({
    values: {
      directory: { cloud: 'china', graphEndpoint: 'https://graph.contoso.internal', managedIdentity: true, cacheTtl: '5m', negativeCacheTtl: '30s', staleIfError: '2h' },
      logLevel: 'debug',
      server: { extraArgs: ['--extra'], extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }] },
    },
  });
  assert.is(argOf(objects, '--cloud'), 'china');
  assert.is(argOf(objects, '--graph-endpoint'), 'https://graph.contoso.internal');
  assert.ok((containerOf(objects).args as string[]).includes('--managed-identity'));
  assert.is(argOf(objects, '--cache-ttl'), '5m');
  assert.is(argOf(objects, '--negative-cache-ttl'), '30s');
  assert.is(argOf(objects, '--stale-if-error'), '2h');
  assert.is(argOf(objects, '--log-level'), 'debug');
  assert.is((containerOf(objects).args as string[]).at(-1), '--extra');
  assert.equal(containerOf(objects).env, [{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }]);
});

Values('replicas 1 :: no PodDisruptionBudget (it would block drains), and NOTES warns', () => {
  const objects = render({ values: { replicas: 1 } });
  assert.equal(all(objects, 'PodDisruptionBudget'), []);
  const notes = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '--set', 'replicas=1']);
  assert.is(notes.code, 0, notes.stderr);
  assert.match(notes.stdout, 'WARNING: replicas is 1.');
  const two = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client']);
  assert.not.match(two.stdout, 'WARNING: replicas');
});

Values('NOTES :: says the mode, what is checked, the failure policy, and how to try it', () => {
  const enforce = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client']).stdout;
  assert.match(enforce, 'MODE: ENFORCE');
  assert.match(enforce, 'CREATE and UPDATE of RoleBindings, ClusterRoleBindings, Roles and ClusterRoles');
  assert.match(enforce, `kubectl delete validatingwebhookconfiguration ${FULLNAME}`);
  assert.match(enforce, 'kubectl create rolebinding try-entra-rbac-guard --clusterrole=view --user=someone@example.com');
  assert.match(enforce, '--dry-run=server');
  assert.match(enforce, `admission webhook "${WEBHOOK_NAME}" denied the request`);
  const audit = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '--set', 'dryRun=true']).stdout;
  assert.match(audit, 'MODE: AUDIT');
  assert.match(audit, '--set dryRun=false');
});

Values('topologySpreadConstraints :: an entry with its own labelSelector keeps it', () => {
  const own = { matchExpressions: [{ key: 'app', operator: 'In', values: ['x'] }] };
  const objects = render({ values: { topologySpreadConstraints: [{ maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: own }] } });
  assert.equal(podSpecOf(objects).topologySpreadConstraints, [{ maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: own }]);
});

Values('image :: a digest wins over the tag', () => {
  const objects = render({ values: { image: { repository: 'contoso.azurecr.io/guard', tag: '1.2.3', digest: `sha256:${'a'.repeat(64)}` } } });
  assert.is(containerOf(objects).image, `contoso.azurecr.io/guard@sha256:${'a'.repeat(64)}`);
  assert.is(containerOf(render({ values: { image: { tag: '1.2.3' } } })).image, 'ghcr.io/entra-rbac-guard/entra-rbac-guard:1.2.3');
});

Values('Kubernetes 1.20 :: PodDisruptionBudget policy/v1beta1, no preStop sleep action', () => {
  const objects = render({ kubeVersion: '1.20.15' });
  assert.is(find(objects, 'PodDisruptionBudget').apiVersion, 'policy/v1beta1');
  assert.is(containerOf(objects).lifecycle, undefined);
  assert.is(containerOf(render({ kubeVersion: '1.29.0' })).lifecycle, undefined);
  assert.equal(containerOf(render({ kubeVersion: '1.30.0' })).lifecycle, { preStop: { sleep: { seconds: 5 } } });
});

Values('helm test :: namespace default when the release is elsewhere, kube-public when default is exempt', () => {
  assert.is(find(hooks(render({ namespace: 'default' })), 'Role').metadata.namespace, 'kube-public');
  assert.is(find(hooks(render({ values: { webhook: { excludeNamespaces: ['default'] } } })), 'Role').metadata.namespace, 'kube-public');
  assert.is(find(hooks(render({ values: { test: { namespace: 'team-a' } } })), 'Role').metadata.namespace, 'team-a');
  assert.equal(hooks(render({ values: { test: { enabled: false } } })), []);
});

Values('values/full.yaml :: every knob away from its default renders as asked', () => {
  const objects = render({ namespace: 'entra-rbac-guard', valuesFiles: [join(VALUES_DIR, 'full.yaml')] });
  const name = 'guard';
  assert.is(find(objects, 'Deployment').spec.replicas, 3);
  assert.is(find(objects, 'PodDisruptionBudget').spec.minAvailable, 2);
  assert.is(podSpecOf(objects).serviceAccountName, 'guard-sa');
  assert.is(podSpecOf(objects).priorityClassName, undefined);
  assert.equal(podSpecOf(objects).tolerations, [{ key: 'CriticalAddonsOnly', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.equal(podSpecOf(objects).imagePullSecrets, [{ name: 'acr-pull' }]);
  assert.is(argOf(objects, '--port'), '9443');
  assert.is(argOf(objects, '--policy-configmap'), `entra-rbac-guard/${name}-policy`);
  const webhook = webhookOf(objects);
  assert.is(webhook.name, 'rbac.guard.contoso.com');
  assert.equal(webhook.clientConfig.service, { name, namespace: 'entra-rbac-guard', path: '/validate', port: 8443 });
  assert.equal(webhook.namespaceSelector.matchExpressions[0].values, ['entra-rbac-guard', 'kube-system', 'monitoring']);
  assert.is(webhook.matchConditions.length, 2);
  assert.is(find(objects, 'Service').spec.ports[0].port, 8443);
  assert.is(renderedPolicy(objects).policy.mode, 'audit');
  assert.equal(find(objects, 'Role', name).rules[0].resourceNames, [`${name}-policy`]);
});

Values.run();

// --- schema -------------------------------------------------------------------------------------------------------

const Schema = suite('chart :: values.schema.json refuses bad values');

for (const [name, values, message] of [
  ['a misspelt top-level key', { replica: 3 }, "at '': additional properties 'replica' not allowed"],
  ['a misspelt nested key', { webhook: { failurePolicyy: 'Fail' } }, "at '/webhook': additional properties 'failurePolicyy' not allowed"],
  ['replicas as a string', { replicas: '2' }, "at '/replicas': got string, want integer"],
  ['a boolean as a string', { dryRun: 'yes' }, "at '/dryRun': got string, want boolean"],
  ['failurePolicy not Fail or Ignore', { webhook: { failurePolicy: 'Skip' } }, "at '/webhook/failurePolicy'"],
  ['timeoutSeconds above 30', { webhook: { timeoutSeconds: 31 } }, "at '/webhook/timeoutSeconds': maximum: got 31, want 30"],
  ['an unknown TLS mode', { tls: { mode: 'self-signed' } }, "at '/tls/mode'"],
  ['a misspelt policy rule', { policy: { rules: { 'user-subjct': 'deny' } } }, "at '/policy/rules': additional properties 'user-subjct' not allowed"],
  ['a policy rule action that does not exist', { policy: { rules: { 'user-subject': 'block' } } }, "at '/policy/rules/user-subject'"],
  ['a display name in adminGroups', { policy: { adminGroups: ['AKS Admins'] } }, "at '/policy/adminGroups/0'"],
  ['the wrong policy kind', { policy: { kind: 'Config' } }, "at '/policy/kind'"],
  ['a duration Go would read but the webhook not', { directory: { cacheTtl: '1h30m' } }, "at '/directory/cacheTtl'"],
  ['a webhook name with two labels', { webhook: { name: 'entra-rbac-guard.io' } }, "at '/webhook/name'"],
  ['a cloud that does not exist', { directory: { cloud: 'azure' } }, "at '/directory/cloud'"],
  ['a break-glass expiry without an offset', { policy: { allow: { users: [{ name: 'alice@contoso.com', expires: '2026-12-08T18:00:00' }] } } }, "at '/policy/allow/users/0/expires'"],
  ['a misspelt break-glass field', { policy: { allow: { namespaces: [{ name: 'sandbox', expiry: '2026-12-08T18:00:00Z' }] } } }, "at '/policy/allow/namespaces/0'"],
] as const) {
  Schema(`${name} :: refused with its path`, () => {
    const stderr = renderError({ values: values as Json });
    assert.match(stderr, "values don't meet the specifications of the schema");
    assert.match(stderr, message);
  });
}

Schema('every leaf has a description, and every object is closed', () => {
  const problems: string[] = [];
  const walk = (schema: Json, path: string) => {
    if (typeof schema.description !== 'string' || schema.description.length < 3) problems.push(`${path}: no description`);
    if (schema.type === 'object' && schema.properties) {
      if (schema.additionalProperties !== false) problems.push(`${path}: additionalProperties is not false`);
      for (const [key, child] of Object.entries(schema.properties as Record<string, Json>)) walk(child, `${path}.${key}`);
    }
    if (schema.type === 'object' && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${path}.*`);
    if (schema.type === 'array' && schema.items) walk(schema.items, `${path}[]`);
  };
  walk(VALUES_SCHEMA, '(root)');
  assert.equal(problems, []);
});

Schema('values.yaml and the schema name the same keys', () => {
  const missing: string[] = [];
  const walk = (values: Json, schema: Json, path: string) => {
    for (const [key, value] of Object.entries(values)) {
      const child = schema.properties?.[key];
      if (!child) {
        missing.push(`${path}${key}`);
        continue;
      }
      if (value && typeof value === 'object' && !Array.isArray(value) && child.properties) walk(value, child, `${path}${key}.`);
    }
  };
  walk(DEFAULT_VALUES, VALUES_SCHEMA, '');
  assert.equal(missing, []);
  const topLevel = Object.keys(VALUES_SCHEMA.properties).filter((key) => key !== 'global');
  assert.equal(topLevel.filter((key) => !(key in DEFAULT_VALUES)), [], 'every schema key has a default in values.yaml');
});

Schema("the policy schema follows the webhook's policy model", () => {
  const policy = VALUES_SCHEMA.properties.policy;
  // timeBoxed is read from the allow-list entries that carry `expires`, not a field of its own.
  const documentFields = Object.keys(DEFAULT_POLICY).filter((field) => field !== 'timeBoxed');
  assert.equal(Object.keys(policy.properties).sort(), ['apiVersion', 'kind', ...documentFields].sort());
  assert.equal(Object.keys(policy.properties.rules.properties).sort(), RULE_IDS.filter((rule) => rule !== 'directory-unavailable').sort());
  assert.equal(Object.keys(policy.properties.allow.properties).sort(), Object.keys(DEFAULT_POLICY.allow).sort());
  assert.equal(Object.keys(policy.properties.allow.properties.requesters.properties).sort(), Object.keys(DEFAULT_POLICY.allow.requesters).sort());
  assert.equal(Object.keys(policy.properties.directory.properties).sort(), Object.keys(DEFAULT_POLICY.directory).sort());
});

Schema('the chart README documents every value', () => {
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  const paths: string[] = [];
  const walk = (schema: Json, path: string) => {
    for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) {
      const here = path ? `${path}.${key}` : key;
      if (here === 'global' || here.startsWith('policy.')) continue;
      if (child.type === 'object' && child.properties && !['resources', 'podSecurityContext', 'securityContext'].includes(here)) walk(child, here);
      else paths.push(here);
    }
  };
  walk(VALUES_SCHEMA, '');
  assert.equal(paths.filter((path) => !readme.includes(`\`${path}\``)), [], 'values missing from charts/entra-rbac-guard/README.md');
});

Schema.run();

// --- fail guards ------------------------------------------------------------------------------------------------------

const Guards = suite('chart :: fail guards refuse impossible combinations');

for (const [name, options, message] of [
  ['dryRun with policy.mode enforce', { values: { dryRun: true, policy: { mode: 'enforce' } } }, 'dryRun: true and policy.mode: enforce contradict each other'],
  ['no replicas with failurePolicy Fail', { values: { replicas: 0 } }, 'replicas: 0 with webhook.failurePolicy: Fail'],
  ['tls.mode secret without a Secret name', { values: { tls: { mode: 'secret', secret: { caBundle: TEST_CA_PEM } } } }, 'tls.mode: secret needs tls.secret.name'],
  ['tls.mode secret without a CA', { values: { tls: { mode: 'secret', secret: { name: 'mine' } } } }, 'tls.mode: secret needs tls.secret.caBundle'],
  ['tls.mode secret with a caBundle that is no certificate', { values: { tls: { mode: 'secret', secret: { name: 'mine', caBundle: 'not a certificate' } } } }, 'tls.secret.caBundle is neither a PEM certificate'],
  ['a Secret name without tls.mode secret', { values: { tls: { secret: { name: 'mine' } } } }, 'are only used with tls.mode: secret, and tls.mode is helm'],
  ['cert-manager mode on a cluster without cert-manager', { values: { tls: { mode: 'cert-manager' } } }, 'the cluster has no cert-manager.io/v1 API'],
  ['workload identity without a client ID', { values: { azureWorkloadIdentity: { enabled: true } } }, 'azureWorkloadIdentity.enabled needs azureWorkloadIdentity.clientId'],
  [
    'workload identity and the node managed identity',
    { values: { azureWorkloadIdentity: { enabled: true, clientId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f' }, directory: { managedIdentity: true } } },
    'pick two different identities',
  ],
  [
    'workload identity without the chart ServiceAccount',
    { values: { azureWorkloadIdentity: { enabled: true, clientId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f' }, serviceAccount: { create: false, name: 'mine' } } },
    'serviceAccount.create is false',
  ],
  ['a grace period shorter than the drain', { values: { terminationGracePeriodSeconds: 12 } }, 'terminationGracePeriodSeconds (12) must be longer than webhook.timeoutSeconds (10) plus preStopSleepSeconds (5)'],
  [
    'a grace period shorter than the preStop sleep, the drain and a review',
    { values: { terminationGracePeriodSeconds: 20 } },
    'terminationGracePeriodSeconds (20) must be longer than preStopSleepSeconds (5) plus drainSeconds (10) plus webhook.timeoutSeconds (10)',
  ],
  ['a PodDisruptionBudget that can never be satisfied', { values: { podDisruptionBudget: { minAvailable: 2 } } }, 'podDisruptionBudget.minAvailable (2) must be less than replicas (2)'],
  ['matchConditions before Kubernetes 1.28', { values: { webhook: { matchConditions: { enabled: true } } }, kubeVersion: '1.27.9' }, 'webhook.matchConditions.enabled needs Kubernetes 1.28 or later'],
  ['matchConditions skipping system:masters', { values: { webhook: { matchConditions: { enabled: true, skipGroups: ['system:masters'] } } } }, 'let every member of system:masters skip the webhook'],
  [
    'matchConditions skipping system:authenticated through the policy',
    { values: { policy: { allow: { requesters: { groups: ['system:authenticated'] } } }, webhook: { matchConditions: { enabled: true } } } },
    'let every member of system:authenticated skip the webhook',
  ],
  ['a helm test namespace that is exempt', { values: { test: { namespace: 'monitoring' }, webhook: { excludeNamespaces: ['monitoring'] } } }, 'test.namespace monitoring is exempt from the webhook'],
  ['no ServiceAccount to use', { values: { serviceAccount: { create: false } } }, 'serviceAccount.name is required when serviceAccount.create is false'],
] as const) {
  Guards(`${name} :: refused, saying what to do`, () => {
    assert.match(renderError(options as RenderOptions), message);
  });
}

Guards.run();

// --- chart metadata ---------------------------------------------------------------------------------------------------

const Metadata = suite('chart :: metadata');

Metadata('Chart.yaml :: version and appVersion follow package.json', () => {
  const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Json;
  const version = (JSON.parse(readFileSync(join(CHART, '..', '..', 'package.json'), 'utf8')) as Json)['version'];
  assert.is(chart['apiVersion'], 'v2');
  assert.is(chart['appVersion'], version);
  assert.is(chart['version'], version);
});

Metadata.run();
