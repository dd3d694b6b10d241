/**
 * Helpers for the Kubernetes fault scenarios (04, 07) on the e2e harness (test/e2e/harness.ts: etcd, a real
 * kube-apiserver 1.20 and `dist/bin.js serve`): reviews sent straight to the webhook's /validate, its readiness, the
 * policy ConfigMap, a crash of the API server (SIGKILL of the harness's own child, found by its pid), and the
 * webhook's log checked for crashes.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Harness, KubectlResult } from '../../test/e2e/harness.ts';
import { DEVELOPER, reviewOf } from './reviews.ts';

export interface Timed<T> {
  readonly value: T;
  readonly ms: number;
}

/** A review answered by the webhook itself (not through the API server). */
export interface DirectAnswer {
  readonly status: number;
  readonly allowed: boolean | undefined;
  readonly message: string;
  readonly warnings: readonly string[];
  readonly ms: number;
  readonly error?: string;
}

export function show(result: KubectlResult): string {
  return `exit ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 400)}`;
}

export async function kubectlOk(harness: Harness, args: readonly string[], stdin?: string): Promise<KubectlResult> {
  const result = await harness.kubectl(args, stdin === undefined ? {} : { stdin });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${show(result)}`);
  return result;
}

/** Creates or replaces a ConfigMap with `data`; returns its resourceVersion. */
export async function putConfigMap(harness: Harness, namespace: string, name: string, data: Record<string, string>): Promise<string> {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
  const exists = (await harness.kubectl(['get', 'configmap', name, `--namespace=${namespace}`, '-o', 'name'])).code === 0;
  const result = await kubectlOk(harness, [exists ? 'replace' : 'create', '-f', '-', '-o', 'json'], JSON.stringify(configMap));
  return (JSON.parse(result.stdout) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
}

export async function readyz(harness: Harness): Promise<{ readonly status: number; readonly body: Record<string, any> }> {
  const response = await harness.webhookRequest('/readyz');
  return { status: response.status, body: JSON.parse(response.body) as Record<string, any> };
}

/** POST /validate?timeout=10s with `review` straight to the webhook; never rejects. */
export async function validate(harness: Harness, review: unknown): Promise<DirectAnswer> {
  const started = performance.now();
  try {
    const response = await harness.webhookRequest('/validate?timeout=10s', { method: 'POST', body: JSON.stringify(review) });
    const ms = performance.now() - started;
    const answer = (JSON.parse(response.body) as { response?: { allowed?: boolean; status?: { message?: string }; warnings?: string[] } }).response;
    return { status: response.status, allowed: answer?.allowed, message: answer?.status?.message ?? '', warnings: answer?.warnings ?? [], ms };
  } catch (error) {
    return { status: 0, allowed: undefined, message: '', warnings: [], ms: performance.now() - started, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Polls `check` every 200 ms until it gives something; throws after `timeoutMs`. Returns the value and the wait. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<Timed<T>> {
  const started = performance.now();
  let last = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return { value, ms: performance.now() - started };
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const RBAC = 'rbac.authorization.k8s.io';

/** An AdmissionReview v1 CREATE of a RoleBinding, by a requester no policy exempts. */
export function bindingReview(namespace: string, subject: { kind: 'User' | 'Group'; name: string }, roleRef: { kind: 'Role' | 'ClusterRole'; name: string }): unknown {
  const name = `faults-${randomUUID().slice(0, 8)}`;
  const binding = {
    kind: 'RoleBinding',
    apiVersion: `${RBAC}/v1`,
    metadata: { name, namespace },
    subjects: [{ ...subject, apiGroup: RBAC }],
    roleRef: { apiGroup: RBAC, ...roleRef },
  };
  return reviewOf(binding, 'CREATE', DEVELOPER);
}

/**
 * The pid of the harness's kube-apiserver: a child of this process whose command line names the harness's own temp
 * dir. Only that process is ever signalled.
 */
export function apiServerPid(harness: Harness): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const parent = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
      if (parent === process.pid && basename(args[0] ?? '').startsWith('kube-apiserver') && args.some((arg) => arg.includes(harness.dir))) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no kube-apiserver child of this process runs from ${harness.dir}`);
}

/** SIGKILL of the harness's kube-apiserver, as a crash or a lost node would end it; resolves once it is gone. */
export async function crashApiServer(harness: Harness): Promise<void> {
  const pid = apiServerPid(harness);
  process.kill(pid, 'SIGKILL');
  await eventually(`kube-apiserver (pid ${pid}) to exit`, () => (isRunning(pid) ? undefined : true), 10_000);
}

function isRunning(pid: number): boolean {
  try {
    // A killed child stays a zombie until reaped: count that as gone.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The API server's log (the harness appends every run of it to one file). */
export function apiServerLog(harness: Harness): string {
  return readFileSync(join(harness.dir, 'kube-apiserver.log'), 'utf8');
}

/**
 * What in the current webhook process's log file (its JSON stdout and its raw stderr) says it crashed or threw:
 * lines that are not JSON (a stack trace, an uncaught exception), and fatal (60) log lines.
 */
export function webhookCrashSigns(harness: Harness): string[] {
  const logs = readdirSync(harness.dir)
    .map((file) => /^webhook-(\d+)\.log$/.exec(file))
    .filter((match): match is RegExpExecArray => match !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]));
  const latest = logs.at(-1);
  if (!latest) return ['no webhook log file'];
  return readFileSync(join(harness.dir, latest[0]), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 60;
      } catch {
        return true;
      }
    });
}

/** True while the current webhook process answers /healthz. */
export async function webhookAlive(harness: Harness): Promise<boolean> {
  try {
    return (await harness.webhookRequest('/healthz')).status === 200;
  } catch {
    return false;
  }
}
