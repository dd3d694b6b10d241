/**
 * `make bench`: what the webhook costs next to the limit, measured side by side in one run and reported as ratios.
 * Prints the machine first, then a table; writes bench/results.json. Knobs: BENCH_SECONDS (per load run, default 5),
 * BENCH_ROUNDS (interleaved A/B rounds, default 3), BENCH_MEMORY_REVIEWS (default 100000).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { decodeAdmissionReview } from '../src/admission/decode.ts';
import { evaluate } from '../src/policy/engine.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import { directoryFacts } from './facts.ts';
import { measureColdDirectory } from './cold-directory.ts';
import { admissionReview } from './payloads.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const MEMORY_REVIEWS = Number(process.env['BENCH_MEMORY_REVIEWS'] ?? 100_000);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const canPin = hasTaskset();

interface Server {
  readonly port: number;
  readonly child: ChildProcess;
}

interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly serverP50: number;
  readonly serverP99: number;
  readonly errors: number;
}

const results: Record<string, unknown> = {
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, pinned: canPin },
  settings: { seconds: SECONDS, rounds: ROUNDS },
};
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), Node.js ${process.version}; server and load generator ${canPin ? 'pinned to cores 0 and 1' : 'not pinned (no taskset)'}`);
if (canPin) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

const rows: string[][] = [];
const bare = await startServer('bare');
const ours = await startServer('ours');
try {
  const limit: Record<string, unknown> = {};
  for (const subjects of [1, 10, 50]) {
    for (const connections of [16, 64]) {
      const body = admissionReview(subjects);
      const runs: { bare: LoadResult[]; ours: LoadResult[] } = { bare: [], ours: [] };
      for (let round = 0; round < ROUNDS; round++) {
        runs.bare.push(await load(bare, body, connections));
        runs.ours.push(await load(ours, body, connections));
      }
      const b = medianOf(runs.bare);
      const o = medianOf(runs.ours);
      const key = `${subjects} subjects, ${connections} connections`;
      limit[key] = { bare: b, ours: o, throughputRatio: o.rps / b.rps, p99Ratio: o.p99 / b.p99, serverP99Ratio: o.serverP99 / b.serverP99 };
      rows.push([
        `limit vs us: ${key} (${(Buffer.byteLength(body) / 1024).toFixed(1)} KiB)`,
        `${fmt(b.rps, 0)} vs ${fmt(o.rps, 0)} req/s`,
        `throughput ${fmt(o.rps / b.rps)}× (target ≥ 0.85)`,
        `p99 ${fmt(b.p99)} vs ${fmt(o.p99)} ms = ${fmt(o.p99 / b.p99)}× (target ≤ 1.5); in-server p99 ${fmt(b.serverP99, 3)} vs ${fmt(o.serverP99, 3)} ms`,
      ]);
      if (b.errors + o.errors > 0) rows.push(['  errors', `${b.errors} bare, ${o.errors} ours`, '', '']);
      printLast();
    }
  }
  results['limit'] = limit;

  results['engine'] = measureEngine();
  results['memory'] = await measureMemory(ours);
} finally {
  bare.child.kill('SIGTERM');
  ours.child.kill('SIGTERM');
}
results['coldDirectory'] = await measureColdDirectory((row) => {
  rows.push(row);
  printLast();
});
rows.push(['through a real API server', 'not measured yet', '', 'see docs/benchmarks.md']);
rows.push(['audit scale', 'not measured yet', '', 'see docs/benchmarks.md']);
printLast();
writeFileSync(`${HERE}results.json`, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\n${table(rows)}\nwrote bench/results.json`);

function measureEngine(): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const subjects of [1, 10, 50]) {
    const change = decodeAdmissionReview(JSON.parse(admissionReview(subjects)));
    const facts = directoryFacts(subjects);
    let count = 0;
    const until = performance.now() + 1000;
    while (performance.now() < until) {
      for (let i = 0; i < 100; i++) evaluate(change, DEFAULT_POLICY, facts);
      count += 100;
    }
    figures[`${subjects} subjects`] = count;
    rows.push([`engine alone: ${subjects} subjects (UPDATE, old and new judged)`, `${fmt(count, 0)} evaluations/s`, `${fmt(1e6 / count, 1)} µs each`, '']);
    printLast();
  }
  return figures;
}

async function measureMemory(server: Server): Promise<Record<string, number>> {
  const body = admissionReview(10);
  const gcRss = async () => ((await (await post(server, '/bench/gc')).json()) as { rss: number; heapUsed: number });
  await load(server, body, 16, 10_000);
  const after10k = await gcRss();
  await load(server, body, 16, MEMORY_REVIEWS - 10_000);
  const afterAll = await gcRss();
  const growth = afterAll.rss / after10k.rss;
  rows.push([
    `memory: RSS after 10k and after ${MEMORY_REVIEWS / 1000}k reviews (after GC)`,
    `${mib(after10k.rss)} → ${mib(afterAll.rss)} MiB`,
    `${fmt(growth, 3)}× (target ≤ 1.10)`,
    `heap ${mib(after10k.heapUsed)} → ${mib(afterAll.heapUsed)} MiB`,
  ]);
  printLast();
  return { rssAfter10k: after10k.rss, rssAfterAll: afterAll.rss, heapAfter10k: after10k.heapUsed, heapAfterAll: afterAll.heapUsed, growth };
}

async function startServer(kind: 'bare' | 'ours'): Promise<Server> {
  const node = process.execPath;
  const args = ['--expose-gc', '--import', 'tsx', `${HERE}servers.ts`, kind];
  const child = canPin ? spawn('taskset', ['-c', '0', node, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(node, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, child };
}

async function load(server: Server, body: string, connections: number, amount?: number): Promise<LoadResult> {
  await post(server, '/bench/reset');
  const result = await autocannon({
    url: `https://127.0.0.1:${server.port}/validate?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    ...(amount ? { amount } : { duration: SECONDS }),
  });
  const stats = (await (await post(server, '/bench/stats', 'GET')).json()) as { p50: number; p99: number };
  return {
    rps: amount ? result.requests.total / (result.duration || 1) : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverP50: stats.p50,
    serverP99: stats.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Control requests to the benchmark servers (their certificates are throwaway: not verified here). */
function post(server: Server, path: string, method = 'POST'): Promise<{ json(): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port: server.port, path, method, rejectUnauthorized: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ json: async () => JSON.parse(text) }));
    });
    request.on('error', reject);
    request.end();
  });
}

function medianOf(runs: LoadResult[]): LoadResult {
  const median = (pick: (run: LoadResult) => number) => {
    const values = runs.map(pick).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] ?? 0;
  };
  return {
    rps: median((run) => run.rps),
    p50: median((run) => run.p50),
    p99: median((run) => run.p99),
    serverP50: median((run) => run.serverP50),
    serverP99: median((run) => run.serverP99),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  };
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}

function printLast(): void {
  console.log(rows.at(-1)!.filter(Boolean).join(' | '));
}

function table(all: string[][]): string {
  const widths = [0, 1, 2, 3].map((column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
