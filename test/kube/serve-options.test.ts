/**
 * `serve`'s policy-source and cluster options as users type them: bin/entra-rbac-guard (dist/, so `make build` first)
 * in a child process with a clean environment. Every mistake is exit 2 with a message naming it, before anything
 * listens; a child that does not end in time is killed, so a regression fails instead of hanging.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'entra-rbac-guard');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

interface Ran {
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs the CLI with only PATH and the given variables (HOME an empty dir: no ~/.kube/config), killing it after 20 s. */
function run(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += '\n(killed: did not end within 20 s)';
      child.kill('SIGKILL');
    }, 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stderr });
    });
  });
}

interface Context {
  dir: string;
  home: string;
  kubeconfig: string;
}

const Serve = suite<Context>('serve: --policy-configmap, --kubeconfig, --context', {} as Context);

Serve.before((context) => {
  context.dir = mkdtempSync(join(tmpdir(), 'entra-rbac-guard-serve-options-'));
  context.home = join(context.dir, 'home');
  mkdirSync(context.home);
  context.kubeconfig = join(context.dir, 'kubeconfig');
  writeFileSync(
    context.kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'admin', user: { token: 't' } }],
      contexts: [
        { name: 'admin', context: { cluster: 'e2e', user: 'admin' } },
        { name: 'webhook', context: { cluster: 'e2e', user: 'admin' } },
      ],
      'current-context': 'admin',
    }),
  );
});

Serve.after((context) => {
  rmSync(context.dir, { recursive: true, force: true });
});

const CASES: ReadonlyArray<{
  readonly name: string;
  readonly args: (context: Context) => string[];
  readonly env?: (context: Context) => NodeJS.ProcessEnv;
  readonly message: (context: Context) => string;
  /** A usage error also prints the usage. */
  readonly usage: boolean;
}> = [
  {
    name: '--policy and --policy-configmap together',
    args: () => ['--policy', 'policy.yaml', '--policy-configmap', 'entra-rbac-guard/policy'],
    message: () => 'entra-rbac-guard: --policy and --policy-configmap are alternatives: give one (a file, or a ConfigMap to watch)',
    usage: true,
  },
  {
    name: '--policy-configmap without a namespace',
    args: () => ['--policy-configmap', 'policy'],
    message: () => 'entra-rbac-guard: --policy-configmap takes NAMESPACE/NAME, got "policy"',
    usage: true,
  },
  {
    name: '--policy-configmap with a name that is not a Kubernetes name',
    args: () => ['--policy-configmap', 'Entra/policy'],
    message: () => `entra-rbac-guard: --policy-configmap: "Entra" is not a namespace name (lower-case letters, digits and '-', at most 63)`,
    usage: true,
  },
  {
    name: '--policy-fallback-default without --policy-configmap',
    args: () => ['--policy-fallback-default'],
    message: () => 'entra-rbac-guard: --policy-fallback-default goes with --policy-configmap: it says what serves until the ConfigMap gives a valid policy',
    usage: true,
  },
  {
    name: 'no cluster to be found (not a pod, no kubeconfig)',
    args: () => ['--policy-configmap', 'entra-rbac-guard/policy'],
    message: ({ home }) =>
      `entra-rbac-guard: no cluster configuration found: no --kubeconfig (ENTRA_RBAC_GUARD_KUBECONFIG), KUBECONFIG is not set, ${join(home, '.kube', 'config')} does not exist, and this is not a pod with a service account (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set). Give --kubeconfig FILE (and --context NAME), or run in a pod with a service account.`,
    usage: false,
  },
  {
    name: '--kubeconfig names no file',
    args: ({ dir }) => ['--policy-configmap', 'entra-rbac-guard/policy', '--kubeconfig', join(dir, 'nope')],
    message: ({ dir }) => `entra-rbac-guard: --kubeconfig ${join(dir, 'nope')}: no such file`,
    usage: false,
  },
  {
    name: '--context unknown',
    args: ({ kubeconfig }) => ['--policy-configmap', 'entra-rbac-guard/policy', '--kubeconfig', kubeconfig, '--context', 'prod'],
    message: ({ kubeconfig }) => `entra-rbac-guard: --context prod: no such context in --kubeconfig ${kubeconfig} (its contexts are admin, webhook)`,
    usage: false,
  },
  {
    name: 'ENTRA_RBAC_GUARD_KUBECONFIG and ENTRA_RBAC_GUARD_CONTEXT, the context unknown',
    args: () => ['--policy-configmap', 'entra-rbac-guard/policy'],
    env: ({ kubeconfig }) => ({ ENTRA_RBAC_GUARD_KUBECONFIG: kubeconfig, ENTRA_RBAC_GUARD_CONTEXT: 'prod' }),
    message: ({ kubeconfig }) => `entra-rbac-guard: --context prod: no such context in --kubeconfig ${kubeconfig} (its contexts are admin, webhook)`,
    usage: false,
  },
  {
    name: 'KUBECONFIG naming no file that exists',
    args: () => ['--policy-configmap', 'entra-rbac-guard/policy'],
    env: ({ dir }) => ({ KUBECONFIG: join(dir, 'gone') }),
    message: ({ dir }) => `entra-rbac-guard: KUBECONFIG=${join(dir, 'gone')}: none of these files exists`,
    usage: false,
  },
];

for (const entry of CASES) {
  Serve(`serve :: ${entry.name} :: exit 2 naming it`, async (context) => {
    const result = await run(['serve', '--port', '0', ...entry.args(context)], { HOME: context.home, ...entry.env?.(context) });
    assert.is(result.code, 2, result.stderr);
    const [first] = result.stderr.split('\n');
    assert.is(first, entry.message(context));
    assert.is(result.stderr.includes('Usage: entra-rbac-guard'), entry.usage, result.stderr);
  });
}

Serve('help :: serve lists --policy-configmap, --policy-fallback-default and the cluster options', async (context) => {
  const result = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'help'], { cwd: ROOT, env: { PATH: process.env['PATH'], HOME: context.home }, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('close', () => resolve(stdout));
  });
  for (const option of ['--policy-configmap NAMESPACE/NAME', '--policy-fallback-default', '--kubeconfig FILE', '--context NAME']) {
    assert.ok(result.includes(option), `${option} missing from the usage:\n${result}`);
  }
});

Serve.run();
