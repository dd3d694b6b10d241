/**
 * `node --import tsx bench/profile.ts [bare|ours] [subjects] [seconds]`: records a V8 CPU profile of one benchmark
 * server (the profiler `--cpu-prof` uses, started after a warm-up so start-up is left out) while autocannon loads it
 * (16 connections, the bench's realistic review), then prints where its CPU time went per review: by package or
 * source file, and the heaviest functions (self and inclusive time). The .cpuprofile is kept for Chrome DevTools.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control, load, pinLoadGenerator, startServer, stopServer, type ServerKind } from './load.ts';
import { admissionReview } from './payloads.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
}

const kind = (process.argv[2] ?? 'ours') as ServerKind;
const subjects = Number(process.argv[3] ?? 10);
const seconds = Number(process.argv[4] ?? 8);

pinLoadGenerator();
const file = join(mkdtempSync(join(tmpdir(), 'erg-profile-')), `${kind}-${subjects}.cpuprofile`);
const server = await startServer(kind);
const body = admissionReview(subjects);
await load(server, body, 16, { seconds: 2 }); // warm-up: compiled code, filled caches
await control(server, '/bench/profile/start');
const result = await load(server, body, 16, { seconds });
await control(server, `/bench/profile/stop?to=${encodeURIComponent(file)}`);
await stopServer(server);
console.log(
  `${kind}, ${subjects} subjects, 16 connections: ${result.rps.toFixed(0)} req/s, ${result.cpuMicrosPerRequest.toFixed(0)} µs of server CPU per review, ` +
    `in-server p50 ${result.serverP50.toFixed(3)} ms, p99 ${result.serverP99.toFixed(3)} ms`,
);
summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, result.requests);
console.log(`\nprofile: ${file}`);

function summarise(profile: CpuProfile, requests: number): void {
  const msPerSample = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const area = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const key = frameKey(node);
    if (node.callFrame.functionName === '(idle)') {
      idle += hits;
      continue;
    }
    busy += hits;
    self.set(key, (self.get(key) ?? 0) + hits);
    area.set(areaOf(node), (area.get(areaOf(node)) ?? 0) + hits);
    // Inclusive: every distinct frame on the stack gets the hits once (recursion counted once).
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = frameKey(byId.get(id)!);
      if (!seen.has(frame)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + hits);
      seen.add(frame);
    }
  }
  const top = (map: Map<string, number>, count: number, filter: (key: string) => boolean = () => true) =>
    [...map.entries()]
      .filter(([key]) => filter(key))
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([key, hits]) => `  ${((100 * hits) / busy).toFixed(1).padStart(5)} %  ${((1000 * hits * msPerSample) / requests).toFixed(1).padStart(6)} µs/review  ${key}`)
      .join('\n');
  console.log(`\nbusy ${(busy * msPerSample).toFixed(0)} ms idle ${(idle * msPerSample).toFixed(0)} ms, ${requests} reviews`);
  console.log(`\nbusy time by area:\n${top(area, 20)}`);
  console.log(`\nheaviest functions, self time:\n${top(self, 30)}`);
  console.log(`\nheaviest functions, inclusive time (our source and fastify):\n${top(inclusive, 40, (key) => /src\/|fastify|pino|prom-client|light-my|json/.test(key))}`);
}

function frameKey(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
}

function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const source = /\/(src|bench)\/(.*)$/.exec(url);
  if (source) return `${source[1]}/${source[2]}`;
  return url.startsWith('node:') ? url : 'other';
}
