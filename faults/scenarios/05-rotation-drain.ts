/**
 * Issue 8, item 5: rotation and drain, against the webhook as the image runs it (`dist/bin.js serve`):
 *
 * - Certificate rotation under load: the pair is a Secret volume (symlinks into `..data`, swapped atomically as the
 *   kubelet does) replaced several times while reviews flow over kept-alive connections and fresh TLS handshakes are
 *   made one after another: no review and no handshake may fail, and after each swap a new handshake must be shown
 *   the new certificate. Then the pair is rewritten in place by a naive tool, the certificate half-written for 3 s,
 *   then new certificate with the old key for 3 s: the webhook must keep serving the old pair until the new one is
 *   whole and matching.
 * - SIGTERM under load, with the default drain (10 s) and the Graph fake answering in 2 s (so reviews are in flight
 *   at every moment): /readyz must say 503 at once, reviews sent during the drain (as the API server keeps sending
 *   until the endpoint is gone) must all be judged and answered with `Connection: close`, reviews still in flight when
 *   the drain ends must be answered, and the process must exit 0 within the chart's grace period (30 s).
 * - Idle gaps: three kept-alive connections, each used, left idle 60, 89 and 95 s (the API server's idle timeout for
 *   webhook connections is 90 s; the webhook's keepAliveTimeout is 120 s), and used again: the same socket must carry
 *   the second review, with no reset. The three gaps run at once, alongside the rows above.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakes } from '../../test/fakes/harness.ts';
import { GROUP_ID } from '../../test/helpers.ts';
import { HttpsClient } from '../lib/client.ts';
import { cachedGroupReview, freshGroupReview, sendReview, startLoad, type Sent } from '../lib/drain-load.ts';
import { spawnServe, waitForLine, type ServeProcess } from '../lib/drain-serve.ts';
import { SecretVolume, certificateSeries, fingerprint, handshakeFingerprint } from '../lib/drain-tls.ts';
import type { LogLine } from '../lib/webhook.ts';
import { answerProblem, wellBehavedReview } from '../lib/reviews.ts';
import { defineScenario, type FaultRow, type ScenarioContext } from '../scenario.ts';

/** The chart's default terminationGracePeriodSeconds. */
const GRACE_MS = 30_000;
/** serve's default --drain-period. */
const DEFAULT_DRAIN_MS = 10_000;
/** How long the API server may keep sending after SIGTERM (endpoint removal propagating): within the drain. */
const SENDING_AFTER_SIGTERM_MS = 8_000;
const GRAPH_LATENCY_MS = 2_000;
const IDLE_GAPS_S = [60, 89, 95] as const;
const RELOADED = 'TLS certificate reloaded from disk';
const NOT_LOADED = 'TLS certificate change could not be loaded; still serving the previous one';

export default defineScenario({
  name: 'Rotation and drain',
  async run(context) {
    // The idle gaps take 95 s whatever happens: they run alongside the other rows, on a webhook of their own.
    const idle = idleGaps(context).catch((error: Error): FaultRow => ({ fault: 'keep-alive idle gaps', cases: 1, survived: 0, note: `scenario error: ${error.message}` }));
    try {
      const rows = await rotation(context);
      rows.push(...(await sigterm(context)));
      rows.push(await idle);
      return rows;
    } finally {
      await idle;
    }
  },
});

// --- certificate rotation ---------------------------------------------------------------------------------------

interface Handshake {
  readonly at: number;
  readonly fingerprint?: string;
  readonly error?: string;
}

