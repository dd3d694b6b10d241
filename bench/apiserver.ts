/**
 * Through a real API server: what a client sees. etcd, kube-apiserver 1.20 and our webhook from the end-to-end
 * harness (test/e2e/harness.ts, which runs dist/bin.js: `npm run build` first), and a client that creates
 * RoleBindings as client-go does: @kubernetes/client-node over keep-alive connections, one (sequential) or eight (8-way
 * parallel). Three modes, interleaved in rounds: no webhook registered, the bare allow-all webhook (bench/servers.ts),
 * and ours (`serve` with the embedded policy, a directory snapshot naming the bound group, and the role cache).
 */
import { readFileSync } from 'node:fs';
import { KubeConfig, RbacAuthorizationV1Api, ServerConfiguration, createConfiguration, type V1RoleBinding } from '@kubernetes/client-node';
// The HTTP client @kubernetes/client-node itself uses: its dispatcher is how one keeps connections alive.
import { Agent } from 'undici';
import { WEBHOOK_CONFIGURATION, startHarness, type Harness } from '../test/e2e/harness.ts';
import { control, median, startServer, stopServer, type BenchServer } from './load.ts';
import { groupId, snapshotGroups } from './payloads.ts';

export type WebhookMode = 'none' | 'bare' | 'ours';
const MODES: readonly WebhookMode[] = ['none', 'bare', 'ours'];
const NAMESPACE = 'default';
const LABEL = 'entra-rbac-guard-bench';
const PARALLEL = 8;
const WARM_UP_CREATES = 20;

export interface ApiServerOptions {
  /** Creates per mode, per round, for the sequential run and again for the parallel run. */
  readonly creates: number;
  readonly rounds: number;
  readonly report: (row: string[]) => void;
}

interface Timing {
  /** Per-create latency, ms. */
  readonly latencies: number[];
  readonly totalMs: number;
}

interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  /** Median over rounds of each round's wall time for all creates, ms. */
  readonly totalMs: number;
}

export async function measureApiServer({ creates, rounds, report }: ApiServerOptions): Promise<Record<string, unknown>> {
  const harness = await startHarness();
  let bare: BenchServer | undefined;
  try {
    const snapshot = harness.writePolicy('bench-groups.yaml', snapshotYaml());
    const policy = harness.writePolicy('bench-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\n');
    await harness.restartWebhook({ args: ['--policy', policy, '--directory', snapshot, '--kubeconfig', harness.kubeconfig] });
    const ours = ourWebhook(harness);
    // Not pinned: the API server, etcd and our webhook are not either.
    bare = await startServer('bare', { pin: false });
    const bareWebhook = { url: `https://127.0.0.1:${bare.port}/validate`, caBundle: Buffer.from(bare.ca).toString('base64') };
    const client = clientFor(harness);
    const switchTo = async (mode: WebhookMode) => {
      if (mode === 'none') await deleteWebhookConfiguration(harness);
      else await harness.pointWebhookAt(...(mode === 'ours' ? [ours.url, ours.caBundle] as const : [bareWebhook.url, bareWebhook.caBundle] as const));
      await untilServedBy(mode, harness, client.sequential, bare!);
    };

    const runs: Record<WebhookMode, { sequential: Timing[]; parallel: Timing[] }> = {
      none: { sequential: [], parallel: [] },
      bare: { sequential: [], parallel: [] },
      ours: { sequential: [], parallel: [] },
    };
    for (let round = 0; round < rounds; round++) {
      // Rotated each round, so no mode always runs first after a clean-up.
      for (const mode of rotate(MODES, round)) {
        await switchTo(mode);
        const names = (run: string) => Array.from({ length: creates }, (_, index) => `bench-${mode}-${round}-${run}-${index}`);
        await createAll(client.sequential, names('warm').slice(0, WARM_UP_CREATES), 1);
        runs[mode].sequential.push(await createAll(client.sequential, names('seq'), 1));
        await createAll(client.parallel, names('warm-par').slice(0, WARM_UP_CREATES), PARALLEL);
        runs[mode].parallel.push(await createAll(client.parallel, names('par'), PARALLEL));
        await client.sequential.deleteCollectionNamespacedRoleBinding({ namespace: NAMESPACE, labelSelector: LABEL });
      }
    }
    await deleteWebhookConfiguration(harness);

    const results: Record<string, unknown> = { creates, rounds, parallel: PARALLEL };
    for (const run of ['sequential', 'parallel'] as const) {
      const summary = Object.fromEntries(MODES.map((mode) => [mode, summarise(runs[mode][run])])) as Record<WebhookMode, Summary>;
      const { none, bare: bareSummary, ours: oursSummary } = summary;
      const ratios = {
        /** What calling any webhook costs the API server: the floor under oursOverNone. */
        bareOverNone: bareSummary.totalMs / none.totalMs,
        oursOverNone: oursSummary.totalMs / none.totalMs,
        oursOverBare: oursSummary.totalMs / bareSummary.totalMs,
        p50OursOverNone: oursSummary.p50 / none.p50,
        p50OursOverBare: oursSummary.p50 / bareSummary.p50,
      };
      results[run] = { ...summary, ...ratios };
      const label = run === 'sequential' ? 'one connection, sequential' : `${PARALLEL} connections, ${PARALLEL}-way parallel`;
      report([
        `API server: ${creates} × create rolebinding, ${label}`,
        `none / bare / ours: total ${fmt(none.totalMs, 0)} / ${fmt(bareSummary.totalMs, 0)} / ${fmt(oursSummary.totalMs, 0)} ms`,
        `ours/none ${fmt(ratios.oursOverNone)}× (≤ 1.20; bare/none ${fmt(ratios.bareOverNone)}×), ours/bare ${fmt(ratios.oursOverBare)}× (≤ 1.05)`,
        `per create p50 ${fmt(none.p50)} / ${fmt(bareSummary.p50)} / ${fmt(oursSummary.p50)} ms, p99 ${fmt(none.p99)} / ${fmt(bareSummary.p99)} / ${fmt(oursSummary.p99)} ms`,
      ]);
    }
    return results;
  } finally {
    if (bare) await stopServer(bare);
    await harness.stop();
  }
}

