/**
 * `make bench`: what the webhook costs next to the limit, measured side by side in one run and reported as ratios.
 * Prints the machine and the headline ratios first, then the table; writes bench/results.json.
 *
 * Knobs: BENCH_QUICK=1 (a short run: fewer seconds, rounds, reviews and creates), BENCH_SECONDS (per load run,
 * default 5), BENCH_ROUNDS (interleaved A/B rounds, default 3), BENCH_MEMORY_REVIEWS (default 100000),
 * BENCH_CREATES (RoleBindings per mode and round through the API server, default 200), BENCH_ONLY (a comma list of
 * parts: limit, engine, memory, cold-directory, apiserver, audit-scale; the others keep their figures in results.json).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { measureApiServer } from './apiserver.ts';
import { measureColdDirectory } from './cold-directory.ts';
import { measureEngine } from './engine.ts';
import { measureLimit, type LimitCase } from './limit.ts';
import { canPin, pinLoadGenerator, startServer, stopServer } from './load.ts';
import { measureMemory } from './memory.ts';
import { fmt, table, verdict, type Row } from './report.ts';

// Heap figures need a forced GC: run again with --expose-gc when started without it.
if (typeof globalThis.gc !== 'function') {
  const again = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(again.status ?? 1);
}

const QUICK = process.env['BENCH_QUICK'] === '1';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 2 : 5));
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
const MEMORY_REVIEWS = Number(process.env['BENCH_MEMORY_REVIEWS'] ?? (QUICK ? 30_000 : 100_000));
const CREATES = Number(process.env['BENCH_CREATES'] ?? (QUICK ? 48 : 200));
const PARTS = ['limit', 'engine', 'memory', 'cold-directory', 'apiserver', 'audit-scale'] as const;
type Part = (typeof PARTS)[number];
const ONLY = new Set((process.env['BENCH_ONLY'] ?? PARTS.join(',')).split(',').map((part) => part.trim()));
const runs = (part: Part) => ONLY.has(part);
const RESULTS = fileURLToPath(new URL('results.json', import.meta.url));

const machine = { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, pinned: canPin };
const machineLine =
  `machine: ${machine.cores} cores (${machine.cpu}), Node.js ${machine.node}; ` +
  (canPin ? 'servers pinned to core 0, load generator to core 1' : 'not pinned (no taskset)');
console.log(machineLine);
pinLoadGenerator();

const previous = ONLY.size < PARTS.length && existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
const results: Record<string, unknown> = {
  ...previous,
  machine,
  measuredAt: new Date().toISOString(),
  settings: { quick: QUICK, seconds: SECONDS, rounds: ROUNDS, memoryReviews: MEMORY_REVIEWS, creates: CREATES, parts: [...ONLY] },
};
const rows: Row[] = [];
/** Audit scale prints its own table: kept apart, printed after the main one. */
const auditLines: string[] = [];
const report = (row: Row) => {
  rows.push(row);
  console.log(row.filter(Boolean).join(' | '));
};

if (runs('limit') || runs('memory')) {
  const bare = await startServer('bare');
  const ours = await startServer('ours');
  try {
    if (runs('limit')) {
      results['limit'] = await measureLimit({ bare, ours, seconds: SECONDS, rounds: ROUNDS, subjects: [1, 10, 50], connections: [16, 64], report });
    }
    if (runs('memory')) results['memory'] = await measureMemory(ours, MEMORY_REVIEWS, report);
  } finally {
    await Promise.all([stopServer(bare), stopServer(ours)]);
  }
}
if (runs('engine')) results['engine'] = measureEngine(report);
if (runs('cold-directory')) results['coldDirectory'] = await measureColdDirectory(report);
if (runs('apiserver')) {
  results['apiServer'] = await measureApiServer({ creates: CREATES, rounds: ROUNDS, report });
}
if (runs('audit-scale')) results['auditScale'] = await auditScale();

writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\n${machineLine}\n\nheadline ratios:\n${headline(results).join('\n')}\n\n${table(rows)}\n`);
if (auditLines.length > 0) console.log(`${auditLines.join('\n')}\n`);
console.log('wrote bench/results.json');

/** Part 5 lives in bench/audit-scale.ts (runAuditScale); its figures go into results.json as they are. */
async function auditScale(): Promise<unknown> {
  const module = (await import('./audit-scale.ts')) as typeof import('./audit-scale.ts');
  const print = (line: string) => {
    auditLines.push(line);
    console.log(line);
  };
  const batch = await module.runAuditScale({ sizes: QUICK ? [1_000, 10_000] : [1_000, 10_000, 50_000], print });
  const getByIds = await module.runAuditScale({ lookup: 'getByIds', sizes: QUICK ? [1_000, 10_000] : [1_000, 10_000, 50_000, 100_000], print });
  return { ...batch, getByIds };
}

/** One line per target, from the figures in `all` (this run's, or a previous run's for parts not run now). */
function headline(all: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const limit = all['limit'] as Record<string, LimitCase> | undefined;
  if (limit) {
    const cases = Object.entries(limit);
    const worst = (pick: (value: LimitCase) => number, lowest: boolean) =>
      cases.reduce((found, entry) => ((lowest ? pick(entry[1]) < pick(found[1]) : pick(entry[1]) > pick(found[1])) ? entry : found));
    const [throughputCase, throughput] = worst((value) => value.throughputRatio, true);
    const [p99Case, p99] = worst((value) => value.p99Ratio, false);
    const [serverP99Case, serverP99] = worst((value) => value.serverP99Ratio, false);
    lines.push(
      `  throughput, ours / bare TLS limit: ${verdict(throughput.throughputRatio, '≥', 0.85)}, worst case (${throughputCase}); all: ${cases.map(([, value]) => fmt(value.throughputRatio)).join(', ')}`,
      `  p99, ours / bare (client side): ${verdict(p99.p99Ratio, '≤', 1.5)}, worst case (${p99Case}); in-server p99 worst ${fmt(serverP99.serverP99Ratio)}× (${serverP99Case})`,
      `  server CPU per review, ours / bare: ${cases.map(([, value]) => fmt(value.cpuRatio)).join(', ')}`,
    );
  }
  const api = all['apiServer'] as Record<string, { oursOverNone: number; oursOverBare: number; bareOverNone?: number }> | undefined;
  for (const run of ['sequential', 'parallel'] as const) {
    const figures = api?.[run];
    if (!figures) continue;
    lines.push(
      `  API server, ${run} creates: ours / no webhook ${verdict(figures.oursOverNone, '≤', 1.2)} (the bare webhook: ${fmt(figures.bareOverNone ?? NaN)}×); ` +
        `ours / bare webhook ${verdict(figures.oursOverBare, '≤', 1.05)}`,
    );
  }
  const cold = all['coldDirectory'] as { ratio: number; concurrentGraphCalls: number } | undefined;
  if (cold) lines.push(`  cold directory, 10 vs 1 new groups: ${verdict(cold.ratio, '≤', 1.5)}; 1,000 concurrent reviews of one new group: ${cold.concurrentGraphCalls} Graph request(s) (target 1)`);
  const audit = all['auditScale'] as { graphRequestsAt10k?: number; timePerBindingRatios?: Record<string, number> } | undefined;
  if (audit) {
    const linear = Object.entries(audit.timePerBindingRatios ?? {}).map(([size, ratio]) => `${size}: ${fmt(ratio)}×`).join(', ');
    lines.push(`  audit scale: ${audit.graphRequestsAt10k ?? 'n/a'} Graph requests for 10k bindings / 2,000 groups (target ≤ 100); time per binding vs 1k: ${linear} (linear ≈ 1)`);
  }
  const memory = all['memory'] as { growth: number; reviews: number } | undefined;
  if (memory) lines.push(`  memory, RSS after ${memory.reviews / 1000}k / after 10k reviews: ${verdict(memory.growth, '≤', 1.1)}`);
  return lines;
}