async function rotation(context: ScenarioContext): Promise<FaultRow[]> {
  const swaps = context.quick ? 3 : 10;
  const { ca, pairs } = await certificateSeries(swaps + 2);
  const dir = mkdtempSync(join(tmpdir(), 'erg-faults-rotation-'));
  const volume = new SecretVolume(join(dir, 'tls'));
  volume.init(pairs[0]!);
  const server = await spawnServe({ args: ['--tls-cert', volume.certPath, '--tls-key', volume.keyPath, '--log-level', 'info'], ca });
  const client = new HttpsClient(server.origin, { ca, maxSockets: 4 });
  const handshakes: Handshake[] = [];
  let handshaking = true;
  const handshakeLoop = (async () => {
    while (handshaking) {
      const at = performance.now();
      try {
        handshakes.push({ at, fingerprint: await handshakeFingerprint(server.origin, ca) });
      } catch (error) {
        handshakes.push({ at, error: (error as Error).message });
      }
    }
  })();
  const load = startLoad(client, { workers: 4, review: cachedGroupReview, kind: 'keep-alive' });
  try {
    // Rotation 1: Secret volume swaps.
    const swapStarted = performance.now();
    const checks: string[] = [];
    const reloadDelays: number[] = [];
    for (let index = 1; index <= swaps; index += 1) {
      await sleep(1000);
      const reloads = countLines(server, RELOADED);
      const swappedAt = Date.now();
      volume.swap(pairs[index]!);
      const reloaded = await nextLine(server, RELOADED, reloads);
      reloadDelays.push(Number(reloaded['time']) - swappedAt);
      const seen = await handshakeFingerprint(server.origin, ca);
      if (seen !== fingerprint(pairs[index]!.cert)) checks.push(`after swap ${index}, a new handshake was shown ${seen}, not the new certificate`);
    }
    const swapEnded = performance.now();

    // Rotation 2: rewritten in place; the certificate half-written, then new certificate with the old key.
    await sleep(1000);
    const next = pairs[swaps + 1]!;
    const before = fingerprint(pairs[swaps]!.cert);
    const errorsBefore = countLines(server, NOT_LOADED);
    const inPlace = join(volume.dir, '..data');
    const inPlaceStarted = performance.now();
    writeFileSync(join(inPlace, 'tls.crt'), next.cert.slice(0, Math.floor(next.cert.length / 2)));
    await sleep(3000);
    const halfWritten = await handshakeFingerprint(server.origin, ca);
    if (halfWritten !== before) checks.push('with the certificate half-written, a new handshake was not shown the previous certificate');
    writeFileSync(join(inPlace, 'tls.crt'), next.cert);
    await sleep(3000);
    const mismatched = await handshakeFingerprint(server.origin, ca);
    if (mismatched !== before) checks.push('with the new certificate and the old key, a new handshake was not shown the previous certificate');
    const reloads = countLines(server, RELOADED);
    writeFileSync(join(inPlace, 'tls.key'), next.key);
    await nextLine(server, RELOADED, reloads);
    const whole = await handshakeFingerprint(server.origin, ca);
    if (whole !== fingerprint(next.cert)) checks.push('once the pair was whole, a new handshake was not shown the new certificate');
    const inPlaceEnded = performance.now();
    const refusedLoads = countLines(server, NOT_LOADED) - errorsBefore;

    const sent = await load.stop();
    handshaking = false;
    await handshakeLoop;
    const swapChecks = checks.filter((check) => check.startsWith('after swap'));
    const inPlaceChecks = checks.filter((check) => !check.startsWith('after swap'));
    return [
      rotationRow(
        `certificate rotation under load: Secret volume swapped ×${swaps}`,
        within(sent, swapStarted, swapEnded),
        handshakes.filter((handshake) => handshake.at >= swapStarted && handshake.at < swapEnded),
        swaps,
        swapChecks,
        `reloaded ${Math.min(...reloadDelays)}–${Math.max(...reloadDelays)} ms after each swap (polled every 2 s); a new handshake after each saw the new certificate`,
      ),
      rotationRow(
        'certificate rewritten in place: half-written 3 s, then new cert + old key 3 s',
        within(sent, inPlaceStarted, inPlaceEnded),
        handshakes.filter((handshake) => handshake.at >= inPlaceStarted && handshake.at < inPlaceEnded),
        3,
        inPlaceChecks,
        `${refusedLoads} incomplete pairs refused ("${NOT_LOADED.split(';')[0]}" logged), the previous certificate served meanwhile, the new one once whole`,
      ),
    ];
  } finally {
    handshaking = false;
    await load.stop();
    await handshakeLoop;
    client.close();
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rotationRow(fault: string, sent: readonly Sent[], handshakes: readonly Handshake[], checkCount: number, failedChecks: readonly string[], note: string): FaultRow {
  const failedReviews = sent.filter((review) => review.problem !== undefined);
  const failedHandshakes = handshakes.filter((handshake) => handshake.error !== undefined);
  const problems = [...failedChecks, ...failedReviews.map((review) => review.problem!), ...failedHandshakes.map((handshake) => `handshake: ${handshake.error}`)];
  const cases = sent.length + handshakes.length + checkCount;
  return {
    fault,
    cases,
    survived: cases - failedReviews.length - failedHandshakes.length - failedChecks.length,
    worstLatencyMs: Math.max(0, ...sent.map((review) => review.answeredAt - review.sentAt)),
    note: `${sent.length} reviews over kept-alive connections and ${handshakes.length} fresh handshakes, ${failedReviews.length + failedHandshakes.length} failed; ${note}${problems.length ? `; FAILED, first: ${problems[0]}` : ''}`,
  };
}

// --- SIGTERM ----------------------------------------------------------------------------------------------------

interface Probe {
  readonly path: '/readyz' | '/healthz';
  readonly at: number;
  readonly status: number;
}

async function sigterm(context: ScenarioContext): Promise<FaultRow[]> {
  const fakes = await startFakes([{ id: GROUP_ID, displayName: 'Payments Team', securityEnabled: true }]);
  let server: ServeProcess | undefined;
  try {
    // The default drain: no --drain-period.
    server = await spawnServe({ args: ['--log-level', 'info'], env: fakes.env });
    const live = server;
    const client = new HttpsClient(live.origin, { ca: live.ca, maxSockets: 8 });
    const probeClient = new HttpsClient(live.origin, { ca: live.ca, maxSockets: 1 });
    await sendReview(client, cachedGroupReview(), 'warm-up');
    fakes.graph.latencyMs = GRAPH_LATENCY_MS;
    const probes: Probe[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        for (const path of ['/readyz', '/healthz'] as const) {
          const answer = await probeClient.request('GET', path, undefined, { timeoutMs: 5000 });
          probes.push({ path, at: performance.now() - answer.ms, status: answer.status });
        }
        await sleep(100);
      }
    })();
    const fast = startLoad(client, { workers: 3, review: cachedGroupReview, kind: 'cached group' });
    const slow = startLoad(client, { workers: 3, review: freshGroupReview, kind: `new group (Graph answers in ${GRAPH_LATENCY_MS / 1000} s)` });
    await sleep(2000);

    const signalledAt = performance.now();
    const signalledEpoch = Date.now();
    live.signal('SIGTERM');
    // The last reviews the API server sends, 0.5 s before the drain ends: still waiting on Graph when it does.
    let lastSentAt = 0;
    const lastReviews = sleep(DEFAULT_DRAIN_MS - 500).then(() => {
      lastSentAt = performance.now();
      return Promise.all(Array.from({ length: 3 }, () => sendReview(client, freshGroupReview(), 'in flight at the end of the drain')));
    });
    await sleep(SENDING_AFTER_SIGTERM_MS);
    const [fastSent, slowSent] = await Promise.all([fast.stop(), slow.stop()]);
    const sent = [...fastSent, ...slowSent];
    const last = await lastReviews;
    const exit = await Promise.race([live.exited, sleep(GRACE_MS).then(() => undefined)]);
    probing = false;
    await prober;
    client.close();
    probeClient.close();

    const drainOver = live.log().find((line) => String(line.msg).startsWith('drain over'));
    const drainEndedMs = drainOver ? Number(drainOver['time']) - signalledEpoch : undefined;
    // When the webhook handled the signal (a few ms after it was sent), on this process's clock.
    const shuttingDown = live.log().find((line) => line['signal'] === 'SIGTERM');
    const drainBeganAt = shuttingDown ? Number(shuttingDown['time']) - performance.timeOrigin : signalledAt;
    const beforeSignal = sent.filter((review) => review.sentAt < signalledAt);
    const duringDrain = [...sent.filter((review) => review.sentAt >= signalledAt), ...last];
    const problems: string[] = [];
    for (const review of [...beforeSignal, ...duringDrain]) if (review.problem) problems.push(`${review.kind}: ${review.problem}`);
    // An answer that left before the drain began may arrive just after it: 50 ms of slack.
    const kept = duringDrain.filter((review) => review.problem === undefined && review.answeredAt > drainBeganAt + 50 && review.connection !== 'close');
    for (const review of kept.slice(0, 3)) problems.push(`${review.kind}: answered ${((review.answeredAt - signalledAt) / 1000).toFixed(1)} s after SIGTERM without Connection: close`);
    const reviewsFailed = [...beforeSignal, ...duringDrain].filter((review) => review.problem !== undefined).length + kept.length;

    const readiness = probes.filter((probe) => probe.path === '/readyz');
    const firstAfter = readiness.find((probe) => probe.at >= drainBeganAt);
    const readyBefore = readiness.filter((probe) => probe.at < signalledAt).every((probe) => probe.status === 200);
    // Once closed, a probe finds no server (status 0): the pod is on its way out.
    const notReadyAfter = readiness.filter((probe) => probe.at >= drainBeganAt && probe.status !== 0).every((probe) => probe.status === 503);
    const liveDuring = probes.filter((probe) => probe.path === '/healthz' && probe.status !== 0).every((probe) => probe.status === 200);
    const lastAnsweredMs = Math.max(...last.map((review) => review.answeredAt - signalledAt));
    const exitMs = exit ? exit.at - signalledAt : undefined;
    const checks: Array<[boolean, string]> = [
      [readyBefore && firstAfter?.status === 503 && notReadyAfter, `readiness: 200 before SIGTERM, 503 from the first probe after it (${firstAfter ? `${(firstAfter.at - signalledAt).toFixed(0)} ms, HTTP ${firstAfter.status}` : 'no probe'})`],
      [liveDuring, '/healthz 200 throughout (the drain must not get the pod restarted)'],
      [duringDrain.some((review) => review.sentAt - signalledAt > SENDING_AFTER_SIGTERM_MS - 1000 && review.problem === undefined), 'reviews still judged late in the drain'],
      [drainEndedMs !== undefined && drainEndedMs >= DEFAULT_DRAIN_MS - 50, `the drain lasted the default ${DEFAULT_DRAIN_MS / 1000} s (ended at ${drainEndedMs} ms)`],
      [last.every((review) => review.problem === undefined) && drainEndedMs !== undefined && lastAnsweredMs > drainEndedMs, 'reviews in flight when the drain ended were answered after it'],
      [exit?.code === 0, `exit code 0 (got ${exit ? `${exit.code ?? exit.signal}` : `nothing within ${GRACE_MS / 1000} s`})`],
      [exitMs !== undefined && exitMs < GRACE_MS, `exit within the grace period (${GRACE_MS / 1000} s)`],
      [live.stderr() === '', 'nothing on standard error'],
    ];
    for (const [ok, what] of checks) if (!ok) problems.push(`check failed: ${what}`);
    context.log(`SIGTERM: ${duringDrain.length} reviews during the drain; drain over at ${drainEndedMs} ms; last answered at ${lastAnsweredMs.toFixed(0)} ms; exit ${exit?.code} at ${exitMs?.toFixed(0)} ms`);
    const all = [...beforeSignal, ...duringDrain];
    return [
      {
        fault: 'SIGTERM under load: reviews during the drain (default 10 s)',
        cases: all.length,
        survived: all.length - reviewsFailed,
        worstLatencyMs: Math.max(...all.map((review) => review.answeredAt - review.sentAt)),
        note:
          `${duringDrain.length} reviews sent after SIGTERM (for ${SENDING_AFTER_SIGTERM_MS / 1000} s, then 3 at ${((lastSentAt - signalledAt) / 1000).toFixed(1)} s), all judged, all with Connection: close; ` +
          `the 3 in flight at the drain's end (${drainEndedMs} ms) answered at ${lastAnsweredMs.toFixed(0)} ms` +
          (problems.length ? `; FAILED, first: ${problems[0]}` : ''),
      },
      {
        fault: 'SIGTERM: readiness first, exit 0 within the grace period',
        cases: checks.length,
        survived: checks.filter(([ok]) => ok).length,
        worstLatencyMs: exitMs,
        note: `/readyz 503 ${firstAfter ? `${(firstAfter.at - signalledAt).toFixed(0)} ms` : '?'} after SIGTERM, /healthz stays 200; drain ${drainEndedMs} ms; exit ${exit?.code ?? exit?.signal} at ${exitMs?.toFixed(0)} ms (grace ${GRACE_MS / 1000} s)${
          checks.some(([ok]) => !ok) ? `; FAILED: ${checks.filter(([ok]) => !ok).map(([, what]) => what).join('; ')}` : ''
        }`,
      },
    ];
  } finally {
    await server?.kill();
    await fakes.close();
  }
}

