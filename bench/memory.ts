import { control, load, type BenchServer } from './load.ts';
import { admissionReview } from './payloads.ts';
import { fmt, mib, type Row } from './report.ts';

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
}

/**
 * Part 6: our server's RSS and heap after a forced GC, after 10k reviews and after `reviews` in all (16 connections,
 * 10 subjects). A leak shows as growth between the two; the target is ≤ +10 % RSS.
 */
export async function measureMemory(server: BenchServer, reviews: number, report: (row: Row) => void): Promise<Record<string, number>> {
  const body = admissionReview(10);
  const afterGc = async () => (await control(server, '/bench/gc')) as Memory;
  const before = await afterGc();
  await load(server, body, 16, { amount: 10_000 });
  const after10k = await afterGc();
  await load(server, body, 16, { amount: Math.max(1, reviews - 10_000) });
  const afterAll = await afterGc();
  const growth = afterAll.rss / after10k.rss;
  report([
    `memory: RSS after 10k and after ${reviews / 1000}k reviews, after GC`,
    `${mib(after10k.rss)} → ${mib(afterAll.rss)} MiB`,
    `${fmt(growth, 3)}× (target ≤ 1.10)`,
    `heap after GC ${mib(after10k.heapUsed)} → ${mib(afterAll.heapUsed)} MiB (${mib(before.heapUsed)} before any review)`,
  ]);
  return {
    reviews,
    rssBefore: before.rss,
    rssAfter10k: after10k.rss,
    rssAfterAll: afterAll.rss,
    heapBefore: before.heapUsed,
    heapAfter10k: after10k.heapUsed,
    heapAfterAll: afterAll.heapUsed,
    growth,
  };
}
