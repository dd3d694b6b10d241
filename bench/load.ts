/**
 * The benchmark's moving parts: a server process (bench/servers.ts) pinned to core 0, and autocannon driving it from
 * this process, pinned to core 1, with server-side latency read back from the server itself.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export type ServerKind = 'bare' | 'ours';

export interface BenchServer {
  readonly kind: ServerKind;
  readonly port: number;
  /** The CA of its throwaway certificate (PEM), for a caBundle. */
  readonly ca: string;
  readonly child: ChildProcess;
}

export interface LoadResult {
  readonly rps: number;
  /** Client-side (autocannon, whole milliseconds). */
  readonly p50: number;
  readonly p99: number;
  /** Inside the server, request hook to response hook (fractional milliseconds). */
  readonly serverP50: number;
  readonly serverP99: number;
  /** Server CPU time (user + system) per answered review: what a busy server's throughput is bounded by. */
  readonly cpuMicrosPerRequest: number;
  readonly requests: number;
  readonly errors: number;
}

/** taskset exists and there are two cores to split between server and load generator. */
export const canPin = hasTaskset();

/** Pins this process (the load generator) to core 1. */
export function pinLoadGenerator(): void {
  if (canPin) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
}

/** Starts a server process, on core 0 unless `pin` is false. */
export async function startServer(kind: ServerKind, { pin = true } = {}): Promise<BenchServer> {
  // Node's own TypeScript support, not tsx: no loader in the server's memory or on its path.
  const args = ['--expose-gc', '--experimental-transform-types', '--no-warnings', `${HERE}servers.ts`, kind];
  // stdout is /dev/null: ours logs a decision line per review there, as `serve` does to its container's stdout.
  const stdio: ['ignore', 'ignore', 'inherit', 'ipc'] = ['ignore', 'ignore', 'inherit', 'ipc'];
  const child = canPin && pin ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio }) : spawn(process.execPath, args, { stdio });
  const { port, ca } = await new Promise<{ port: number; ca: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { port: number; ca: string }));
    child.once('exit', (code) => reject(new Error(`${kind} benchmark server exited with ${code} before listening`)));
  });
  child.disconnect();
  return { kind, port, ca, child };
}

/** SIGTERM, and waits for the exit (a `--cpu-prof` profile is written by then). */
export async function stopServer(server: BenchServer): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** Keep-alive load on /validate for `seconds`, or until `amount` requests were answered. */
export async function load(server: BenchServer, body: string, connections: number, run: { seconds?: number; amount?: number }): Promise<LoadResult> {
  await control(server, '/bench/reset');
  const result = await autocannon({
    url: `https://127.0.0.1:${server.port}/validate?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    ...(run.amount ? { amount: run.amount } : { duration: run.seconds ?? 5 }),
  });
  const stats = (await control(server, '/bench/stats', 'GET')) as { p50: number; p99: number; count: number; cpuMicros: number };
  return {
    rps: run.amount ? result.requests.total / (result.duration || 1) : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverP50: stats.p50,
    serverP99: stats.p99,
    cpuMicrosPerRequest: stats.cpuMicros / Math.max(1, stats.count),
    requests: stats.count,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Control requests to a benchmark server (its certificate is throwaway: not verified here). */
export function control(server: BenchServer, path: string, method = 'POST'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port: server.port, path, method, rejectUnauthorized: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(JSON.parse(text)));
    });
    request.on('error', reject);
    request.end();
  });
}

export function medianOf(runs: readonly LoadResult[]): LoadResult {
  return {
    rps: median(runs.map((run) => run.rps)),
    p50: median(runs.map((run) => run.p50)),
    p99: median(runs.map((run) => run.p99)),
    serverP50: median(runs.map((run) => run.serverP50)),
    serverP99: median(runs.map((run) => run.serverP99)),
    cpuMicrosPerRequest: median(runs.map((run) => run.cpuMicrosPerRequest)),
    requests: runs.reduce((sum, run) => sum + run.requests, 0),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}