// --- idle gaps --------------------------------------------------------------------------------------------------

interface GapResult {
  readonly gapS: number;
  readonly firstPort: number | undefined;
  readonly secondPort: number | undefined;
  readonly reused: boolean;
  readonly problem: string | undefined;
  readonly ms: number;
}

async function idleGaps(context: ScenarioContext): Promise<FaultRow> {
  const server = await spawnServe({ args: ['--log-level', 'info'] });
  try {
    const results = await Promise.all(IDLE_GAPS_S.map((gapS) => idleGap(server, gapS)));
    for (const result of results) context.log(`idle ${result.gapS} s: local port ${result.firstPort} then ${result.secondPort}, reused ${result.reused}${result.problem ? `: ${result.problem}` : ''}`);
    const failed = results.filter((result) => result.problem !== undefined);
    return {
      fault: `keep-alive idle gaps ${IDLE_GAPS_S.join(' / ')} s (API server idles out at 90 s)`,
      cases: results.length,
      survived: results.length - failed.length,
      worstLatencyMs: Math.max(...results.map((result) => result.ms)),
      note: `one connection per gap, the second review on the same socket (local ports ${results.map((result) => result.firstPort).join(', ')}), no reset; keepAliveTimeout 120 s${
        failed.length ? `; FAILED: ${failed.map((result) => `${result.gapS} s: ${result.problem}`).join('; ')}` : ''
      }`,
    };
  } finally {
    await server.kill();
  }
}

