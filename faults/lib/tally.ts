/**
 * Counting a row of the table: every case is recorded with its latency and, when it went wrong, what went wrong.
 * `row()` gives the FaultRow; the first few problems are kept for the note and the log.
 */
import type { FaultRow } from '../scenario.ts';

export class Tally {
  cases = 0;
  failures = 0;
  worstMs = 0;
  readonly problems: string[] = [];

  record(ms: number, problem?: string): void {
    this.cases += 1;
    this.worstMs = Math.max(this.worstMs, ms);
    if (problem === undefined) return;
    this.failures += 1;
    if (this.problems.length < 5) this.problems.push(problem);
  }

  row(fault: string, note: string): FaultRow {
    const failed = this.problems.length > 0 ? `; FAILED, first: ${this.problems[0]!.slice(0, 300)}` : '';
    return { fault, cases: this.cases, survived: this.cases - this.failures, worstLatencyMs: this.worstMs, note: `${note}${failed}` };
  }
}

/** Runs `work` on every item with at most `concurrency` at once, in order of the items. */
export async function forEachConcurrently<T>(items: Iterable<T>, concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** `work`, or a rejection naming the deadline when it takes longer than `ms` (a hang). */
export async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
