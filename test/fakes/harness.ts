import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntraTokenFake } from './entra-token-fake.ts';
import { GraphFake, type FakeGroup } from './graph-fake.ts';

export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const CLIENT_ID = '3b9a1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const CLIENT_SECRET = 'fake-client-secret-value';
/** What Kubernetes projects into the pod for Azure Workload Identity: a service-account JWT (fake, unsigned here). */
export const FEDERATED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZW50cmEtcmJhYy1ndWFyZDplbnRyYS1yYmFjLWd1YXJkIn0.c2lnbmF0dXJl';

export interface Fakes {
  readonly entra: EntraTokenFake;
  readonly graph: GraphFake;
  readonly directory: string;
  readonly tokenFile: string;
  /** The environment Azure Workload Identity gives a pod, pointed at the fakes. */
  readonly env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function startFakes(groups: readonly FakeGroup[] = []): Promise<Fakes> {
  const directory = await mkdtemp(join(tmpdir(), 'erg-fakes-'));
  const tokenFile = join(directory, 'azure-identity-token');
  await writeFile(tokenFile, FEDERATED_TOKEN);
  const entra = await EntraTokenFake.start({ tenantId: TENANT_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, federatedToken: FEDERATED_TOKEN });
  const graph = await GraphFake.start({ accessToken: entra.accessToken, groups });
  return {
    entra,
    graph,
    directory,
    tokenFile,
    env: {
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
      AZURE_AUTHORITY_HOST: entra.authorityHost,
      ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: graph.endpoint,
    },
    async close() {
      await Promise.all([entra.close(), graph.close()]);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Fails the test instead of hanging it: `await within(2000, lookup())`. */
export async function within<T>(ms: number, work: Promise<T>, what = 'the operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything written to stdout, stderr and the console while `work` runs. */
export async function captureOutput<T>(work: () => Promise<T>): Promise<{ readonly result: T; readonly output: string }> {
  const chunks: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const consoleMethods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const originals = consoleMethods.map((name) => console[name]);
  const record = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    return true;
  };
  process.stdout.write = record as typeof process.stdout.write;
  process.stderr.write = record as typeof process.stderr.write;
  for (const name of consoleMethods) console[name] = (...args: unknown[]) => void record(args.map(String).join(' '));
  try {
    const result = await work();
    return { result, output: chunks.join('') };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
    consoleMethods.forEach((name, index) => (console[name] = originals[index] as (typeof console)[typeof name]));
  }
}
