/**
 * Audit scale (issue 7, part 5): RoleBindings synthesised at 1k, 10k and 50k, naming one distinct Entra group per
 * five bindings (2,000 groups at 10k), judged the way an audit round judges them: judgeRbac with the real Graph
 * directory from loadDirectory (@azure/identity, the Graph SDK, the cache) over the audit's directory view
 * (auditDirectory: slices of 80 groups, each asked of Graph again), against the loopback Entra and Graph fakes with
 * Graph answering after GRAPH_LATENCY_MS. Counted at the fake: HTTP requests (target for 2,000 groups: at most
 * 2,000 / 20 = 100). Measured: wall time, time per binding (linear growth means the ratio stays near 1), and the
 * process's RSS (peak, sampled every 10 ms) and its heap after a forced GC (with --expose-gc), after one round and,
 * at 10k, after four more rounds on the same directory.
 *
 * `node --import tsx bench/audit-scale.ts` prints the table (it re-runs itself with NODE_EXTRA_CA_CERTS set to the
 * fakes' CA when it is not); bench/run.ts can call runAuditScale() and put the figures in results.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Binding, RbacRole } from '../src/admission/types.ts';
import { auditDirectory } from '../src/audit/audit-directory.ts';
import { judgeRbac, type RbacEntry } from '../src/check/judge.ts';
import { loadDirectory } from '../src/config.ts';
import { MAX_BATCH_REQUESTS, MAX_GET_BY_IDS, type GroupLookup } from '../src/directory/graph.ts';
import type { Directory } from '../src/directory/port.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import type { FakeGroup } from '../test/fakes/graph-fake.ts';
import { startFakes } from '../test/fakes/harness.ts';
import { groupId } from './payloads.ts';

export interface AuditScaleOptions {
  /** Bindings per case; default 1,000, 10,000 and 50,000. */
  readonly sizes?: readonly number[];
  /** Bindings per distinct group; default 5 (2,000 groups for 10,000 bindings). */
  readonly bindingsPerGroup?: number;
  /** Graph's answer time at the fake; default 20 ms. */
  readonly graphLatencyMs?: number;
  /** Each printed line (default console.log); a no-op to stay quiet. */
  readonly print?: (line: string) => void;
  /** The policy's directory.lookup: batch ($batch of 20, the default) or getByIds (1,000 IDs a request). */
  readonly lookup?: GroupLookup;
}

export interface AuditScaleCase {
  readonly bindings: number;
  readonly groups: number;
  /** HTTP requests the Graph fake received ($batch and single GETs). */
  readonly graphRequests: number;
  readonly graphBatchRequests: number;
  /** ceil(groups / 20) with $batch, ceil(groups / 1,000) with getByIds: the fewest requests Graph's limits allow. */
  readonly graphRequestsMinimum: number;
  readonly wallMs: number;
  readonly microsPerBinding: number;
  readonly peakRssMb: number;
  /** RSS sampled during the case, minus RSS before it. */
  readonly rssGrowthMb: number;
  readonly rssGrowthBytesPerBinding: number;
  /** Heap in use after a forced GC once the case's results are dropped (only with --expose-gc). */
  readonly heapAfterGcMb: number | undefined;
  /** Groups the directory could not answer for (should be 0: every group is looked up in time). */
  readonly unavailableGroups: number;
  readonly violations: number;
  /** Heap after a forced GC after each further round on the same directory (a leak would make it climb). */
  readonly heapAfterLaterRoundsMb: readonly number[];
}

export interface AuditScaleResult {
  readonly lookup: GroupLookup;
  readonly graphLatencyMs: number;
  readonly cases: readonly AuditScaleCase[];
  /** Time per binding of each case over that of the smallest: about 1 when time grows linearly. */
  readonly timePerBindingRatios: Readonly<Record<string, number>>;
  /** The 10,000-binding case's Graph requests, against the target of 100 ($batch) or 2 (getByIds). */
  readonly graphRequestsAt10k: number | undefined;
}

const NAMESPACES_PER_1000 = 50;

