/**
 * The real CLI as users run it: bin/entra-rbac-guard (which loads dist/, so `make build` first) spawned with this
 * Node.js 24. Every child is tracked and killed when the test process exits, even after a failed test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'entra-rbac-guard');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface Started {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.on('error', () => {
      children.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the CLI to its end with `stdin`; kills it and fails the test after `timeoutMs`. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  { stdin, timeoutMs = 20_000 }: { stdin?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const started = startCli(args, env);
  started.child.stdin!.end(stdin ?? '');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), timeoutMs)));
  const result = await Promise.race([started.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timed out') {
    await stopCli(started);
    assert.unreachable(`entra-rbac-guard ${args.join(' ')} did not finish within ${timeoutMs} ms`);
  }
  return { code: (result as { code: number | null }).code, stdout: started.stdout(), stderr: started.stderr() };
}

/** Kills one child (if still running) and waits for it. */
export async function stopCli(started: Started): Promise<void> {
  if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
  await started.exited;
}

/** Kills every child still running. */
export async function stopAllCli(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      return closed;
    }),
  );
}

export type LogLine = Record<string, unknown> & { readonly msg?: string };

/** The JSON log lines `serve` printed so far. */
export function logLines(started: Started): LogLine[] {
  return started
    .stdout()
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text) as LogLine);
}

export async function waitForLine(started: Started, match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = logLines(started).find(match);
    if (line) return line;
    if (started.child.exitCode !== null || Date.now() > deadline) {
      assert.unreachable(`no such log line.\nstdout: ${started.stdout()}\nstderr: ${started.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One HTTPS request to `serve`, trusting its self-signed CA; fails after 5 s. */
export function call(url: string, ca: string, method: string, body?: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, agent: false, timeout: 5000, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Where a started `serve` listens, with the CA of its self-signed certificate (in `caDir`, to remove afterwards). */
export async function servingAt(started: Started): Promise<{ validate: string; ca: string; caDir: string }> {
  const serving = await waitForLine(started, (line) => line.msg === 'entra-rbac-guard is serving');
  const caPath = String((await waitForLine(started, (line) => typeof line['caCertificate'] === 'string'))['caCertificate']);
  return { validate: String(serving['url']), ca: readFileSync(caPath, 'utf8'), caDir: dirname(caPath) };
}
