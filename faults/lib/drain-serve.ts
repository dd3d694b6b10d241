/**
 * The built CLI (`dist/bin.js serve`, as the image runs it: `make build` first) in a child process, for the
 * scenarios that signal it, time its shutdown, read its log, rotate its certificate or measure its memory:
 * 05 (rotation and drain), 06 (overload) and 08 (soak). Unlike ./webhook.ts's `spawnWebhook`, nothing here sends a
 * signal on its own: `signal()` sends one, `exited` resolves with how the process ended, `kill()` cleans up.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE, type LogLine } from './webhook.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'dist', 'bin.js');
const START_TIMEOUT_MS = 30_000;

export interface ServeOptions {
  /** `serve` arguments after `--host 127.0.0.1 --port 0`. */
  readonly args?: readonly string[];
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** PEM that the served certificate chains to, when `args` give --tls-cert/--tls-key (else the self-signed CA is read). */
  readonly ca?: string;
  /** Node.js options before the script (e.g. --expose-gc). */
  readonly nodeArgs?: readonly string[];
}

export interface ServeProcess {
  /** `https://127.0.0.1:PORT` */
  readonly origin: string;
  readonly ca: string;
  readonly pid: number;
  /** Resolves once the process has ended, with how. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly at: number }>;
  signal(name: NodeJS.Signals): void;
  alive(): boolean;
  /** Every JSON line it logged so far, but the decision lines (one per review: only counted, to save parsing them). */
  log(): readonly LogLine[];
  decisionLines(): number;
  stderr(): string;
  /** Resident memory now, in bytes (from /proc). */
  rssBytes(): number;
  /** SIGKILL if still running, and removes its temp dir. */
  kill(): Promise<void>;
}

export async function spawnServe(options: ServeOptions = {}): Promise<ServeProcess> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`make build\` (or npm run build) first`);
  const dir = mkdtempSync(join(tmpdir(), 'erg-faults-drain-'));
  const args = [...(options.nodeArgs ?? []), BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...(options.args ?? [])];
  // serve writes the CA of its self-signed certificate under os.tmpdir(): keep it in our temp dir.
  const child = spawn(NODE, args, { cwd: ROOT, env: { ...process.env, ...options.env, TMPDIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let decisions = 0;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (text.includes('"msg":"decision"')) decisions += 1;
    else lines.push(parseLine(text));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const serving = await waitForLine(lines, (line) => String(line.msg).startsWith('entra-rbac-guard is serving'), alive, () => stderr);
    const origin = new URL(String(serving['url'])).origin;
    const ca = options.ca ?? readFileSync(String((await waitForLine(lines, (line) => typeof line['caCertificate'] === 'string', alive, () => stderr))['caCertificate']), 'utf8');
    return {
      origin,
      ca,
      pid: child.pid!,
      exited,
      signal: (name) => void child.kill(name),
      alive,
      log: () => lines,
      decisionLines: () => decisions,
      stderr: () => stderr,
      rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
      kill,
    };
  } catch (error) {
    await kill();
    throw error;
  }
}

/** The first log line `match` accepts, once logged; rejects when the process exits or after `timeoutMs`. */
export async function waitForLine(
  lines: readonly LogLine[],
  match: (line: LogLine) => boolean,
  alive: () => boolean,
  stderr: () => string,
  timeoutMs = START_TIMEOUT_MS,
): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = lines.find(match);
    if (line) return line;
    if (!alive() || Date.now() > deadline) {
      throw new Error(`serve: expected log line not seen (${alive() ? `not within ${timeoutMs} ms` : 'it exited'}):\n${stderr()}\n${lines.map((entry) => JSON.stringify(entry)).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function parseLine(text: string): LogLine {
  try {
    return JSON.parse(text) as LogLine;
  } catch {
    return { msg: text };
  }
}
