/**
 * The chart's continuous-audit values (audit.interval, audit.writeReports) through the real helm: the serve flags
 * they become, the PolicyReport permissions granted only when reports are written, and the guard against reports
 * without an interval. test/chart/chart.test.ts keeps the schema, values.yaml and README in step for every value.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, render, renderError, type K8sObject } from './helm.ts';

type Json = Record<string, any>;

function args(objects: readonly K8sObject[]): string[] {
  return find(objects, 'Deployment').spec.template.spec.containers[0].args as string[];
}

function clusterRules(objects: readonly K8sObject[]): Json[] {
  return find(objects, 'ClusterRole').rules as Json[];
}

const REPORT_RULE = { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports', 'clusterpolicyreports'], verbs: ['get', 'list', 'create', 'update', 'delete'] };

const Audit = suite('chart :: audit values');

Audit('defaults :: no audit, no access to PolicyReports', () => {
  const objects = render({});
  const list = args(objects);
  assert.not.ok(list.some((arg) => arg.startsWith('--audit')), list.join(' '));
  assert.equal(clusterRules(objects).filter((rule) => rule['apiGroups'].includes('wgpolicyk8s.io')), []);
});

Audit('interval :: the flag with its value, no reports, no access to PolicyReports', () => {
  const objects = render({ values: { audit: { interval: '10m' } } });
  const list = args(objects);
  assert.is(list[list.indexOf('--audit-interval') + 1], '10m');
  assert.not.ok(list.includes('--audit-write-reports'));
  assert.equal(clusterRules(objects).filter((rule) => rule['apiGroups'].includes('wgpolicyk8s.io')), []);
});

Audit('writeReports :: the flag, and write access to our report kinds only', () => {
  const objects = render({ values: { audit: { interval: '5m', writeReports: true }, server: { extraArgs: ['--extra'] } } });
  const list = args(objects);
  assert.is(list[list.indexOf('--audit-interval') + 1], '5m');
  assert.ok(list.includes('--audit-write-reports'));
  assert.is(list.at(-1), '--extra', 'extraArgs stay last');
  assert.equal(clusterRules(objects).filter((rule) => rule['apiGroups'].includes('wgpolicyk8s.io')), [REPORT_RULE]);
});

Audit('reportsApi openreports :: the flag, and write access to reports and clusterreports instead of PolicyReports', () => {
  const objects = render({ values: { audit: { interval: '5m', writeReports: true, reportsApi: 'openreports' } } });
  const list = args(objects);
  assert.is(list[list.indexOf('--audit-reports-api') + 1], 'openreports');
  assert.equal(clusterRules(objects).filter((rule) => rule['apiGroups'].includes('wgpolicyk8s.io')), []);
  assert.equal(clusterRules(objects).filter((rule) => rule['apiGroups'].includes('openreports.io')), [
    { apiGroups: ['openreports.io'], resources: ['reports', 'clusterreports'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
  ]);
  assert.not.ok(args(render({ values: { audit: { interval: '5m', writeReports: true } } })).includes('--audit-reports-api'), 'the default needs no flag');
});

Audit('a report API that does not exist :: refused by the schema with its path', () => {
  assert.match(renderError({ values: { audit: { interval: '5m', writeReports: true, reportsApi: 'policyreports' } } }), "at '/audit/reportsApi'");
});

Audit('writeReports without an interval :: refused, saying what to set', () => {
  assert.match(renderError({ values: { audit: { writeReports: true } } }), 'audit.writeReports needs audit.interval');
});

Audit('an interval the webhook would not read :: refused by the schema with its path', () => {
  assert.match(renderError({ values: { audit: { interval: '1h30m' } } }), "at '/audit/interval'");
});

Audit.run();