export async function runAuditScale(options: AuditScaleOptions = {}): Promise<AuditScaleResult> {
  const sizes = options.sizes ?? [1_000, 10_000, 50_000];
  const perGroup = options.bindingsPerGroup ?? 5;
  const latencyMs = options.graphLatencyMs ?? 20;
  const print = options.print ?? ((line: string) => console.log(line));
  const lookup = options.lookup ?? 'batch';
  print(`audit scale, directory.lookup ${lookup}: Graph fake answering after ${latencyMs} ms; one distinct group per ${perGroup} bindings; Node.js ${process.version}`);
  // The first case pays for loading the Graph SDK and warming the JIT: run the smallest once before measuring.
  await measureCase(Math.min(...sizes), perGroup, latencyMs, lookup);
  const cases: AuditScaleCase[] = [];
  print(header());
  for (const size of sizes) {
    const result = await measureCase(size, perGroup, latencyMs, lookup, size === 10_000 ? 5 : 1);
    cases.push(result);
    print(row(result));
  }
  for (const result of cases.filter((each) => each.heapAfterLaterRoundsMb.length > 0)) {
    print(`${result.bindings.toLocaleString('en')} bindings, heap after GC after rounds 1 to ${result.heapAfterLaterRoundsMb.length + 1}: ${[result.heapAfterGcMb!, ...result.heapAfterLaterRoundsMb].map((mb) => mb.toFixed(1)).join(', ')} MiB (flat: nothing kept between rounds)`);
  }
  const base = cases[0]!;
  const timePerBindingRatios = Object.fromEntries(cases.map((result) => [`${result.bindings}`, result.microsPerBinding / base.microsPerBinding]));
  print(`time per binding, relative to ${base.bindings.toLocaleString('en')} bindings: ${cases.map((result) => `${result.bindings.toLocaleString('en')} → ${timePerBindingRatios[`${result.bindings}`]!.toFixed(2)}×`).join(', ')} (linear: about 1)`);
  const at10k = cases.find((result) => result.bindings === 10_000);
  if (at10k) print(`10,000 bindings naming ${at10k.groups.toLocaleString('en')} groups: ${at10k.graphRequests} Graph requests with ${lookup} (target ≤ ${lookup === 'getByIds' ? 2 : 100})`);
  return { lookup, graphLatencyMs: latencyMs, cases, timePerBindingRatios, graphRequestsAt10k: at10k?.graphRequests };
}

async function measureCase(size: number, perGroup: number, latencyMs: number, lookup: GroupLookup, rounds = 1): Promise<AuditScaleCase> {
  const groupCount = Math.ceil(size / perGroup);
  const fakes = await startFakes(fakeGroups(groupCount));
  try {
    const policy = { ...DEFAULT_POLICY, directory: { ...DEFAULT_POLICY.directory, lookup } };
    const { directory } = await loadDirectory(policy, { env: { ...process.env, ...fakes.env } });
    if (!directory) throw new Error('no directory: the fakes environment did not configure Microsoft Graph');
    // The token is fetched once by the first lookup; fetch it outside the measurement, as a running server has it.
    await directory.lookupGroups([groupId(0, 'a')]);
    fakes.graph.resetCounters();
    fakes.graph.latencyMs = latencyMs;
    const { wallMs, rssBefore, peak, unavailable, violations } = await judgeAll(synthesize(size, groupCount), directory);
    // Only what outlives a round is left now: the directory's cache, the fakes.
    const requests = { all: fakes.graph.calls, batch: fakes.graph.batchCalls };
    // The fake keeps a record of every request: clear it, so that the figures below are ours alone.
    fakes.graph.resetCounters();
    const heapAfterGcMb = collectGarbage() ? process.memoryUsage().heapUsed / 2 ** 20 : undefined;
    const heapAfterLaterRoundsMb: number[] = [];
    for (let round = 1; round < rounds && heapAfterGcMb !== undefined; round++) {
      await judgeAll(synthesize(size, groupCount), directory);
      fakes.graph.resetCounters();
      collectGarbage();
      heapAfterLaterRoundsMb.push(process.memoryUsage().heapUsed / 2 ** 20);
    }
    return {
      bindings: size,
      groups: groupCount,
      graphRequests: requests.all,
      graphBatchRequests: requests.batch,
      graphRequestsMinimum: Math.ceil(groupCount / (lookup === 'getByIds' ? MAX_GET_BY_IDS : MAX_BATCH_REQUESTS)),
      wallMs,
      microsPerBinding: (wallMs * 1000) / size,
      peakRssMb: peak / 2 ** 20,
      rssGrowthMb: (peak - rssBefore) / 2 ** 20,
      rssGrowthBytesPerBinding: (peak - rssBefore) / size,
      heapAfterGcMb,
      unavailableGroups: unavailable,
      violations,
      heapAfterLaterRoundsMb,
    };
  } finally {
    await fakes.close();
  }
}

