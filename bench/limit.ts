import { load, medianOf, type BenchServer, type LoadResult } from './load.ts';
import { admissionReview } from './payloads.ts';
import { fmt, type Row } from './report.ts';

export interface LimitOptions {
  readonly bare: BenchServer;
  readonly ours: BenchServer;
  readonly seconds: number;
  readonly rounds: number;
  readonly subjects: readonly number[];
  readonly connections: readonly number[];
  readonly report: (row: Row) => void;
}

export interface LimitCase {
  readonly bare: LoadResult;
  readonly ours: LoadResult;
  /** ours / bare req/s: the target is ≥ 0.85. */
  readonly throughputRatio: number;
  /** ours / bare client-side p99 (autocannon, whole ms): the target is ≤ 1.5. */
  readonly p99Ratio: number;
  /** The same inside the servers (request hook to response hook), free of the load generator's own delays. */
  readonly serverP99Ratio: number;
  /** ours / bare server CPU time per review: what throughput is bound by once the server's core is saturated. */
  readonly cpuRatio: number;
}

/**
 * Part 1: the bare TLS limit against our webhook, same payloads, same connections, runs alternating bare, ours,
 * bare, ours… (a warm-up run each first); the median of the rounds is kept.
 */
export async function measureLimit(options: LimitOptions): Promise<Record<string, LimitCase>> {
  const { bare, ours, seconds, rounds, report } = options;
  const cases: Record<string, LimitCase> = {};
  for (const subjects of options.subjects) {
    const body = admissionReview(subjects);
    for (const connections of options.connections) {
      await load(bare, body, connections, { seconds: 1 });
      await load(ours, body, connections, { seconds: 1 });
      const runs: { bare: LoadResult[]; ours: LoadResult[] } = { bare: [], ours: [] };
      for (let round = 0; round < rounds; round++) {
        runs.bare.push(await load(bare, body, connections, { seconds }));
        runs.ours.push(await load(ours, body, connections, { seconds }));
      }
      const b = medianOf(runs.bare);
      const o = medianOf(runs.ours);
      const key = `${subjects} subjects, ${connections} connections`;
      const result: LimitCase = {
        bare: b,
        ours: o,
        throughputRatio: o.rps / b.rps,
        p99Ratio: o.p99 / b.p99,
        serverP99Ratio: o.serverP99 / b.serverP99,
        cpuRatio: o.cpuMicrosPerRequest / b.cpuMicrosPerRequest,
      };
      cases[key] = result;
      report([
        `limit vs us: ${key} (${(Buffer.byteLength(body) / 1024).toFixed(1)} KiB)`,
        `${fmt(b.rps, 0)} vs ${fmt(o.rps, 0)} req/s, CPU ${fmt(b.cpuMicrosPerRequest, 0)} vs ${fmt(o.cpuMicrosPerRequest, 0)} µs/review`,
        `throughput ${fmt(result.throughputRatio)}× (≥ 0.85), p99 ${fmt(result.p99Ratio)}× (≤ 1.5)`,
        `client p99 ${fmt(b.p99, 0)} vs ${fmt(o.p99, 0)} ms; in-server p50 ${fmt(b.serverP50, 3)} vs ${fmt(o.serverP50, 3)} ms, ` +
          `p99 ${fmt(b.serverP99, 3)} vs ${fmt(o.serverP99, 3)} ms = ${fmt(result.serverP99Ratio)}×` +
          (b.errors + o.errors > 0 ? `; ERRORS ${b.errors} bare, ${o.errors} ours` : ''),
      ]);
    }
  }
  return cases;
}