/** Our webhook as the harness started it: its URL and CA from its start-up log lines. */
function ourWebhook(harness: Harness): { url: string; caBundle: string } {
  const lines = harness.webhookLog();
  const serving = lines.find((line) => String(line.msg).startsWith('entra-rbac-guard is serving'));
  const caLine = lines.find((line) => typeof line['caCertificate'] === 'string');
  if (!serving || !caLine) throw new Error('the webhook did not log its URL and CA certificate path');
  return { url: String(serving['url']), caBundle: caBundleOf(String(caLine['caCertificate'])) };
}

function caBundleOf(path: string): string {
  return readFileSync(path).toString('base64');
}

/**
 * Two clients on the harness's admin kubeconfig, each with its own keep-alive dispatcher: client-node otherwise makes
 * a new connection pool per request, where client-go keeps its connections.
 */
function clientFor(harness: Harness): { sequential: RbacAuthorizationV1Api; parallel: RbacAuthorizationV1Api } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(harness.kubeconfig);
  const make = (connections: number) => {
    const dispatcher = new Agent({
      connections,
      keepAliveTimeout: 60_000,
      connect: { ca: readFileSync(kubeConfig.getCurrentCluster()!.caFile!, 'utf8') },
    });
    const authentication = {
      getName: () => 'kubeconfig with a keep-alive dispatcher',
      applySecurityAuthentication: async (context: { setDispatcher(dispatcher: unknown): void }) => {
        await kubeConfig.applySecurityAuthentication(context as never);
        context.setDispatcher(dispatcher);
      },
    };
    return new RbacAuthorizationV1Api(
      createConfiguration({ baseServer: new ServerConfiguration(harness.apiServerUrl, {}), authMethods: { default: authentication as never } }),
    );
  };
  return { sequential: make(1), parallel: make(PARALLEL) };
}

/** Creates every binding, `concurrency` at a time; per-create latency and the wall time of them all. */
async function createAll(client: RbacAuthorizationV1Api, names: readonly string[], concurrency: number): Promise<Timing> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      const started = performance.now();
      await client.createNamespacedRoleBinding({ namespace: NAMESPACE, body: roleBinding(name) });
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, totalMs: performance.now() - started };
}

/** Allowed by the default policy: an Entra group the snapshot knows, security-enabled, bound to ClusterRole view. */
function roleBinding(name: string, dryRunProbe = false): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: NAMESPACE, labels: { [LABEL]: dryRunProbe ? 'probe' : 'yes' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: groupId(0) }],
  };
}

let probes = 0;

/**
 * The API server reads webhook configurations through an informer, a moment after a change. A server-side dry-run
 * create per attempt shows which webhook, if any, it now calls: ours logs the name, the bare one counts reviews.
 */
async function untilServedBy(mode: WebhookMode, harness: Harness, client: RbacAuthorizationV1Api, bare: BenchServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const name = `bench-probe-${++probes}`;
    const bareBefore = await bareReviews(bare);
    await client.createNamespacedRoleBinding({ namespace: NAMESPACE, body: roleBinding(name, true), dryRun: 'All' });
    const byOurs = harness.decisions().some((line) => line['name'] === name);
    const byBare = (await bareReviews(bare)) > bareBefore;
    if ((mode === 'ours' && byOurs && !byBare) || (mode === 'bare' && byBare && !byOurs) || (mode === 'none' && !byOurs && !byBare)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`after 30 s the API server still did not call ${mode === 'none' ? 'no webhook' : `the ${mode} webhook`} alone`);
}

async function bareReviews(bare: BenchServer): Promise<number> {
  return ((await control(bare, '/bench/stats', 'GET')) as { count: number }).count;
}

async function deleteWebhookConfiguration(harness: Harness): Promise<void> {
  const result = await harness.kubectl(['delete', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '--ignore-not-found']);
  if (result.code !== 0) throw new Error(`deleting the ValidatingWebhookConfiguration failed: ${result.stderr}`);
}

function snapshotYaml(): string {
  const groups = snapshotGroups(1).map((group) => `  - {id: ${group.id}, displayName: "${group.displayName}", securityEnabled: true}`);
  return `groups:\n${groups.join('\n')}\n`;
}

function summarise(timings: readonly Timing[]): Summary {
  const all = timings.flatMap((timing) => timing.latencies).sort((a, b) => a - b);
  const at = (q: number) => all[Math.min(all.length - 1, Math.floor(q * all.length))] ?? 0;
  return {
    p50: at(0.5),
    p99: at(0.99),
    mean: all.reduce((sum, value) => sum + value, 0) / Math.max(1, all.length),
    totalMs: median(timings.map((timing) => timing.totalMs)),
  };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  return items.map((_, index) => items[(index + by) % items.length]!);
}

function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}