async function idleGap(server: ServeProcess, gapS: number): Promise<GapResult> {
  const agent = new Agent({ ca: server.ca, keepAlive: true, maxSockets: 1 });
  try {
    const first = await post(server.origin, agent);
    if (first.problem) return { gapS, firstPort: first.localPort, secondPort: undefined, reused: false, problem: `first review: ${first.problem}`, ms: first.ms };
    await sleep(gapS * 1000);
    const second = await post(server.origin, agent);
    const problem =
      second.problem ??
      (!second.reused || second.localPort !== first.localPort ? `a new connection was opened (local port ${first.localPort} → ${second.localPort}): the idle one was closed` : undefined);
    return { gapS, firstPort: first.localPort, secondPort: second.localPort, reused: second.reused, problem, ms: Math.max(first.ms, second.ms) };
  } finally {
    agent.destroy();
  }
}

function post(origin: string, agent: Agent): Promise<{ localPort: number | undefined; reused: boolean; problem: string | undefined; ms: number }> {
  const review = wellBehavedReview();
  const body = JSON.stringify(review);
  const started = performance.now();
  return new Promise((resolve) => {
    let localPort: number | undefined;
    const req = httpsRequest(
      `${origin}/validate?timeout=10s`,
      { method: 'POST', agent, timeout: 15_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ localPort, reused: req.reusedSocket, problem: answerProblem({ status: res.statusCode ?? 0, body: text }, review['request']['uid']), ms: performance.now() - started }),
        );
      },
    );
    req.on('socket', (socket) => {
      localPort = socket.localPort;
      if (localPort === undefined) socket.once('connect', () => (localPort = socket.localPort));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', (error) => resolve({ localPort, reused: req.reusedSocket, problem: `${error.message} (${(error as NodeJS.ErrnoException).code ?? 'no code'})`, ms: performance.now() - started }));
    req.end(body);
  });
}

// --- helpers ----------------------------------------------------------------------------------------------------

function within(sent: readonly Sent[], from: number, to: number): Sent[] {
  return sent.filter((review) => review.sentAt >= from && review.sentAt < to);
}

/** The log line `message` once more than `seen` of them were logged: the next one. */
async function nextLine(server: ServeProcess, message: string, seen: number): Promise<LogLine> {
  await waitForLine(server.log(), () => countLines(server, message) > seen, server.alive, server.stderr, 10_000);
  return server.log().filter((line) => line.msg === message)[seen]!;
}

function countLines(server: ServeProcess, message: string): number {
  return server.log().filter((line) => line.msg === message).length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
