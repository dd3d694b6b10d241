/**
 * End-to-end harness: etcd, a real kube-apiserver 1.20 and our webhook on loopback, driven with the real kubectl.
 *
 * Everything lives in one temp dir (certificates, tokens, kubeconfig, etcd data, logs) and every process it starts is
 * killed by stop(), on a failed start, and when this process exits or is interrupted. Ports are picked free.
 * Nothing is skipped: a missing kube-apiserver binary, etcd or kubectl is an error that says how to get it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateSelfSigned } from '../../src/http/tls.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEBHOOK_NAME = 'bindings.entra-rbac-guard.e2e.test';
export const WEBHOOK_CONFIGURATION = 'entra-rbac-guard-e2e';

/** The users in the API server's token file: `admin` is in system:masters, `developer` has no RBAC grant at all. */
export const USERS = {
  admin: { name: 'e2e-admin', groups: ['system:masters'] },
  developer: { name: 'e2e-developer', groups: [] },
} as const;
export type UserName = keyof typeof USERS;

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KubectlOptions {
  /** Which user of the token file kubectl authenticates as (default admin). */
  readonly user?: UserName;
  /** Written to kubectl's standard input (for `apply -f -`). */
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

/** One JSON line the webhook logged (pino), e.g. a decision: {msg: 'decision', uid, operation, name, allowed, rules…}. */
export type LogLine = Record<string, unknown> & { readonly msg?: string };

export interface Harness {
  /** The temp dir holding everything (removed by stop()). */
  readonly dir: string;
  readonly kubeconfig: string;
  readonly apiServerUrl: string;
  /** Where the API server writes its audit log (RBAC requests at Metadata level). */
  readonly auditLog: string;
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Writes a policy file into the temp dir and returns its path. */
  writePolicy(name: string, yaml: string): string;
  /** Every line the current webhook process logged, in order (a restart starts a new list). */
  webhookLog(): readonly LogLine[];
  /** The `decision` lines of the current webhook process. */
  decisions(): readonly LogLine[];
  /** Stops kube-apiserver (SIGTERM), starts it again on the same port and etcd, waits until it is ready. */
  restartApiServer(): Promise<void>;
  /**
   * Stops the webhook, starts it on `policyFile` (or with the arguments `start` gives), points the webhook
   * configuration at it and, unless told not to, waits until reviews reach it.
   */
  restartWebhook(policyFile: string | WebhookStart): Promise<void>;
  /** A request to the current webhook process over HTTPS, trusting the CA it logged (e.g. GET /readyz, GET /metrics). */
  webhookRequest(path: string, options?: { readonly method?: string; readonly body?: string }): Promise<{ status: number; body: string }>;
  /** Kills the webhook (SIGKILL) and leaves the webhook configuration pointing at it. */
  killWebhook(): Promise<void>;
  /** Points the webhook configuration at `url` with `caBundle` (base64 PEM), e.g. at a webhook in the test's process. */
  pointWebhookAt(url: string, caBundle: string): Promise<void>;
  /** Kills every process started and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** How to start the webhook, when not simply on a policy file. */
export interface WebhookStart {
  /** `serve`'s options after `--port 0 --host 127.0.0.1`, e.g. `['--policy-configmap', 'ns/name', '--kubeconfig', file]`. */
  readonly args: readonly string[];
  /**
   * Whether to wait until a review reaches the webhook (default true). False for a webhook that has no policy yet and
   * answers reviews 503: the start then waits only for its "serving" log line and the webhook configuration update.
   */
  readonly waitForReviews?: boolean;
  /**
   * The directory snapshot (`--directory`) the webhook verifies groups in: by default the harness's, which knows
   * E2E_GROUPS (a webhook with no directory denies every group binding, ADR 0009). False: none, for a webhook that
   * is to find no directory, or Microsoft Graph through the environment. Ignored when `args` has `--directory`.
   */
  readonly directory?: false;
}

/** The groups of the harness's directory snapshot: the ones the e2e suites bind. */
export const E2E_GROUPS = [
  { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Developers', securityEnabled: true },
  { id: '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f', displayName: 'AKS Platform Admins', securityEnabled: true },
] as const;

export interface HarnessOptions {
  /** The policy file the webhook starts with. */
  readonly policyFile?: string;
  /** Policy YAML the webhook starts with (written to the temp dir); ignored when policyFile is given. */
  readonly policyYaml?: string;
  /** How long each component may take to come up. */
  readonly startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 90_000;
const KUBECTL_TIMEOUT_MS = 30_000;

/** Finds the pieces, starts etcd, kube-apiserver and the webhook, registers the webhook. Cleans up if any step fails. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const apiServerBinary = findKubeApiServer();
  const etcdBinary = ensureEtcd();
  const kubectlBinary = findKubectl();
  const webhookEntry = join(REPO_ROOT, 'dist', 'bin.js');
  const node = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  if (!existsSync(webhookEntry)) throw new Error(`${webhookEntry} does not exist: run \`make build\` first (\`make e2e\` does)`);
  if (!existsSync(node)) throw new Error(`${node} does not exist: run \`make install\` (npm ci installs the pinned Node.js 24)`);

  const dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-e2e-'));
  const harness = new RunningHarness(dir, {
    apiServerBinary,
    etcdBinary,
    kubectlBinary,
    node,
    webhookEntry,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
  });
  try {
    await harness.start(options.policyFile ?? harness.writePolicy('initial-policy.yaml', options.policyYaml ?? 'apiVersion: entra-rbac-guard/v1\nkind: Policy\n'));
    return harness;
  } catch (error) {
    await harness.stop();
    throw error;
  }
}

/** kube-apiserver: $KUBE_APISERVER, else the cache scripts/build-kube-apiserver.sh fills. */
export function findKubeApiServer(): string {
  const cacheDir = process.env['KUBE_APISERVER_CACHE'] ?? '/var/cache/entra-rbac-guard';
  const candidate = process.env['KUBE_APISERVER'] || join(cacheDir, 'kube-apiserver-reflect2-go118');
  if (existsSync(candidate)) return candidate;
  throw new Error(
    `kube-apiserver not found at ${candidate}. The end-to-end tests need kube-apiserver 1.20: build it once with ` +
      '`scripts/build-kube-apiserver.sh` (run as root; about 9 minutes, cached in /var/cache/entra-rbac-guard; ' +
      '`make e2e` runs it), or set KUBE_APISERVER to the path of a kube-apiserver binary.',
  );
}

/** etcd from Debian's etcd-server package, installed when missing (the harness runs as root in CI). */
function ensureEtcd(): string {
  const found = which('etcd');
  if (found) return found;
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'etcd-server'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8' });
    result = install();
  }
  const installed = which('etcd');
  if (result.status === 0 && installed) return installed;
  throw new Error(
    'etcd is not on the PATH and `apt-get install -y etcd-server` failed ' +
      `(${result.error?.message ?? `exit ${result.status}: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`}). ` +
      "Install Debian's etcd-server package (as root), or put an etcd 3.4+ binary on the PATH.",
  );
}

function findKubectl(): string {
  const found = process.env['KUBECTL'] || which('kubectl');
  if (found) return found;
  throw new Error('kubectl is not on the PATH: install it (or set KUBECTL to its path); the end-to-end tests drive the API server with it.');
}

function which(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const path = result.stdout.trim();
  return result.status === 0 && path ? path : undefined;
}

interface Tools {
  readonly apiServerBinary: string;
  readonly etcdBinary: string;
  readonly kubectlBinary: string;
  readonly node: string;
  readonly webhookEntry: string;
  readonly startTimeoutMs: number;
}

interface Webhook {
  readonly process: ChildProcess;
  readonly lines: LogLine[];
  readonly exited: Promise<void>;
  readonly url: string;
  readonly caBundle: string;
}

/** Harnesses not yet stopped: killed synchronously when the process exits. */
const live = new Set<RunningHarness>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const harness of live) harness.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\ne2e harness: ${signal}: stopping etcd, kube-apiserver and the webhook\n`);
      void Promise.allSettled([...live].map((harness) => harness.stop())).then(() => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)));
    });
  }
}

class RunningHarness implements Harness {
  readonly kubeconfig: string;
  readonly auditLog: string;
  apiServerUrl = '';
  private readonly tokens = { admin: randomBytes(24).toString('hex'), developer: randomBytes(24).toString('hex') };
  private readonly children = new Set<ChildProcess>();
  private apiServer: { process: ChildProcess; exited: Promise<void> } | undefined;
  private apiServerArgs: string[] = [];
  private apiServerCa = '';
  private webhook: Webhook | undefined;
  private webhookStarts = 0;
  private probes = 0;
  private stopped = false;

  constructor(
    readonly dir: string,
    private readonly tools: Tools,
  ) {
    this.kubeconfig = join(dir, 'kubeconfig');
    this.auditLog = join(dir, 'audit.log');
    installExitHooks();
    live.add(this);
  }

  async start(policyFile: string): Promise<void> {
    const [etcdClient, etcdPeer, apiServerPort] = await freePorts(3);
    await this.startEtcd(etcdClient!, etcdPeer!);
    await this.prepareApiServer(apiServerPort!);
    await this.startApiServer();
    await this.startWebhook(policyFile);
  }

  writePolicy(name: string, yaml: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, yaml);
    return path;
  }

  webhookLog(): readonly LogLine[] {
    return this.webhook?.lines ?? [];
  }

  decisions(): readonly LogLine[] {
    return this.webhookLog().filter((line) => line.msg === 'decision');
  }

  async kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const user = options.user ?? 'admin';
    const timeoutMs = options.timeoutMs ?? KUBECTL_TIMEOUT_MS;
    // --context, not --user: `kubectl create rolebinding --user` names a subject and would shadow the global flag.
    const fullArgs = ['--kubeconfig', this.kubeconfig, '--context', user, `--request-timeout=${Math.ceil(timeoutMs / 1000)}s`, ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(this.tools.kubectlBinary, fullArgs, {
        // Its own HOME: kubectl's discovery cache stays in the temp dir, and no user kubeconfig leaks in.
        env: { ...process.env, HOME: join(this.dir, 'home'), KUBECONFIG: this.kubeconfig },
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: timeoutMs + 5_000,
        killSignal: 'SIGKILL',
      });
      void this.track(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (signal) stderr += `\n(kubectl ${args.join(' ')} killed by ${signal} after ${timeoutMs + 5_000} ms)`;
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(options.stdin ?? '');
    });
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  async restartWebhook(policyFile: string | WebhookStart): Promise<void> {
    await this.stopWebhook('SIGTERM');
    await this.startWebhook(policyFile);
  }

  async webhookRequest(path: string, options: { readonly method?: string; readonly body?: string } = {}): Promise<{ status: number; body: string }> {
    const webhook = this.webhook;
    if (!webhook || webhook.process.exitCode !== null || webhook.process.signalCode !== null) throw new Error('the webhook is not running');
    const url = webhook.url.replace(/\/validate$/, path);
    return send(url, { ca: Buffer.from(webhook.caBundle, 'base64').toString('utf8'), method: options.method ?? 'GET', body: options.body });
  }

  async killWebhook(): Promise<void> {
    await this.stopWebhook('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled([...this.children].map((child) => stopProcess(child, 'SIGTERM', 5_000)));
    live.delete(this);
    this.removeDir();
  }

  /** For process exit: no awaiting possible, so SIGKILL and remove the dir synchronously. */
  killNow(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.removeDir();
  }

  private removeDir(): void {
    if (process.env['ENTRA_E2E_KEEP']) {
      process.stderr.write(`e2e harness: ENTRA_E2E_KEEP is set, kept ${this.dir}\n`);
      return;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private track(child: ChildProcess): Promise<void> {
    this.children.add(child);
    return new Promise((resolve) => {
      child.once('exit', () => {
        this.children.delete(child);
        resolve();
      });
      child.once('error', () => {
        this.children.delete(child);
        resolve();
      });
    });
  }

  private async startEtcd(clientPort: number, peerPort: number): Promise<void> {
    const dataDir = join(this.dir, 'etcd');
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const log = join(this.dir, 'etcd.log');
    const etcd = spawnLogged(
      this.tools.etcdBinary,
      [
        '--name=e2e',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=e2e=${peer}`,
        '--log-level=warn',
      ],
      log,
      // etcd 3.4 refuses to start on arm64 unless told.
      process.arch === 'arm64' ? { ETCD_UNSUPPORTED_ARCH: 'arm64' } : {},
    );
    const exited = this.track(etcd);
    await waitFor(
      'etcd to be healthy',
      async () => (await get(`${client}/health`)).body.includes('"health":"true"'),
      { timeoutMs: 30_000, exited, log },
    );
    this.apiServerArgs.push(`--etcd-servers=${client}`);
  }

  private async prepareApiServer(port: number): Promise<void> {
    const pki = join(this.dir, 'pki');
    mkdirSync(pki);
    mkdirSync(join(this.dir, 'home'));
    const serving = await generateSelfSigned();
    writeFileSync(join(pki, 'ca.crt'), serving.ca);
    writeFileSync(join(pki, 'apiserver.crt'), serving.cert);
    writeFileSync(join(pki, 'apiserver.key'), serving.key, { mode: 0o600 });
    this.apiServerCa = serving.ca;
    const serviceAccount = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(join(pki, 'sa.pub'), serviceAccount.publicKey);
    writeFileSync(join(pki, 'sa.key'), serviceAccount.privateKey, { mode: 0o600 });
    // token,user,uid,"group1,group2"
    writeFileSync(
      join(pki, 'tokens.csv'),
      Object.entries(USERS)
        .map(([key, user]) => `${this.tokens[key as UserName]},${user.name},${user.name}-uid,"${user.groups.join(',')}"`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    writeFileSync(
      join(this.dir, 'audit-policy.yaml'),
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n' +
        '  - level: Metadata\n    resources: [{group: rbac.authorization.k8s.io}]\n  - level: None\n',
    );
    this.apiServerUrl = `https://127.0.0.1:${port}`;
    this.apiServerArgs.push(
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      '--insecure-port=0',
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      `--audit-policy-file=${join(this.dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${this.auditLog}`,
      '--profiling=false',
    );
    const users = Object.keys(USERS) as UserName[];
    writeFileSync(
      this.kubeconfig,
      JSON.stringify(
        {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'e2e', cluster: { server: this.apiServerUrl, 'certificate-authority': join(pki, 'ca.crt') } }],
          users: users.map((name) => ({ name, user: { token: this.tokens[name] } })),
          contexts: users.map((name) => ({ name, context: { cluster: 'e2e', user: name } })),
          'current-context': 'admin',
        },
        null,
        2,
      ),
      { mode: 0o600 },
    );
  }

  private async startApiServer(): Promise<void> {
    const log = join(this.dir, 'kube-apiserver.log');
    const child = spawnLogged(this.tools.apiServerBinary, this.apiServerArgs, log);
    const exited = this.track(child);
    this.apiServer = { process: child, exited };
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await get(`${this.apiServerUrl}/readyz`, { ca: this.apiServerCa, token: this.tokens.admin })).status === 200,
      {
        timeoutMs: this.tools.startTimeoutMs,
        exited,
        log,
        detail: async () => (await get(`${this.apiServerUrl}/readyz?verbose`, { ca: this.apiServerCa, token: this.tokens.admin })).body,
      },
    );
    // Ready means the bootstrap hooks ran; the default RBAC and namespace must now be visible to a client too.
    await waitFor(
      'the bootstrap RBAC (clusterrolebinding cluster-admin) and namespace default',
      async () => {
        const rbac = await this.kubectl(['get', 'clusterrolebinding', 'cluster-admin', '-o', 'name']);
        const namespace = await this.kubectl(['get', 'namespace', 'default', '-o', 'name']);
        return rbac.code === 0 && namespace.code === 0;
      },
      { timeoutMs: 30_000, exited, log },
    );
  }

  private async stopApiServer(): Promise<void> {
    if (!this.apiServer) return;
    await stopProcess(this.apiServer.process, 'SIGTERM', 20_000);
    this.apiServer = undefined;
  }

  private async startWebhook(start: string | WebhookStart): Promise<void> {
    const { args, waitForReviews = true, directory } = typeof start === 'string' ? { args: ['--policy', start], directory: undefined } : start;
    const directoryArgs = directory === false || args.includes('--directory') ? [] : ['--directory', this.snapshot()];
    const index = ++this.webhookStarts;
    // serve writes the CA of its self-signed certificate under os.tmpdir(): keep it inside our temp dir.
    const webhookTmp = join(this.dir, `webhook-${index}`);
    mkdirSync(webhookTmp);
    const log = join(this.dir, `webhook-${index}.log`);
    const logFd = openSync(log, 'a');
    const child = spawn(
      this.tools.node,
      [this.tools.webhookEntry, 'serve', '--port', '0', '--host', '127.0.0.1', ...directoryArgs, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, TMPDIR: webhookTmp }, stdio: ['ignore', 'pipe', logFd] },
    );
    closeSync(logFd);
    const exited = this.track(child);
    const lines: LogLine[] = [];
    createInterface({ input: child.stdout! }).on('line', (text) => {
      writeFileSync(log, `${text}\n`, { flag: 'a' });
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: text });
      }
    });
    const serving = await waitFor(
      'the webhook to log "entra-rbac-guard is serving"',
      async () => lines.find((line) => String(line.msg).startsWith('entra-rbac-guard is serving')),
      { timeoutMs: 20_000, exited, log },
    );
    const url = String(serving['url']);
    const caLine = lines.find((line) => typeof line['caCertificate'] === 'string');
    if (!/^https:\/\/127\.0\.0\.1:\d+\/validate$/.test(url) || !caLine) {
      throw new Error(`the webhook's start-up log lacks the url or the caCertificate path:\n${readFileSync(log, 'utf8')}`);
    }
    const caBundle = readFileSync(String(caLine['caCertificate'])).toString('base64');
    this.webhook = { process: child, lines, exited, url, caBundle };
    await this.pointWebhookAt(url, caBundle);
    if (waitForReviews) await this.waitUntilWebhookAnswers();
  }

  /** Writes the harness's directory snapshot once; returns its path. */
  private snapshot(): string {
    const file = join(this.dir, 'e2e-groups.yaml');
    if (!existsSync(file)) writeFileSync(file, JSON.stringify({ groups: E2E_GROUPS }));
    return file;
  }

  private async stopWebhook(signal: NodeJS.Signals): Promise<void> {
    if (!this.webhook) return;
    await stopProcess(this.webhook.process, signal, 10_000);
  }

  /**
   * Creates or updates the ValidatingWebhookConfiguration so the API server calls the webhook at `url` (also one
   * running in the test's own process).
   */
  async pointWebhookAt(url: string, caBundle: string): Promise<void> {
    const configuration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: WEBHOOK_CONFIGURATION },
      webhooks: [
        {
          name: WEBHOOK_NAME,
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
          clientConfig: { url, caBundle },
          rules: [
            {
              apiGroups: ['rbac.authorization.k8s.io'],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['rolebindings', 'clusterrolebindings', 'roles', 'clusterroles'],
            },
          ],
        },
      ],
    };
    const result = await this.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(configuration) });
    if (result.code !== 0) throw new Error(`registering the ValidatingWebhookConfiguration failed: ${result.stderr}`);
  }

  /**
   * The API server picks a configuration change up through an informer, a moment later. A dry-run RoleBinding per
   * attempt, allowed by any policy, tells when requests reach this webhook process: its name shows up in the log.
   */
  private async waitUntilWebhookAnswers(): Promise<void> {
    const webhook = this.webhook!;
    let last: KubectlResult | undefined;
    await waitFor(
      `the API server to call the webhook at ${webhook.url}`,
      async () => {
        const name = `e2e-harness-probe-${++this.probes}`;
        last = await this.kubectl(['create', 'rolebinding', name, '--namespace=default', '--clusterrole=view', '--group=00000000-0000-4000-8000-000000000000', '--dry-run=server']);
        return webhook.lines.some((line) => line.msg === 'decision' && line['name'] === name);
      },
      { timeoutMs: 30_000, exited: webhook.exited, log: join(this.dir, `webhook-${this.webhookStarts}.log`), detail: async () => `last probe: ${JSON.stringify(last)}` },
    );
  }
}

