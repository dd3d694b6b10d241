/**
 * The chart's alerts, run by promtool (Debian's `prometheus` package; scripts/get-promtool.sh installs it when it is
 * missing): the PrometheusRule rendered by the real helm, its spec.groups written to a rules file, `promtool check
 * rules` on it, and `promtool test rules` on the synthetic series of test/chart/alerts/*.yaml, in which each alert
 * fires when it should and stays silent when it should not. The annotations are left out of the rules under test:
 * promtool compares them whole, and they are prose (monitoring.test.ts checks them; `check rules` parses their
 * templates). Nothing is skipped: a promtool that cannot be had fails these tests.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml, stringify } from 'yaml';
import { find, PROMETHEUS_OPERATOR, REPO_ROOT, render, toolFromScript } from './helm.ts';

type Json = Record<string, any>;

const TESTS_DIR = join(REPO_ROOT, 'test', 'chart', 'alerts');
const TEST_FILES = readdirSync(TESTS_DIR).filter((file) => file.endsWith('.yaml')).sort();

let promtoolPath: string | undefined;
function promtool(args: readonly string[], cwd: string): { code: number; output: string } {
  promtoolPath ??= toolFromScript('get-promtool.sh', "It installs Debian's prometheus package with apt-get (as root); set PROMTOOL=/path/to/promtool to use another.");
  const result = spawnSync(promtoolPath, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** The rendered rule groups, as a rules file: the PrometheusRule's spec, with or without the annotations. */
function renderedGroups(values: Json = {}, { annotations = false } = {}): Json[] {
  const rule = find(render({ values: { metrics: { prometheusRule: { enabled: true, ...values } } }, apiVersions: PROMETHEUS_OPERATOR }), 'PrometheusRule');
  const groups = structuredClone(rule.spec.groups) as Json[];
  if (!annotations) for (const group of groups) for (const alert of group['rules'] as Json[]) delete alert['annotations'];
  return groups;
}

/** A temp dir holding rules.yaml (these groups) and the given promtool test files; removed after `use`. */
function withRules<T>(groups: Json[], testFiles: Record<string, string>, use: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-promtool-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    for (const [name, text] of Object.entries(testFiles)) writeFileSync(join(dir, name), text);
    return use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function repoTests(): Record<string, string> {
  return Object.fromEntries(TEST_FILES.map((file) => [file, readFileSync(join(TESTS_DIR, file), 'utf8')]));
}

const Alerts = suite('chart :: alerts under promtool');

Alerts('promtool check rules :: the rendered rules, annotations included, are valid', () => {
  const groups = renderedGroups({}, { annotations: true });
  const count = groups.reduce((sum, group) => sum + (group['rules'] as Json[]).length, 0);
  withRules(groups, {}, (dir) => {
    const checked = promtool(['check', 'rules', 'rules.yaml'], dir);
    assert.is(checked.code, 0, checked.output);
    assert.match(checked.output, `SUCCESS: ${count} rules found`);
  });
});

Alerts('promtool test rules :: every test file of test/chart/alerts passes on the rules rendered with the defaults', () => {
  assert.ok(TEST_FILES.length >= 4, TEST_FILES.join(', '));
  withRules(renderedGroups(), repoTests(), (dir) => {
    const tested = promtool(['test', 'rules', ...TEST_FILES], dir);
    process.stderr.write(`  promtool test rules: ${TEST_FILES.map((file) => `${file} ${new RegExp(`Unit Testing:\\s+${file}\\s+SUCCESS`).test(tested.output) ? 'SUCCESS' : 'FAILED'}`).join(', ')}\n`);
    assert.is(tested.code, 0, tested.output);
    for (const file of TEST_FILES) assert.match(tested.output, new RegExp(`Unit Testing:\\s+${file.replace('.', '\\.')}\\s+SUCCESS`), `${file}:\n${tested.output}`);
    assert.not.match(tested.output, 'FAILED');
  });
});

Alerts('coverage :: every alert the chart renders is expected to fire in some test, and to stay silent in another', () => {
  const alerts = renderedGroups().flatMap((group) => (group['rules'] as Json[]).map((rule) => rule['alert'] as string));
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const text of Object.values(repoTests())) {
    for (const test of (parseYaml(text) as Json)['tests'] as Json[]) {
      for (const check of (test['alert_rule_test'] ?? []) as Json[]) {
        (((check['exp_alerts'] as Json[] | undefined) ?? []).length > 0 ? fires : silent).add(check['alertname']);
      }
    }
  }
  assert.equal(alerts.filter((alert) => !fires.has(alert)), [], 'alerts never expected to fire');
  assert.equal(alerts.filter((alert) => !silent.has(alert)), [], 'alerts never expected to stay silent');
  assert.equal([...fires, ...silent].filter((alert) => !alerts.includes(alert)), [], 'tests of alerts the chart does not render');
});

Alerts('the tests bite :: rules rendered with other thresholds fail them, and promtool names each alert that changed', () => {
  const groups = renderedGroups({ thresholds: { latencyP99Seconds: 5, directoryCircuitOpenFor: '30m' }, severityOverrides: { EntraRbacGuardDown: 'page' } });
  withRules(groups, repoTests(), (dir) => {
    const tested = promtool(['test', 'rules', ...TEST_FILES], dir);
    assert.is.not(tested.code, 0, `promtool should have failed:\n${tested.output}`);
    for (const alert of ['EntraRbacGuardDecisionLatencyHigh', 'EntraRbacGuardDirectoryCircuitOpen', 'EntraRbacGuardDown']) {
      assert.match(tested.output, `alertname: ${alert}`, `promtool's failure names ${alert}`);
    }
    assert.match(tested.output, 'severity="page"');
  });
});

Alerts.run();
