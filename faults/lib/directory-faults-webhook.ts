/**
 * The webhook as it runs in production, for the directory fault scenario: `dist/bin.js serve` (so `npm run build`
 * first) in its own process, over TLS on loopback, with Microsoft Graph and the Entra token endpoint reached through
 * the environment a pod gets (Azure Workload Identity's variables, ENTRA_RBAC_GUARD_GRAPH_ENDPOINT).
 *
 * Reviews are sent the way the API server sends them: POST /validate?timeout=Ns with an AdmissionReview v1, over a
 * kept-alive HTTPS connection that trusts the CA the webhook logged for its self-signed certificate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEVELOPER, reviewOf } from './reviews.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const ENTRY = join(ROOT, 'dist', 'bin.js');
const START_TIMEOUT_MS = 30_000;

/** The part of an AdmissionReview answer the scenarios read. */
export interface ReviewAnswer {
  readonly uid?: string;
  readonly allowed?: boolean;
  readonly status?: { readonly code?: number; readonly message?: string };
  readonly warnings?: readonly string[];
}

export interface Answered {
  /** The HTTP status, or 0 when no answer came (connection error, client-side timeout). */
  readonly status: number;
  readonly answer: ReviewAnswer | undefined;
  readonly ms: number;
  /** What went wrong on the wire, when no answer came. */
  readonly error?: string;
}

export type LogLine = Record<string, unknown> & { readonly msg?: string; readonly level?: number };

export interface SpawnedWebhook {
  /** `https://127.0.0.1:PORT` */
  readonly origin: string;
  /** POST /validate?timeout=`timeout` with a review; never rejects. */
  review(body: unknown, timeout: string): Promise<Answered>;
  /** Every JSON line it logged so far. */
  log(): readonly LogLine[];
  /** What it wrote to standard error (uncaught exceptions land there). */
  stderr(): string;
  alive(): boolean;
  /** How it ended when nobody stopped it (a crash), else undefined. */
  crashed(): string | undefined;
  stop(): Promise<void>;
}

export interface WebhookOptions {
  /** The policy YAML it serves (written to a temp file). */
  readonly policyYaml: string;
  /** Added to this process's environment: the fakes' endpoints and the Azure identity variables. */
  readonly env: NodeJS.ProcessEnv;
}

/** Starts `serve` and waits for its "serving" line. */
export async function startWebhook(options: WebhookOptions): Promise<SpawnedWebhook> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} does not exist: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'erg-faults-webhook-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, options.policyYaml);
  const child = spawn(NODE, [ENTRY, 'serve', '--port', '0', '--host', '127.0.0.1', '--policy', policy], {
    cwd: ROOT,
    // serve writes the CA of its self-signed certificate under os.tmpdir(): keep it in our temp dir.
    env: { ...process.env, ...options.env, TMPDIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      lines.push({ msg: text });
    }
  });
  let stopping = false;
  let crash: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) crash = `exited by itself (${signal ?? `code ${code}`})`;
      resolve();
    }),
  );
  try {
    const serving = await waitForServing(child, lines, () => stderr);
    const ca = readFileSync(String(serving['caCertificate'])).toString('utf8');
    const origin = new URL(String(serving['url'])).origin;
    const agent = new Agent({ ca, keepAlive: true, maxSockets: 16 });
    return {
      origin,
      review: (body, timeout) => post(`${origin}/validate?timeout=${timeout}`, body, agent),
      log: () => lines,
      stderr: () => stderr,
      alive: () => child.exitCode === null && child.signalCode === null,
      crashed: () => crash,
      async stop() {
        stopping = true;
        agent.destroy();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    stopping = true;
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function waitForServing(child: ChildProcess, lines: readonly LogLine[], stderr: () => string): Promise<LogLine> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const serving = lines.find((line) => String(line.msg).startsWith('entra-rbac-guard is serving'));
    const ca = lines.find((line) => typeof line['caCertificate'] === 'string');
    if (serving && ca) return { ...serving, caCertificate: ca['caCertificate'] };
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      throw new Error(`the webhook did not start (${child.exitCode ?? child.signalCode ?? 'timed out'}):\n${stderr()}\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A client-side limit far above any deadline: a review still unanswered then counts as hung. */
const HANG_MS = 15_000;

function post(url: string, body: unknown, agent: Agent): Promise<Answered> {
  const started = performance.now();
  const text = JSON.stringify(body);
  return new Promise((resolve) => {
    const done = (result: Omit<Answered, 'ms'>) => resolve({ ...result, ms: performance.now() - started });
    const outgoing = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }, timeout: HANG_MS }, (response) => {
      let data = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
      response.on('end', () => {
        let answer: ReviewAnswer | undefined;
        try {
          answer = (JSON.parse(data) as { response?: ReviewAnswer }).response;
        } catch {
          answer = undefined;
        }
        done({ status: response.statusCode ?? 0, answer, ...(answer ? {} : { error: `not an AdmissionReview: ${data.slice(0, 200)}` }) });
      });
      response.on('error', (error) => done({ status: 0, answer: undefined, error: error.message }));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${HANG_MS} ms`)));
    outgoing.on('error', (error) => done({ status: 0, answer: undefined, error: error.message }));
    outgoing.end(text);
  });
}

/** An AdmissionReview v1 CREATE of a RoleBinding to the Entra group `groupId`, by a user no policy exempts. */
export function groupBindingReview(groupId: string, name = `faults-${groupId.slice(0, 8)}`): { readonly uid: string; readonly body: unknown } {
  const uid = randomUUID();
  const binding = {
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    metadata: { name, namespace: 'team-a' },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: groupId }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  };
  const body = reviewOf(binding, 'CREATE', DEVELOPER);
  body['request']['uid'] = uid;
  return { uid, body };
}