/** Spawns a long-running process with stdout and stderr appended to `log` (a file, so its pipe never fills). */
function spawnLogged(command: string, args: readonly string[], log: string, env: Record<string, string> = {}): ChildProcess {
  const fd = openSync(log, 'a');
  try {
    return spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Distinct free loopback ports: all listeners are open at once, so no two are the same. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

interface WaitOptions {
  readonly timeoutMs: number;
  /** Resolves when the process we wait on exits: no point waiting further. */
  readonly exited?: Promise<void>;
  /** Its log, quoted (the tail) in the error. */
  readonly log?: string;
  readonly detail?: () => Promise<string>;
  readonly intervalMs?: number;
}

/** Polls `check` until it returns something truthy; fails with the process's log tail on timeout or exit. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let exited = false;
  void options.exited?.then(() => (exited = true));
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (exited || Date.now() > deadline) {
      let detail = '';
      if (options.detail) detail = await options.detail().catch((error: Error) => error.message);
      const tail = options.log && existsSync(options.log) ? readFileSync(options.log, 'utf8').split('\n').slice(-40).join('\n') : '';
      throw new Error(
        `${exited ? 'the process exited' : `timed out after ${options.timeoutMs} ms`} waiting for ${what}` +
          (lastError ? `\nlast error: ${lastError}` : '') +
          (detail ? `\n${detail}` : '') +
          (tail ? `\n--- ${options.log} (last lines) ---\n${tail}` : ''),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

/** A GET over HTTP or HTTPS (with a CA and a bearer token), for health endpoints. */
function get(url: string, options: { ca?: string; token?: string } = {}): Promise<{ status: number; body: string }> {
  return send(url, options);
}

/** A request over HTTP or HTTPS (with a CA, a bearer token, a JSON body). */
function send(url: string, options: { ca?: string; token?: string; method?: string; body?: string | undefined } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    };
    const method = options.method ?? 'GET';
    const callback = (response: IncomingMessage) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    };
    const request = url.startsWith('https:')
      ? httpsRequest(url, { method, headers, ...(options.ca ? { ca: options.ca } : {}), timeout: 5_000 }, callback)
      : httpRequest(url, { method, headers, timeout: 5_000 }, callback);
    request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
    request.on('error', reject);
    request.end(options.body);
  });
}
