import { loadDirectory } from '../src/config.ts';
import { buildServer } from '../src/http/server.ts';
import { generateSelfSigned } from '../src/http/tls.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import { startFakes } from '../test/fakes/harness.ts';
import { admissionReview, groupId, snapshotGroups } from './payloads.ts';

const GRAPH_LATENCY_MS = 50;
const SAMPLES = 9;

/**
 * The directory path when nothing is cached: the real Graph client and @azure/identity against the loopback fakes,
 * Graph answering after 50 ms. Each sample names groups never seen before.
 */
export async function measureColdDirectory(report: (row: string[]) => void): Promise<Record<string, number>> {
  const fakes = await startFakes(snapshotGroups(4000, 'c'));
  fakes.graph.latencyMs = GRAPH_LATENCY_MS;
  const { directory } = await loadDirectory(DEFAULT_POLICY, { env: { ...process.env, ...fakes.env } });
  const app = buildServer({ tls: await generateSelfSigned(), currentPolicy: () => DEFAULT_POLICY, directory });
  let next = 0;
  const review = (groups: number) => {
    const body = JSON.parse(admissionReview(groups + next, 'c'));
    body.request.object.subjects = body.request.object.subjects.slice(next);
    body.request.oldObject.subjects = [];
    next += groups;
    return body;
  };
  const timed = async (groups: number) => {
    const started = performance.now();
    const response = await app.inject({ method: 'POST', url: '/validate?timeout=10s', payload: review(groups) });
    if (response.json().response?.allowed !== true) throw new Error(`cold review of ${groups} groups was not allowed: ${response.body}`);
    return performance.now() - started;
  };
  try {
    await timed(1); // the token is fetched once, outside the samples
    const one: number[] = [];
    const ten: number[] = [];
    for (let sample = 0; sample < SAMPLES; sample++) {
      one.push(await timed(1));
      ten.push(await timed(10));
    }
    const m1 = median(one);
    const m10 = median(ten);
    report([`cold directory: 1 vs 10 never-seen groups (Graph +${GRAPH_LATENCY_MS} ms)`, `${m1.toFixed(1)} vs ${m10.toFixed(1)} ms`, `${(m10 / m1).toFixed(2)}× (target ≤ 1.5)`, '']);

    fakes.graph.resetCounters();
    const body = review(1);
    const answers = await Promise.all(Array.from({ length: 1000 }, () => app.inject({ method: 'POST', url: '/validate', payload: body })));
    const allowed = answers.filter((answer) => answer.json().response?.allowed === true).length;
    report([`cold directory: 1,000 concurrent reviews of one new group ${groupId(0, 'c').slice(0, 8)}…`, `${fakes.graph.calls} Graph request(s)`, '(target: exactly 1)', `${allowed}/1000 allowed`]);
    return { oneGroupMs: m1, tenGroupsMs: m10, ratio: m10 / m1, concurrentGraphCalls: fakes.graph.calls };
  } finally {
    await app.close();
    await fakes.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
