/** runPreflight (which checks run, the summary) and the two renderings: the aligned table and the JSON shape. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { preflightJson, preflightTable } from '../../src/preflight/render.ts';
import { runPreflight } from '../../src/preflight/run-preflight.ts';
import { configuration, preflightFacts, serviceTarget, webhook } from './preflight-facts.ts';

const report = suite('preflight :: report');

const CONTEXT = { cluster: 'context aks-prod, server https://aks-prod:443', policySource: 'policy.yaml', mode: 'enforce', directory: 'Microsoft Graph' };
const ALL = ['admin-groups', 'admin-binding', 'local-accounts', 'webhook-installed', 'webhook-namespace', 'webhook-failure-policy', 'webhook-endpoints', 'webhook-pdb', 'policy-mode'];

report('a cluster that passes :: every check, in order, all pass', () => {
  const result = runPreflight(preflightFacts());
  assert.equal(result.checks.map((check) => check.id), ALL);
  assert.equal(result.summary, { pass: 9, warn: 0, fail: 0 });
});

report('not installed :: the installation checks are left out, webhook-installed fails', () => {
  const result = runPreflight(preflightFacts({ configurations: [] }));
  assert.equal(result.checks.map((check) => check.id), ['admin-groups', 'admin-binding', 'local-accounts', 'webhook-installed', 'policy-mode']);
  assert.equal(result.summary, { pass: 4, warn: 0, fail: 1 });
});

report('table :: one line a check (status, id, title) aligned; details and fix indented; a verdict', () => {
  const facts = preflightFacts({ policy: { mode: 'audit' }, configurations: [configuration([webhook({ target: serviceTarget({ endpoints: { ready: 1, notReady: 0 } }) })])] });
  const text = preflightTable(runPreflight(facts), { ...CONTEXT, mode: 'audit' });
  const lines = text.split('\n');
  assert.is(lines[0], 'entra-rbac-guard preflight of context aks-prod, server https://aks-prod:443');
  assert.is(lines[1], 'policy: policy.yaml (mode audit); directory: Microsoft Graph');
  const checkLines = lines.filter((line) => /^(PASS|WARN|FAIL) /.test(line));
  assert.is(checkLines.length, 9);
  const titleColumn = new Set(checkLines.map((line) => 6 + /^\S+\s+/.exec(line.slice(6))![0].length));
  assert.is(titleColumn.size, 1, `titles start in one column:\n${checkLines.join('\n')}`);
  assert.ok(checkLines.includes('FAIL  webhook-endpoints       ready webhook pods behind its Service (2 or more)'), checkLines.join('\n'));
  assert.ok(lines.includes('      fix: run at least 2 ready replicas (helm upgrade … --set replicas=2; kubectl -n entra-rbac-guard get pods,events to see why pods are not ready).'));
  assert.is(lines.at(-2), '9 checks: 7 pass, 1 warn, 1 fail. Not ready: fix what fails before az aks update --disable-local-accounts and before enforcing.');
});

report('table :: verdicts for warnings only, and for all passing', () => {
  assert.match(preflightTable(runPreflight(preflightFacts({ policy: { mode: 'audit' } })), CONTEXT), '8 pass, 1 warn, 0 fail. Nothing fails: read the warnings');
  assert.match(preflightTable(runPreflight(preflightFacts()), CONTEXT), '9 pass, 0 warn, 0 fail. Ready: local accounts can be disabled');
});

report('json :: {checks: [{id, status, title, details, fix?}], summary: {pass, warn, fail}}', () => {
  const document = JSON.parse(preflightJson(runPreflight(preflightFacts({ policy: { mode: 'audit' } })))) as Record<string, any>;
  assert.equal(Object.keys(document), ['checks', 'summary']);
  assert.equal(document['summary'], { pass: 8, warn: 1, fail: 0 });
  for (const check of document['checks'] as Record<string, unknown>[]) {
    assert.equal(Object.keys(check), check['status'] === 'pass' ? ['id', 'status', 'title', 'details'] : ['id', 'status', 'title', 'details', 'fix']);
    assert.ok(Array.isArray(check['details']) && (check['details'] as unknown[]).every((line) => typeof line === 'string'));
  }
  assert.is((document['checks'] as Record<string, unknown>[]).find((check) => check['id'] === 'policy-mode')!['status'], 'warn');
});

report.run();
