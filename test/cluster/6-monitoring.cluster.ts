/**
 * Issue 16 on a real cluster: the chart's NetworkPolicy, with the cluster's own API server address, is accepted by
 * the API server (`kubectl apply --dry-run=server`), and /metrics is scraped as the chart's ServiceMonitor tells
 * Prometheus to: the cluster has no Prometheus Operator (and no copy of its CRD is vendored here), so this test reads
 * the rendered ServiceMonitor and does what Prometheus would: the Service its selector matches, that Service's
 * endpoints on the named port, HTTPS to each pod with the CA from the Secret the tlsConfig names and its serverName.
 * Every metric the chart's dashboard reads is on every pod (the audit's only with audit.interval, which is off here).
 */
import { request } from 'node:https';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { dashboardQueries } from '../chart/dashboard.ts';
import { exportedMetrics, isExported, metricNames } from '../chart/promql.ts';
import { CHART, NAMESPACE, RELEASE, expectOk, helm, installChart, kubectl, rolledOut } from './cluster.ts';

type Json = Record<string, any>;

const Monitoring = suite('cluster: the chart\'s NetworkPolicy and ServiceMonitor against a real API server and pods');

Monitoring.before(async () => {
  await installChart();
  await rolledOut();
});

/** One chart template rendered by helm for this release, parsed. */
async function renderTemplate(template: string, ...args: string[]): Promise<Json> {
  const rendered = expectOk(await helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--show-only', `templates/${template}`, ...args]), `helm template ${template}`);
  return parseYaml(rendered.stdout) as Json;
}

async function getJson(...args: string[]): Promise<Json> {
  return JSON.parse(expectOk(await kubectl(['get', ...args, '-o', 'json']), `kubectl get ${args.join(' ')}`).stdout) as Json;
}

function scrape(url: URL, ca: string, servername: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.href} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

Monitoring('NetworkPolicy, egress to this cluster\'s API server :: the API server accepts it (server dry run)', async () => {
  const endpoints = await getJson('endpoints', 'kubernetes', '-n', 'default');
  const apiServer = (endpoints['subsets'] as Json[]).flatMap((subset) => (subset['addresses'] as Json[]).map((address) => `${address['ip']}/32`));
  assert.ok(apiServer.length > 0, JSON.stringify(endpoints));
  const policy = await renderTemplate(
    'networkpolicy.yaml',
    '--set', 'networkPolicy.enabled=true',
    '--set-json', 'networkPolicy.ingress.apiServerCidrs=["0.0.0.0/0"]',
    '--set-json', `networkPolicy.egress.apiServerCidrs=${JSON.stringify(apiServer)}`,
    '--set-json', 'networkPolicy.ingress.metrics.namespaceSelector={"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}',
  );
  assert.is(policy['kind'], 'NetworkPolicy');
  const applied = expectOk(await kubectl(['apply', '--dry-run=server', '-f', '-'], { stdin: JSON.stringify(policy) }), 'kubectl apply --dry-run=server the NetworkPolicy');
  assert.match(applied.stdout, /networkpolicy\.networking\.k8s\.io\/entra-rbac-guard (created|configured) \(server dry run\)/);
});

Monitoring('ServiceMonitor :: every pod behind the selected Service serves /metrics over HTTPS to the named CA and serverName, with every metric the dashboard reads', async () => {
  const monitor = await renderTemplate('servicemonitor.yaml', '--set', 'metrics.serviceMonitor.enabled=true', '--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor');
  const endpoint = (monitor['spec']['endpoints'] as Json[])[0]!;
  const namespace = (monitor['spec']['namespaceSelector']['matchNames'] as string[])[0]!;
  const selector = Object.entries(monitor['spec']['selector']['matchLabels'] as Record<string, string>).map(([key, value]) => `${key}=${value}`).join(',');
  const services = (await getJson('services', '-n', namespace, '-l', selector))['items'] as Json[];
  assert.is(services.length, 1, `the ServiceMonitor selects one Service: ${services.map((service) => service['metadata']['name']).join(', ')}`);
  const serviceName = services[0]!['metadata']['name'] as string;
  const secret = await getJson('secret', endpoint['tlsConfig']['ca']['secret']['name'], '-n', namespace);
  const ca = Buffer.from(secret['data'][endpoint['tlsConfig']['ca']['secret']['key']] as string, 'base64').toString('utf8');
  const subsets = (await getJson('endpoints', serviceName, '-n', namespace))['subsets'] as Json[];
  const targets = subsets.flatMap((subset) => {
    const port = (subset['ports'] as Json[]).find((candidate) => candidate['name'] === endpoint['port']);
    assert.ok(port, `the Service's endpoints have the port named ${endpoint['port']}`);
    return (subset['addresses'] as Json[]).map((address) => new URL(`${endpoint['scheme']}://${address['ip']}:${port['port']}${endpoint['path']}`));
  });
  assert.is(targets.length, 2, `both replicas are targets: ${targets.join(', ')}`);
  const wanted = [...new Set(dashboardQueries().flatMap(({ expr }) => metricNames(expr)))].filter((name) => !name.startsWith('entra_rbac_guard_audit_'));
  for (const target of targets) {
    const scraped = await scrape(target, ca, endpoint['tlsConfig']['serverName']);
    assert.is(scraped.status, 200, `${target.href}: ${scraped.body.slice(0, 200)}`);
    const exported = exportedMetrics(scraped.body);
    assert.equal(wanted.filter((name) => !isExported(name, exported)), [], `${target.href} lacks metrics the dashboard reads`);
    assert.match(scraped.body, /^entra_rbac_guard_policy_in_force 1$/m, `${target.href} has its policy`);
  }
});

Monitoring.run();