/** One audit round's judging, timed, with RSS sampled every 10 ms; returns figures only, so the objects can go. */
async function judgeAll(entries: readonly RbacEntry[], directory: Directory) {
  collectGarbage();
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  const started = performance.now();
  const checked = await judgeRbac(entries, DEFAULT_POLICY, auditDirectory(directory, { refresh: true }), { rolesSource: 'the cluster', complete: true });
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const unanswered = checked.flatMap((entry) =>
    entry.decision.violations.filter((violation) => violation.rule === 'directory-unavailable').map((violation) => violation.subject.name),
  );
  const violations = checked.reduce((sum, entry) => sum + entry.decision.violations.length, 0);
  return { wallMs, rssBefore, peak, unavailable: new Set(unanswered).size, violations };
}

/**
 * `size` RoleBindings over 50 namespaces per 1,000, each binding one group (and every fourth a second one), plus
 * the ClusterRoles they reference. Of the groups, 1 in 50 does not exist and 1 in 50 is not security-enabled, so
 * the rules have something to find.
 */
function synthesize(size: number, groupCount: number): RbacEntry[] {
  const roles: RbacRole[] = ['view', 'edit', 'admin'].map((name) => ({
    kind: 'ClusterRole',
    namespace: '',
    name,
    labels: {},
    rules: [{ apiGroups: [''], resources: ['pods', 'configmaps'], resourceNames: [], nonResourceURLs: [], verbs: name === 'view' ? ['get', 'list'] : ['get', 'list', 'create', 'update'] }],
  }));
  const namespaces = Math.max(1, Math.round((size / 1000) * NAMESPACES_PER_1000));
  const group = (index: number) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: groupId(index % groupCount, 'a') });
  const bindings: Binding[] = Array.from({ length: size }, (_, index) => ({
    kind: 'RoleBinding',
    namespace: `team-${index % namespaces}`,
    name: `binding-${index}`,
    subjects: index % 4 === 0 ? [group(index), group(index * 7 + 3)] : [group(index)],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roles[index % roles.length]!.name },
  }));
  return [...roles.map((role) => ({ source: 'cluster', role })), ...bindings.map((binding) => ({ source: 'cluster', binding }))];
}

function fakeGroups(count: number): FakeGroup[] {
  return Array.from({ length: count }, (_, index) => index)
    .filter((index) => index % 50 !== 7)
    .map((index) => ({ id: groupId(index, 'a'), displayName: `Team ${index}`, securityEnabled: index % 50 !== 13 }));
}

/** Runs a full GC when the process was started with --expose-gc; says whether it could. */
function collectGarbage(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return gc !== undefined;
}

function header(): string {
  return ['bindings', 'groups', 'Graph requests (min)', 'wall', 'per binding', 'peak RSS', 'RSS growth', 'per binding', 'heap after GC', 'unanswered'].map((cell, index) => pad(cell, index)).join('  ');
}

function row(result: AuditScaleCase): string {
  return [
    result.bindings.toLocaleString('en'),
    result.groups.toLocaleString('en'),
    `${result.graphRequests} (${result.graphRequestsMinimum})`,
    `${(result.wallMs / 1000).toFixed(2)} s`,
    `${result.microsPerBinding.toFixed(1)} µs`,
    `${result.peakRssMb.toFixed(0)} MiB`,
    `${result.rssGrowthMb.toFixed(0)} MiB`,
    `${(result.rssGrowthBytesPerBinding / 1024).toFixed(2)} KiB`,
    result.heapAfterGcMb === undefined ? 'n/a' : `${result.heapAfterGcMb.toFixed(0)} MiB`,
    String(result.unavailableGroups),
  ]
    .map((cell, index) => pad(cell, index))
    .join('  ');
}

const WIDTHS = [8, 6, 20, 8, 11, 8, 10, 11, 13, 10];

function pad(cell: string, index: number): string {
  return cell.padStart(WIDTHS[index] ?? cell.length);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ca = fileURLToPath(new URL('../test/fakes/.ca/ca.crt', import.meta.url));
  if (process.env['NODE_EXTRA_CA_CERTS'] !== ca) {
    // Node reads the extra CA only at start: run again with it, and with --expose-gc for the heap figure.
    if (!existsSync(ca)) spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../test/fakes/make-ca.ts', import.meta.url))], { stdio: 'inherit' });
    const again = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, process.argv[1]], { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } });
    process.exit(again.status ?? 1);
  }
  await runAuditScale();
  console.log('');
  await runAuditScale({ lookup: 'getByIds', sizes: [1_000, 10_000, 50_000, 100_000] });
}
