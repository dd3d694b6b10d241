/**
 * Our real webhook on a free loopback port, for the fault scenarios. Two ways:
 *
 * - `startWebhook(options)`: `buildServer` from src/http/server.ts, listening in this process over real TLS (a fresh
 *   self-signed certificate; `ca` trusts it). Fastest to start; `app.inject()` reaches the same server with no socket.
 *   Use it when the scenario's oracle needs the process itself (unhandled rejections, Object.prototype).
 * - `spawnWebhook(options)`: the CLI's `serve` in a child process, exactly as production wires it (main.ts): from
 *   dist/ as the image runs it when dist/ is newer than every source file (`make faults` builds first), else from
 *   src/ under tsx (which adds some 100 MB of RSS). Use it when the attack must not share an event loop or memory
 *   with the attacker, or when the scenario measures the server's own RSS.
 *
 * Both answer on `origin` (`https://127.0.0.1:PORT`); pair them with `HttpsClient` from ./client.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FastifyServerOptions } from 'fastify';
import type { Directory } from '../../src/directory/port.ts';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import type { RoleSource } from '../../src/kube/role-cache.ts';
import type { Policy } from '../../src/policy/model.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The pinned Node.js 24 (package.json's `node` devDependency), not whatever `node` is on the PATH. */
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const START_TIMEOUT_MS = 30_000;

export interface InProcessOptions {
  /** Default: the embedded default policy. */
  readonly policy?: Policy;
  readonly directory?: Directory;
  readonly roles?: RoleSource;
  /** Fastify's logger option; none by default. `serverErrors` below records 5xx causes either way. */
  readonly logger?: FastifyServerOptions['logger'];
}

export interface InProcessWebhook {
  /** The Fastify instance: `app.inject()` for socket-free requests, `app.server` for the Node.js server. */
  readonly app: WebhookServer;
  /** `https://127.0.0.1:PORT` */
  readonly origin: string;
  readonly port: number;
  /** PEM of the CA that signed the server's certificate. */
  readonly ca: string;
  /** Every error the server answered 5xx for, with the first lines of its stack: what a failed oracle names. */
  readonly serverErrors: readonly string[];
  close(): Promise<void>;
}

export async function startWebhook(options: InProcessOptions = {}): Promise<InProcessWebhook> {
  const tls = await generateSelfSigned();
  const policy = options.policy ?? DEFAULT_POLICY;
  const app = buildServer({ tls, currentPolicy: () => policy, directory: options.directory, roles: options.roles, logger: options.logger });
  const serverErrors: string[] = [];
  app.addHook('onError', async (_request, reply, error) => {
    if (reply.statusCode >= 500 || !error.statusCode || error.statusCode >= 500) {
      serverErrors.push(`${error.name}: ${error.message} ${String(error.stack).split('\n').slice(1, 4).join(' ').replace(/\s+/g, ' ')}`);
    }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, origin: `https://127.0.0.1:${port}`, port, ca: tls.ca, serverErrors, close: () => app.close() };
}

export interface SpawnOptions {
  /** The policy YAML it serves (`--policy`); the embedded default when omitted. */
  readonly policyYaml?: string;
  /** Added to this process's environment (e.g. the Graph fakes' `env` from test/fakes/harness.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** More `serve` arguments. */
  readonly args?: readonly string[];
  /** `dist` (compiled), `source` (src/ under tsx), or `auto` (the default): dist when it is up to date. */
  readonly entry?: 'auto' | 'dist' | 'source';
}

export type LogLine = Record<string, unknown> & { readonly msg?: string; readonly level?: number };

export interface WebhookProcess {
  readonly origin: string;
  readonly port: number;
  readonly ca: string;
  readonly pid: number;
  /** What runs: `dist/bin.js` or `src/bin.ts under tsx`. */
  readonly entry: string;
  /** The child's resident memory now, in bytes (from /proc). */
  rssBytes(): number;
  /** Sockets the child holds open now (listening and connected, from /proc/PID/fd). */
  openSockets(): number;
  /** Every JSON line it logged so far. */
  log(): readonly LogLine[];
  /** What it wrote to standard error (an uncaught exception or a stack trace would land there). */
  stderr(): string;
  alive(): boolean;
  /** SIGTERM (SIGKILL after 5 s); resolves with how it exited. */
  stop(): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

export async function spawnWebhook(options: SpawnOptions = {}): Promise<WebhookProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'erg-faults-serve-'));
  const fromDist = options.entry === 'dist' || ((options.entry ?? 'auto') === 'auto' && distIsCurrent());
  const entry = fromDist ? [join(ROOT, 'dist', 'bin.js')] : ['--import', 'tsx', join(ROOT, 'src', 'bin.ts')];
  const args = [...entry, 'serve', '--host', '127.0.0.1', '--port', '0', ...(options.args ?? [])];
  if (options.policyYaml !== undefined) {
    writeFileSync(join(dir, 'policy.yaml'), options.policyYaml);
    args.push('--policy', join(dir, 'policy.yaml'));
  }
  // serve writes the CA of its self-signed certificate under os.tmpdir(): keep it in our temp dir.
  const child = spawn(NODE, args, { cwd: ROOT, env: { ...process.env, ...options.env, TMPDIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (text) => lines.push(parseLine(text)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const cleanUp = () => rmSync(dir, { recursive: true, force: true });
  try {
    const { url, caPath } = await waitForServing(lines, alive, () => stderr);
    const origin = new URL(url).origin;
    return {
      origin,
      port: Number(new URL(url).port),
      ca: readFileSync(caPath, 'utf8'),
      pid: child.pid!,
      entry: fromDist ? 'dist/bin.js' : 'src/bin.ts under tsx',
      rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
      openSockets: () => countSockets(child.pid!),
      log: () => lines,
      stderr: () => stderr,
      alive,
      async stop() {
        if (alive()) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        const result = await exited;
        clearTimeout(timer);
        cleanUp();
        return result;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    cleanUp();
    throw error;
  }
}

/** dist/bin.js exists and no file under src/ is newer (the Makefile touches dist/bin.js after each build). */
function distIsCurrent(): boolean {
  const built = join(ROOT, 'dist', 'bin.js');
  if (!existsSync(built)) return false;
  const builtAt = statSync(built).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, item) => {
      const path = join(dir, item.name);
      return Math.max(latest, item.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  return newest(join(ROOT, 'src')) <= builtAt;
}

function countSockets(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets += 1;
    } catch {
      // Closed between the listing and the look.
    }
  }
  return sockets;
}

function parseLine(text: string): LogLine {
  try {
    return JSON.parse(text) as LogLine;
  } catch {
    return { msg: text };
  }
}

async function waitForServing(lines: readonly LogLine[], alive: () => boolean, stderr: () => string): Promise<{ url: string; caPath: string }> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const url = lines.find((line) => String(line.msg).startsWith('entra-rbac-guard is serving'))?.['url'];
    const caPath = lines.find((line) => typeof line['caCertificate'] === 'string')?.['caCertificate'];
    if (typeof url === 'string' && typeof caPath === 'string') return { url, caPath };
    if (!alive() || Date.now() > deadline) {
      throw new Error(`serve did not start (${alive() ? 'no "serving" line within 30 s' : 'it exited'}):\n${stderr()}\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
