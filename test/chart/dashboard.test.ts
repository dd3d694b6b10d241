/**
 * The Grafana dashboard and the alerts against what the webhook really exports: the server built as `serve` builds
 * it (buildServer, the Graph directory at the loopback fakes, the process metrics, and the policy and audit metrics
 * that `--policy-configmap` and `--audit-interval` register), listening over TLS, a few reviews sent, and /metrics
 * read. Every metric name a panel, a template variable or an alert names must be one of them (a histogram's
 * `_bucket`, `_sum` and `_count` count as its own).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDirectory } from '../../src/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { createPolicyMetrics } from '../../src/kube/policy-store.ts';
import { createAuditMetrics } from '../../src/telemetry/audit-metrics.ts';
import { createMetrics } from '../../src/telemetry/metrics.ts';
import { call } from '../cli/spawn-cli.ts';
import { startFakes, within } from '../fakes/harness.ts';
import { GROUP_ID, policyWith, RECORDED_REVIEWS } from '../helpers.ts';
import { DASHBOARD, dashboardQueries } from './dashboard.ts';
import { find, PROMETHEUS_OPERATOR, render } from './helm.ts';
import { exportedMetrics, isExported, metricNames } from './promql.ts';

type Json = Record<string, any>;

/** Series the alerts read that Prometheus or the API server make, not the webhook. */
const NOT_OURS = /^(up|apiserver_admission_webhook_\w+)$/;

/** The /metrics text of a webhook wired as `serve` wires it, after an allowed and a denied review. */
async function scrapeRunningWebhook(): Promise<string> {
  const fakes = await within(10_000, startFakes([{ id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true }]), 'starting the fakes');
  const tls = await generateSelfSigned();
  const metrics = createMetrics(new Registry(), { processMetrics: true, directoryProblem: () => undefined });
  createPolicyMetrics(metrics.registry);
  createAuditMetrics(metrics.registry);
  const policy = policyWith();
  const app = buildServer({ tls, currentPolicy: () => policy, metrics, directory: (await loadDirectory(policy, { env: fakes.env, metrics })).directory });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    for (const [fixture, allowed] of [
      ['01-CREATE-RoleBinding-payments-viewers.json', true],
      ['02-CREATE-RoleBinding-carol-admin.json', false],
    ] as const) {
      const answer = await call(`${base}/validate`, tls.ca, 'POST', readFileSync(join(RECORDED_REVIEWS, fixture), 'utf8'));
      assert.is(answer.status, 200, answer.body);
      assert.is((JSON.parse(answer.body) as Json)['response']['allowed'], allowed, `${fixture}: ${answer.body}`);
    }
    const scraped = await call(`${base}/metrics`, tls.ca, 'GET');
    assert.is(scraped.status, 200);
    return scraped.body;
  } finally {
    await app.close();
    await fakes.close();
  }
}

const Names = suite('dashboard and alerts :: every metric they name is exported by a running webhook');

let exposition: string | undefined;
Names.before.each(async () => {
  exposition ??= await scrapeRunningWebhook();
});

Names('promql :: names are found past functions, matchers, ranges, grouping, variables and numbers', () => {
  assert.equal(
    metricNames('histogram_quantile(0.99, sum by (le, pod) (rate(a_bucket{job="$job", x=~"b|c"}[$__rate_interval]))) > 1e3 or on (pod) b_total unless c offset 5m'),
    ['a_bucket', 'b_total', 'c'],
  );
  assert.equal(metricNames('time() - max(d)'), ['d']);
});

Names('the running webhook :: exports the admission, directory, policy, audit and process metrics', () => {
  const exported = exportedMetrics(exposition!);
  for (const name of ['entra_rbac_guard_admission_decisions_total', 'entra_rbac_guard_directory_lookups_total', 'entra_rbac_guard_policy_generation', 'entra_rbac_guard_audit_violations', 'entra_rbac_guard_process_resident_memory_bytes']) {
    assert.ok(exported.has(name), `${name} is on /metrics`);
  }
  assert.is(exported.get('entra_rbac_guard_admission_request_duration_seconds'), 'histogram');
  assert.match(exposition!, /^entra_rbac_guard_admission_decisions_total\{result="denied",mode="enforce"\} 1$/m, 'the denied review was counted');
  assert.match(exposition!, /^entra_rbac_guard_directory_lookups_total\{outcome="miss"\} 1$/m, 'the group was looked up in Graph');
});

Names('dashboard :: every panel has a query, and every metric a query names is exported', () => {
  const exported = exportedMetrics(exposition!);
  const queries = dashboardQueries();
  assert.ok(queries.length >= 20, `${queries.length} queries`);
  const problems: string[] = [];
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    const names = metricNames(expr);
    if (names.length === 0) problems.push(`${where}: no metric found in ${expr}`);
    for (const name of names) {
      used.add(name.replace(/_(bucket|sum|count)$/, ''));
      if (!isExported(name, exported)) problems.push(`${where}: ${name} is not exported (${expr})`);
    }
  }
  assert.equal(problems, []);
  for (const panel of (DASHBOARD['panels'] as Json[]).filter((candidate) => candidate['type'] !== 'row')) {
    assert.ok(((panel['targets'] as Json[] | undefined) ?? []).length > 0, `panel "${panel['title']}" has a query`);
  }
  for (const topic of ['admission_decisions_total', 'admission_violations_total', 'admission_request_duration_seconds', 'directory_lookups_total', 'directory_circuit_state', 'audit_violations', 'policy_generation']) {
    assert.ok(used.has(`entra_rbac_guard_${topic}`), `the dashboard shows entra_rbac_guard_${topic}`);
  }
});

Names('alerts :: every metric of ours an alert reads is exported', () => {
  const exported = exportedMetrics(exposition!);
  const groups = find(render({ values: { metrics: { prometheusRule: { enabled: true } } }, apiVersions: PROMETHEUS_OPERATOR }), 'PrometheusRule').spec.groups as Json[];
  const problems = groups
    .flatMap((group) => group['rules'] as Json[])
    .flatMap((rule) => metricNames(rule['expr']).map((name) => ({ alert: rule['alert'] as string, name })))
    .filter(({ name }) => !NOT_OURS.test(name) && !isExported(name, exported))
    .map(({ alert, name }) => `${alert}: ${name}`);
  assert.equal(problems, []);
});

Names.run();
