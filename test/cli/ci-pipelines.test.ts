/**
 * The pipeline steps of examples/ci/ (GitHub Actions and Azure Pipelines), run as written on the sample repository
 * layout of examples/ci-repo: a chart rendered with helm template and a kustomize overlay, piped into the CLI, SARIF
 * out. The step fails the build on what the webhook would deny, and the SARIF points at the chart's template file.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { helmBinary } from '../chart/helm.ts';
import { sarifValidator } from '../e2e/sarif-schema.ts';
import { BIN, ROOT } from './spawn-cli.ts';

type Json = Record<string, any>;

const CI = join(ROOT, 'examples', 'ci');
const STEP = 'entra-rbac-guard check';

function githubStep(): string {
  const workflow = parse(readFileSync(join(CI, 'github-actions.yml'), 'utf8')) as Json;
  return (workflow['jobs']['rbac']['steps'] as Json[]).find((step) => step['name'] === STEP)!['run'];
}

function azureStep(): string {
  const pipeline = parse(readFileSync(join(CI, 'azure-pipelines.yml'), 'utf8')) as Json;
  return (pipeline['steps'] as Json[]).find((step) => step['displayName'] === STEP)!['script'];
}

/** Runs a step's script with bash in a fresh copy of examples/ci-repo, entra-rbac-guard, helm and kubectl on the PATH. */
function runStep(script: string): { status: number | null; stderr: string; sarif: Json } {
  const dir = mkdtempSync(join(tmpdir(), 'erg-ci-'));
  try {
    cpSync(join(ROOT, 'examples', 'ci-repo'), dir, { recursive: true });
    mkdirSync(join(dir, 'tools'));
    symlinkSync(BIN, join(dir, 'tools', 'entra-rbac-guard'));
    const path = [join(dir, 'tools'), dirname(helmBinary()), process.env['PATH']].join(':');
    const ran = spawnSync('bash', ['-e', '-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: path }, timeout: 60_000 });
    const output = join(dir, 'results', 'entra-rbac-guard.sarif');
    return { status: ran.status, stderr: ran.stderr, sarif: JSON.parse(readFileSync(output, 'utf8')) as Json };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const Pipelines = suite('examples/ci: the pipeline steps, run as written');

Pipelines('GitHub Actions and Azure Pipelines run the same command', () => {
  const flat = (script: string) => script.replace(/\s+/g, ' ').trim();
  assert.is(flat(azureStep()), flat(githubStep()));
  assert.match(githubStep(), '--output sarif');
});

Pipelines('the step on examples/ci-repo :: fails the build (exit 1) on the two findings, valid SARIF pointing at the template', () => {
  const { status, stderr, sarif } = runStep(githubStep());
  assert.is(status, 1, `the step must fail on what the webhook would deny:\n${stderr}`);
  assert.equal(sarifValidator()(sarif), [], 'valid SARIF 2.1.0');
  const results = (sarif['runs'][0]['results'] as Json[]).map((result) => [
    result['ruleId'],
    result['level'],
    result['locations'][0]['physicalLocation']?.['artifactLocation']?.['uri'],
  ]);
  assert.equal(results, [
    ['user-subject', 'error', 'charts/team-app/templates/rolebindings.yaml'],
    ['broad-group', 'error', undefined],
  ]);
  const messages = (sarif['runs'][0]['results'] as Json[]).map((result) => result['message']['text'] as string);
  assert.match(messages[0]!, 'RoleBinding payments/team-app-debug binds User "carol@fabrikam.com" directly');
  assert.match(messages[1]!, 'ClusterRoleBinding prod-platform-view binds Group "system:authenticated"');
});

Pipelines('the same step once the shortcut is gone :: passes, the compliant groups verified in the snapshot', () => {
  const script = githubStep().replace('--namespace payments', '--namespace payments --set debugUser=').replace('kubectl kustomize kustomize/overlays/prod', 'true');
  const { status, stderr, sarif } = runStep(script);
  assert.is(status, 0, stderr);
  assert.equal(sarif['runs'][0]['results'], []);
});

Pipelines.run();
