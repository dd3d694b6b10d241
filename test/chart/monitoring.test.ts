/**
 * The chart's monitoring switches through the real helm: the ServiceMonitor (HTTPS with the chart's CA in each TLS
 * mode), the PrometheusRule (alerts, labels, overrides, runbook links that exist) and the Grafana dashboard
 * ConfigMap, each off by default and refused where the Prometheus Operator's API is missing. What the alerts do is
 * in alerts.test.ts (promtool); that the dashboard names real metrics is in dashboard.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { all, CHART, find, helm, NAMESPACE, PROMETHEUS_OPERATOR, RELEASE, REPO_ROOT, render, renderError, VALUES_DIR, type K8sObject, type RenderOptions } from './helm.ts';

type Json = Record<string, any>;

const FULLNAME = `${RELEASE}-entra-rbac-guard`;
const OPERATOR_VALUES = join(VALUES_DIR, 'prometheus-operator.yaml');
const TEST_CA_PEM = (parseYaml(readFileSync(join(VALUES_DIR, 'secret-tls.yaml'), 'utf8')) as Json)['tls']['secret']['caBundle'] as string;
const RUNBOOK = readFileSync(join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8');
const ALL_ALERTS = (JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Json)['properties']['metrics']['properties']['prometheusRule']['properties']['disabled']['items']['enum'] as string[];

function withOperator(values: Json, options: RenderOptions = {}): K8sObject[] {
  return render({ ...options, values, apiVersions: PROMETHEUS_OPERATOR });
}

function endpointOf(objects: readonly K8sObject[]): Json {
  const monitor = find(objects, 'ServiceMonitor');
  assert.is(monitor.spec.endpoints.length, 1, 'one endpoint');
  return monitor.spec.endpoints[0];
}

function alertsOf(objects: readonly K8sObject[]): Json[] {
  return (find(objects, 'PrometheusRule').spec.groups as Json[]).flatMap((group) => group['rules'] as Json[]);
}

const Off = suite('chart :: monitoring is off by default');

Off('defaults :: no ServiceMonitor, PrometheusRule, dashboard or NetworkPolicy, even where the operator API exists', () => {
  const objects = render({ apiVersions: PROMETHEUS_OPERATOR });
  for (const kind of ['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']) assert.equal(all(objects, kind), [], kind);
  assert.equal(all(objects, 'ConfigMap').map((object) => object.metadata.name).sort(), [`${FULLNAME}-policy`, `${FULLNAME}-test`]);
});

for (const [value, api] of [
  ['metrics.serviceMonitor.enabled', 'ServiceMonitor'],
  ['metrics.prometheusRule.enabled', 'PrometheusRule'],
] as const) {
  Off(`${value} without the ${api} API :: refused, naming the API and the helm template flag`, () => {
    const [section] = value.split('.').slice(1);
    const stderr = renderError({ values: { metrics: { [section!]: { enabled: true } } }, apiVersions: PROMETHEUS_OPERATOR.filter((other) => !other.endsWith(api)) });
    assert.match(stderr, `${value}, but the cluster has no monitoring.coreos.com/v1 ${api} API`);
    assert.match(stderr, `--api-versions monitoring.coreos.com/v1/${api}`);
  });
}

Off.run();

const Monitor = suite('chart :: ServiceMonitor');

Monitor('tls.mode helm :: scrapes the Service https port on /metrics, trusting the ca.crt of the generated Secret, for the Service name', () => {
  const objects = withOperator({ metrics: { serviceMonitor: { enabled: true } } });
  const monitor = find(objects, 'ServiceMonitor');
  assert.is(monitor.apiVersion, 'monitoring.coreos.com/v1');
  assert.is(monitor.metadata.namespace, NAMESPACE);
  const service = find(objects, 'Service');
  assert.equal(monitor.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/instance': RELEASE });
  for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) assert.is(service.metadata.labels?.[key], value, `the Service has ${key}`);
  assert.equal(monitor.spec.namespaceSelector, { matchNames: [NAMESPACE] });
  const endpoint = endpointOf(objects);
  assert.ok((service.spec.ports as Json[]).some((port) => port['name'] === endpoint['port']), 'the endpoint names a port of the Service');
  assert.equal([endpoint['scheme'], endpoint['path'], endpoint['interval']], ['https', '/metrics', '30s']);
  assert.equal(endpoint['tlsConfig'], { serverName: `${FULLNAME}.${NAMESPACE}.svc`, ca: { secret: { name: `${FULLNAME}-tls`, key: 'ca.crt' } } });
  assert.ok(find(objects, 'Secret', `${FULLNAME}-tls`).data['ca.crt'], 'the Secret it names has ca.crt');
  assert.is(endpoint['tlsConfig']['insecureSkipVerify'], undefined);
});

Monitor('tls.mode cert-manager :: trusts the ca.crt of the Secret cert-manager writes', () => {
  const objects = render({ values: { tls: { mode: 'cert-manager' }, metrics: { serviceMonitor: { enabled: true } } }, apiVersions: [...PROMETHEUS_OPERATOR, 'cert-manager.io/v1'] });
  const secretName = find(objects, 'Certificate', FULLNAME).spec.secretName as string;
  assert.equal(endpointOf(objects)['tlsConfig']['ca'], { secret: { name: secretName, key: 'ca.crt' } });
});

for (const [form, caBundle] of [
  ['PEM', TEST_CA_PEM],
  ['base64 of the PEM', Buffer.from(TEST_CA_PEM).toString('base64')],
] as const) {
  Monitor(`tls.mode secret, caBundle as ${form} :: the CA goes into a ConfigMap beside the ServiceMonitor, which names it`, () => {
    const objects = withOperator({ tls: { mode: 'secret', secret: { name: 'my-webhook-tls', caBundle } }, metrics: { serviceMonitor: { enabled: true } } });
    const configMap = find(objects, 'ConfigMap', `${FULLNAME}-metrics-ca`);
    assert.is(configMap.metadata.namespace, NAMESPACE);
    assert.is(configMap.data['ca.crt'].trim(), TEST_CA_PEM.trim());
    assert.equal(endpointOf(objects)['tlsConfig']['ca'], { configMap: { name: `${FULLNAME}-metrics-ca`, key: 'ca.crt' } });
  });
}

Monitor('values/prometheus-operator.yaml :: interval, timeout, labels and relabelings as given', () => {
  const objects = render({ valuesFiles: [OPERATOR_VALUES], apiVersions: PROMETHEUS_OPERATOR });
  assert.is(find(objects, 'ServiceMonitor').metadata.labels?.['release'], 'kube-prometheus-stack');
  const endpoint = endpointOf(objects);
  assert.equal([endpoint['interval'], endpoint['scrapeTimeout']], ['15s', '10s']);
  assert.equal(endpoint['relabelings'], [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }]);
  assert.equal(endpoint['metricRelabelings'], [{ sourceLabels: ['__name__'], regex: 'entra_rbac_guard_nodejs_.*', action: 'drop' }]);
  assert.equal(all(objects, 'ConfigMap').filter((object) => object.metadata.name.endsWith('-metrics-ca')), [], 'no CA ConfigMap outside tls.mode secret');
});

Monitor('empty interval :: left to Prometheus', () => {
  assert.not.ok('interval' in endpointOf(withOperator({ metrics: { serviceMonitor: { enabled: true, interval: '' } } })));
});

Monitor.run();

const Rule = suite('chart :: PrometheusRule');

Rule('defaults :: every alert, each with a severity, a summary, a description and a runbook_url into a section of docs/runbook.md', () => {
  const alerts = alertsOf(withOperator({ metrics: { prometheusRule: { enabled: true } } }));
  assert.equal(alerts.map((alert) => alert['alert']).sort(), [...ALL_ALERTS].sort(), 'the schema lists the alerts the chart renders');
  const headings = new Set([...RUNBOOK.matchAll(/^## (\S+)$/gm)].map((match) => match[1]!.toLowerCase()));
  for (const alert of alerts) {
    const name = alert['alert'] as string;
    assert.ok(['critical', 'warning'].includes(alert['labels']['severity']), `${name} severity`);
    assert.ok(String(alert['annotations']['summary']).length > 20, `${name} summary`);
    assert.ok(String(alert['annotations']['description']).length > 80, `${name} description says what to do`);
    const url = new URL(alert['annotations']['runbook_url']);
    assert.is(`${url.origin}${url.pathname}`, 'https://github.com/entra-rbac-guard/entra-rbac-guard/blob/main/docs/runbook.md');
    assert.ok(headings.has(url.hash.slice(1)), `docs/runbook.md has a section for ${name} (${url.hash})`);
    assert.match(alert['expr'], name.startsWith('EntraRbacGuardApiServer') || name === 'EntraRbacGuardWebhookCallErrors' ? 'name="bindings.entra-rbac-guard.io"' : `namespace="${NAMESPACE}", job="${FULLNAME}"`);
  }
});

Rule('values/prometheus-operator.yaml :: labels, alert labels, a severity override, a disabled alert, a threshold, the runbook page', () => {
  const objects = render({ valuesFiles: [OPERATOR_VALUES], apiVersions: PROMETHEUS_OPERATOR });
  assert.is(find(objects, 'PrometheusRule').metadata.labels?.['release'], 'kube-prometheus-stack');
  const alerts = new Map(alertsOf(objects).map((alert) => [alert['alert'] as string, alert]));
  assert.not.ok(alerts.has('EntraRbacGuardApiServerWebhookLatencyHigh'), 'disabled');
  assert.is(alerts.size, ALL_ALERTS.length - 1);
  assert.equal(alerts.get('EntraRbacGuardAuditViolations')!['labels'], { severity: 'info', team: 'platform' });
  assert.equal(alerts.get('EntraRbacGuardDown')!['labels'], { severity: 'critical', team: 'platform' });
  assert.match(alerts.get('EntraRbacGuardDecisionLatencyHigh')!['expr'], /\) > 0\.25$/);
  assert.is(alerts.get('EntraRbacGuardDirectoryCircuitOpen')!['for'], '3m');
  assert.match(alerts.get('EntraRbacGuardWebhookCallErrors')!['expr'], 'job="apiserver", name="bindings.entra-rbac-guard.io"');
  assert.is(alerts.get('EntraRbacGuardDown')!['annotations']['runbook_url'], 'https://wiki.contoso.com/runbooks/entra-rbac-guard#entrarbacguarddown');
});

Rule('a selector of your own :: replaces the ServiceMonitor labels in the alerts on our series', () => {
  const alerts = alertsOf(withOperator({ metrics: { prometheusRule: { enabled: true, selector: 'app="guard"' } } }));
  const circuit = alerts.find((alert) => alert['alert'] === 'EntraRbacGuardDirectoryCircuitOpen')!;
  assert.is(circuit['expr'], 'entra_rbac_guard_directory_circuit_state{app="guard"} > 0');
});

for (const [name, values, message] of [
  // helm reports a propertyNames failure without its path, but with the name and the names allowed.
  ['an override of an alert that does not exist', { severityOverrides: { EntraRbacGuardTypo: 'info' } }, "invalid propertyName 'EntraRbacGuardTypo'"],
  ['disabling an alert that does not exist', { disabled: ['EntraRbacGuardTypo'] }, "at '/metrics/prometheusRule/disabled/0'"],
  ['a for: that is no Prometheus duration', { thresholds: { latencyFor: '10 minutes' } }, "at '/metrics/prometheusRule/thresholds/latencyFor'"],
  ['a latency threshold of 0', { thresholds: { latencyP99Seconds: 0 } }, "at '/metrics/prometheusRule/thresholds/latencyP99Seconds'"],
  ['a misspelt threshold', { thresholds: { latencyP99: 1 } }, "additional properties 'latencyP99' not allowed"],
] as const) {
  Rule(`${name} :: refused by the schema with its path`, () => {
    assert.match(renderError({ values: { metrics: { prometheusRule: { enabled: true, ...values } } }, apiVersions: PROMETHEUS_OPERATOR }), message);
  });
}

Rule.run();

const Dashboard = suite('chart :: Grafana dashboard ConfigMap');

Dashboard('enabled :: the dashboard file, as JSON, labelled for the sidecar, in the release namespace', () => {
  const objects = render({ values: { metrics: { grafanaDashboard: { enabled: true } } } });
  const configMap = find(objects, 'ConfigMap', `${FULLNAME}-dashboard`);
  assert.is(configMap.metadata.namespace, NAMESPACE);
  assert.is(configMap.metadata.labels?.['grafana_dashboard'], '1');
  const file = readFileSync(join(CHART, 'dashboards', 'entra-rbac-guard.json'), 'utf8');
  assert.equal(JSON.parse(configMap.data['entra-rbac-guard.json']), JSON.parse(file));
});

Dashboard('values/monitoring.yaml :: the namespace, labels and annotations given', () => {
  const configMap = find(render({ valuesFiles: [join(VALUES_DIR, 'monitoring.yaml')] }), 'ConfigMap', `${FULLNAME}-dashboard`);
  assert.is(configMap.metadata.namespace, 'grafana');
  assert.equal(
    [configMap.metadata.labels?.['grafana_dashboard'], configMap.metadata.labels?.['team'], configMap.metadata.annotations],
    ['1', 'platform', { grafana_folder: 'Security' }],
  );
});

Dashboard.run();

const Lint = suite('chart :: helm lint and NOTES with the monitoring values');

Lint('helm lint --strict -f values/monitoring.yaml :: passes', () => {
  const result = helm(['lint', '--strict', CHART, '--namespace', 'entra-rbac-guard', '--values', join(VALUES_DIR, 'monitoring.yaml')]);
  assert.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
});

Lint('NOTES :: say that the dashboard and the NetworkPolicy are on, and from where the port is open', () => {
  const notes = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '--values', join(VALUES_DIR, 'monitoring.yaml')]);
  assert.is(notes.code, 0, notes.stderr);
  assert.match(notes.stdout, `Grafana dashboard: ConfigMap ${FULLNAME}-dashboard in namespace grafana`);
  assert.match(notes.stdout, `NetworkPolicy ${FULLNAME}: port 8443 only from 0.0.0.0/0, 10.224.0.0/16 and the metrics scraper`);
  const plain = helm(['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client']);
  assert.not.match(plain.stdout, 'MONITORING AND NETWORK');
});

Lint.run();
