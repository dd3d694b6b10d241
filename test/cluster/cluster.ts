/**
 * The cluster end-to-end suite's harness (`make cluster-e2e`): a real single-node Kubernetes 1.20 cluster that
 * scripts/cluster/up.sh started inside a network namespace, with this process running inside that namespace too, so
 * pod and Service addresses are reachable and nothing the tests send leaves it. The chart is installed with helm as
 * docs/install-aks.md says; the tests drive the cluster with kubectl, helm and @kubernetes/client-node.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, RbacAuthorizationV1Api, type V1RoleBinding } from '@kubernetes/client-node';
import { eventually, expectDeniedByWebhook, expectOk, type CommandResult } from '../e2e/expect.ts';

export { eventually, expectOk };

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(REPO_ROOT, 'charts', 'entra-rbac-guard');
/** As docs/install-aks.md names them. */
export const RELEASE = 'entra-rbac-guard';
export const NAMESPACE = 'entra-rbac-guard';
/** The chart's fullname for this release: the Deployment, Service and ValidatingWebhookConfiguration. */
export const FULLNAME = 'entra-rbac-guard';
/** The chart's default webhook name, in every denial. */
export const WEBHOOK_NAME = 'bindings.entra-rbac-guard.io';
/** Where the tests create bindings: an ordinary team namespace, judged by the webhook. */
export const TEAM_NAMESPACE = 'payments';
/** The chart's default image reference, which make cluster-e2e built and imported into the node's containerd. */
export const IMAGE = `ghcr.io/entra-rbac-guard/entra-rbac-guard:${(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version}`;
export const GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
/** The chart's admin group in these tests, so cluster-admin grants to it are allowed. */
export const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite with \`make cluster-e2e\`, which starts the cluster and sets it`);
  return value;
}

export const env = {
  kubeconfig: () => required('KUBECONFIG'),
  helm: () => required('HELM'),
  kubectl: () => process.env['KUBECTL'] || 'kubectl',
  figures: () => required('CLUSTER_E2E_FIGURES'),
};

/** Runs a command to its end (killed after `timeoutMs`), with stdin if given. */
export function run(command: string, args: readonly string[], { stdin, timeoutMs = 120_000 }: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, KUBECONFIG: env.kubeconfig() },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
    child.on('error', (error) => resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${timeoutMs} ms)` : stderr }));
  });
}

export const kubectl = (args: readonly string[], options?: { stdin?: string; timeoutMs?: number }) =>
  run(env.kubectl(), ['--request-timeout=60s', ...args], options);
export const helm = (args: readonly string[], options?: { timeoutMs?: number }) => run(env.helm(), args, { timeoutMs: 300_000, ...options });

/** Denied by the chart's webhook (not by RBAC, not by a failed call), with the rule's tag and each text. */
export function expectDeniedBy(result: CommandResult, rule: string, ...texts: string[]): void {
  expectDeniedByWebhook(WEBHOOK_NAME, result, rule, ...texts);
}

/**
 * The values every install starts from: the chart's defaults plus the admin group, as a user's values file has, and
 * `directory.verify: false`, because this cluster has no Entra ID to verify groups in: with it on and no identity,
 * every group binding is denied (ADR 0009; 1-chart tests exactly that).
 */
export const BASE_VALUES = ['--set', `policy.adminGroups[0]=${ADMIN_GROUP_ID}`, '--set', 'policy.directory.verify=false'];

/**
 * `helm upgrade --install` as docs/install-aks.md runs it (`--wait`), with the given extra values; the image is the
 * chart's default reference, which make cluster-e2e built and imported into the node's containerd.
 */
export async function installChart(...values: string[]): Promise<CommandResult> {
  await ensureTeamNamespace();
  return expectOk(
    await helm(['upgrade', '--install', RELEASE, CHART, '--namespace', NAMESPACE, '--create-namespace', '--wait', '--timeout', '4m', ...BASE_VALUES, ...values]),
    `helm upgrade --install ${values.join(' ')}`,
  );
}

/** Creates the team namespace unless it exists; any other failure fails the test. */
export async function ensureTeamNamespace(): Promise<void> {
  const created = await kubectl(['create', 'namespace', TEAM_NAMESPACE]);
  if (created.code !== 0 && !/AlreadyExists|already exists/.test(created.stderr)) expectOk(created, `kubectl create namespace ${TEAM_NAMESPACE}`);
}

/** Waits until the Deployment has rolled out (every replica updated and ready). */
export async function rolledOut(): Promise<void> {
  expectOk(await kubectl(['rollout', 'status', `deployment/${FULLNAME}`, '-n', NAMESPACE, '--timeout=240s'], { timeoutMs: 250_000 }), 'rollout status');
}

export interface WebhookPod {
  readonly name: string;
  readonly ip: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly lastTermination: string | undefined;
  readonly deleting: boolean;
}

export async function webhookPods(): Promise<WebhookPod[]> {
  const listed = expectOk(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'json']), 'list the webhook pods');
  const pods = (JSON.parse(listed.stdout) as { items: any[] }).items.filter((pod) => !String(pod.metadata.name).endsWith('-test'));
  return pods.map((pod) => {
    const status = pod.status?.containerStatuses?.[0];
    return {
      name: pod.metadata.name,
      ip: pod.status?.podIP ?? '',
      ready: status?.ready === true,
      restarts: status?.restartCount ?? 0,
      lastTermination: status?.lastState?.terminated?.reason,
      deleting: Boolean(pod.metadata.deletionTimestamp),
    };
  });
}

/** The real Kubernetes client, for load that kubectl processes would make too heavy for 2 cores. */
export function rbacApi(): RbacAuthorizationV1Api {
  const config = new KubeConfig();
  config.loadFromFile(env.kubeconfig());
  return config.makeApiClient(RbacAuthorizationV1Api);
}

export function groupBinding(name: string, subjects: number, groupOf: (index: number) => string = () => GROUP_ID): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: TEAM_NAMESPACE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: Array.from({ length: subjects }, (_, index) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: groupOf(index) })),
  };
}

/** The message of a failed client-node call: the API server's Status message when there is one. */
export function failureMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return String((JSON.parse(body) as { message?: string }).message ?? body);
    } catch {
      return body;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** Figures for the suite's last line (`make cluster-e2e` prints it): merged into the file the runner reads. */
export function recordFigures(figures: Record<string, number | string>): void {
  const file = env.figures();
  const before = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(file, JSON.stringify({ ...before, ...figures }, null, 2));
  process.stderr.write(`  figures: ${JSON.stringify(figures)}\n`);
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
