/**
 * Issue 8, item 2: slow and abusive clients against the webhook as production runs it (`serve` in its own process,
 * over TLS on loopback): slow-loris headers, slow bodies, 10,000 idle connections, oversized headers and bodies.
 *
 * Each attack runs while well-behaved reviews flow at a steady rate on kept-alive connections (as the API server
 * sends them); a row counts the attack's connections handled as the limit says (cut in time, refused, answered 4xx)
 * plus the good reviews answered correctly, and its note gives the good reviews' p99 against the same traffic
 * without attack. The limits are the production ones (src/http/server.ts): nothing is shortened for the test, so the
 * slow-body row waits out the 60 s request timeout.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { BODY_LIMIT_BYTES, HEADERS_TIMEOUT_MS, MAX_CONNECTIONS, REQUEST_TIMEOUT_MS, TIMEOUT_CHECK_INTERVAL_MS } from '../../src/http/server.ts';
import { HttpsClient, closedWithin, openTls, rawExchange, type LatencySummary, type RawAnswer } from '../lib/client.ts';
import { p99Ratio, startGoodTraffic, startGoodTrafficProcess, type GoodTrafficResult } from '../lib/good-traffic.ts';
import { answerProblem, wellBehavedReview } from '../lib/reviews.ts';
import { forEachConcurrently } from '../lib/tally.ts';
import { spawnWebhook, type WebhookProcess } from '../lib/webhook.ts';
import { defineScenario, type FaultRow } from '../scenario.ts';

interface Sizes {
  readonly baselineMs: number;
  readonly slowHeaders: number;
  readonly slowBodies: number;
  readonly idleAttempts: number;
  /** Requests per oversized variant and round. */
  readonly oversized: number;
  /** Oversized requests go on, round after round, at least this long (so that the good reviews' p99 means something). */
  readonly oversizedMs: number;
}

const QUICK: Sizes = { baselineMs: 5_000, slowHeaders: 500, slowBodies: 200, idleAttempts: 10_000, oversized: 10, oversizedMs: 5_000 };
const FULL: Sizes = { baselineMs: 15_000, slowHeaders: 900, slowBodies: 900, idleAttempts: 10_000, oversized: 30, oversizedMs: 15_000 };

/** A cut may come this much after timeout + check interval: the machine is shared and noisy. */
const SLACK_MS = 3_000;
const HEADERS_CUT_MS = HEADERS_TIMEOUT_MS + TIMEOUT_CHECK_INTERVAL_MS + SLACK_MS;
const REQUEST_CUT_MS = REQUEST_TIMEOUT_MS + TIMEOUT_CHECK_INTERVAL_MS + SLACK_MS;
/**
 * Hundreds of handshakes at once keep both cores busy, and the server's timeout check (a timer) runs late: idle
 * connections get 10 s of slack. That the timeout cut them shows in the 408 Node.js sends as it does.
 */
const IDLE_CUT_MS = HEADERS_TIMEOUT_MS + TIMEOUT_CHECK_INTERVAL_MS + 10_000;
const MiB = 1024 * 1024;

/** What an attack did to its own connections. */
interface AttackResult {
  readonly cases: number;
  readonly survived: number;
  readonly detail: string;
  readonly problems: readonly string[];
}

export default defineScenario({
  name: 'Slow and abusive clients',
  async run(context) {
    const sizes = context.quick ? QUICK : FULL;
    const webhook = await spawnWebhook();
    const client = new HttpsClient(webhook.origin, { ca: webhook.ca, maxSockets: 2 });
    const rows: FaultRow[] = [];
    try {
      // Warm up (JIT, the first TLS handshakes) so that the baseline is the steady state.
      await startGoodTraffic(client).stop();
      const baseline = await underAttack(webhook, () => sleep(sizes.baselineMs));
      context.log(`webhook: ${webhook.entry}; baseline: ${baseline.good.count} good reviews, p99 ${baseline.good.p99.toFixed(1)} ms, server RSS ${mb(baseline.rssPeak)}`);
      const attacks: [string, () => Promise<AttackResult>][] = [
        [`slow-loris: ${sizes.slowHeaders} connections trickling headers`, () => slowHeaders(webhook, sizes.slowHeaders)],
        [`slow bodies: ${sizes.slowBodies} connections trickling a body`, () => slowBodies(webhook, sizes.slowBodies)],
        [`${sizes.idleAttempts.toLocaleString('en')} idle TLS connections`, () => idleConnections(webhook, sizes.idleAttempts)],
        ['oversized headers (> 16 KiB)', () => oversizedHeaders(webhook, sizes)],
        ['oversized bodies (> 8 MiB)', () => oversizedBodies(webhook, sizes)],
      ];
      for (const [fault, attack] of attacks) {
        const started = performance.now();
        const phase = await underAttack(webhook, attack);
        const row = attackRow(fault, phase, baseline.good, baseline.rssPeak);
        rows.push(row);
        context.log(`${fault}: ${row.survived}/${row.cases} in ${((performance.now() - started) / 1000).toFixed(1)} s${phase.result.problems.length ? `; ${phase.result.problems[0]}` : ''}`);
      }
      rows.push(await afterwards(webhook, client));
    } finally {
      client.close();
      await webhook.stop();
    }
    return rows;
  },
});

// --- phases ------------------------------------------------------------------------------------------------------

interface Phase<T> {
  readonly result: T;
  readonly good: GoodTrafficResult;
  /** The webhook's largest resident memory while it ran, in bytes. */
  readonly rssPeak: number;
}

/**
 * Runs `attack` while good reviews flow from another process (so that their latency is the webhook's, not the
 * attacker's), sampling the webhook's memory.
 */
async function underAttack<T>(webhook: WebhookProcess, attack: () => Promise<T>): Promise<Phase<T>> {
  let rssPeak = webhook.rssBytes();
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, webhook.rssBytes())), 250);
  const traffic = await startGoodTrafficProcess(webhook.origin, webhook.ca);
  let result: T;
  try {
    result = await attack();
  } finally {
    clearInterval(sampler);
  }
  return { result, good: await traffic.stop(), rssPeak };
}

function attackRow(fault: string, phase: Phase<AttackResult>, baseline: LatencySummary, baselineRss: number): FaultRow {
  const { result, good } = phase;
  const goodNote = `good reviews ${p99Ratio(good, baseline)}, ${good.count} answered, ${good.failed} failed${good.problems[0] ? ` (${good.problems[0]})` : ''}`;
  return {
    fault,
    cases: result.cases + good.count,
    survived: result.survived + good.count - good.failed,
    worstLatencyMs: good.max,
    note: `${result.detail}; ${goodNote}; server RSS peak ${mb(phase.rssPeak)} (${mb(baselineRss)} without attack)${result.problems[0] ? `; FAILED, first: ${result.problems[0]}` : ''}`,
  };
}

// --- attacks -----------------------------------------------------------------------------------------------------

/** Connections that send a request line and then one header line a second, never finishing: cut by headersTimeout. */
async function slowHeaders(webhook: WebhookProcess, count: number): Promise<AttackResult> {
  return trickle(webhook, count, {
    head: 'POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n',
    drip: (tick) => `X-Slow-${tick}: a\r\n`,
    limitMs: HEADERS_CUT_MS,
    what: `a header line a second: cut by headersTimeout (${HEADERS_TIMEOUT_MS / 1000} s, checked every ${TIMEOUT_CHECK_INTERVAL_MS / 1000} s)`,
  });
}

/**
 * Complete headers announcing 10 kB, then one byte a second: cut by requestTimeout. Under the body budget's 256 KiB
 * (src/http/body-budget.ts): larger announced bodies are counted against that budget and, past it, refused at once.
 */
async function slowBodies(webhook: WebhookProcess, count: number): Promise<AttackResult> {
  return trickle(webhook, count, {
    head: 'POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{',
    drip: () => ' ',
    limitMs: REQUEST_CUT_MS,
    what: `a body byte a second: cut by requestTimeout (${REQUEST_TIMEOUT_MS / 1000} s)`,
  });
}

interface TrickleOptions {
  readonly head: string;
  readonly drip: (tick: number) => string;
  /** The connection must be closed, with a 408, within this long of opening. */
  readonly limitMs: number;
  readonly what: string;
}

async function trickle(webhook: WebhookProcess, count: number, options: TrickleOptions): Promise<AttackResult> {
  const open: { socket: TLSSocket; cut: ReturnType<typeof closedWithin> }[] = [];
  const problems: string[] = [];
  await forEachConcurrently(range(count), 50, async () => {
    try {
      const openedAt = performance.now();
      const socket = await openTls(webhook.origin, webhook.ca);
      const cut = closedWithin(socket, options.limitMs + 5_000, openedAt);
      socket.write(options.head);
      open.push({ socket, cut });
    } catch (error) {
      if (problems.length < 5) problems.push(`a connection could not be opened: ${(error as Error).message}`);
    }
  });
  let tick = 0;
  const dripping = setInterval(() => {
    tick += 1;
    for (const { socket } of open) if (!socket.destroyed) socket.write(options.drip(tick));
  }, 1_000);
  const cuts = await Promise.all(open.map(({ cut }) => cut));
  clearInterval(dripping);
  for (const { socket } of open) socket.destroy();
  const times: number[] = [];
  let survived = 0;
  for (const { ms, received } of cuts) {
    const answered408 = received.startsWith('HTTP/1.1 408');
    if (ms !== undefined && ms <= options.limitMs && answered408) {
      survived += 1;
      times.push(ms);
    } else if (problems.length < 5) {
      problems.push(ms === undefined ? `a connection was still open after ${(options.limitMs + 5_000) / 1000} s` : `closed after ${(ms / 1000).toFixed(1)} s with ${JSON.stringify(received.slice(0, 40))}`);
    }
  }
  const span = times.length ? `${(Math.min(...times) / 1000).toFixed(1)}–${(Math.max(...times) / 1000).toFixed(1)} s` : 'never';
  return { cases: count, survived, detail: `${options.what}; ${survived}/${count} answered 408 and closed ${span} after opening`, problems };
}

/** Idle connections being opened at once: enough to reach maxConnections before the first ones are cut. */
const IDLE_CONCURRENCY = 500;

/**
 * Connections that complete the TLS handshake and send nothing, opened 500 at a time until `attempts` were made:
 * at most MAX_CONNECTIONS are open at once (the rest are closed as they arrive), and each is cut by headersTimeout.
 */
async function idleConnections(webhook: WebhookProcess, attempts: number): Promise<AttackResult> {
  const problems: string[] = [];
  const cuts: ReturnType<typeof closedWithin>[] = [];
  let refused = 0;
  let serverSockets = 0;
  const sampler = setInterval(() => (serverSockets = Math.max(serverSockets, webhook.openSockets())), 500);
  await forEachConcurrently(range(attempts), IDLE_CONCURRENCY, async () => {
    try {
      const socket = await openTls(webhook.origin, webhook.ca);
      // Timed from the handshake's end, as the server times it (its HTTP parser starts then).
      cuts.push(closedWithin(socket, IDLE_CUT_MS + 5_000));
    } catch {
      refused += 1;
    }
  });
  const results = await Promise.all(cuts);
  clearInterval(sampler);
  let cutInTime = 0;
  let slowest = 0;
  for (const { ms, received } of results) {
    if (ms !== undefined && ms <= IDLE_CUT_MS && received.startsWith('HTTP/1.1 408')) {
      cutInTime += 1;
      slowest = Math.max(slowest, ms);
    } else if (problems.length < 5) {
      problems.push(ms === undefined ? `an idle connection was still open after ${(IDLE_CUT_MS + 5_000) / 1000} s` : `an idle connection closed after ${(ms / 1000).toFixed(1)} s with ${JSON.stringify(received.slice(0, 40))}`);
    }
  }
  // Besides connections, the server holds its listening socket and a few of its own (stdio pipes are not sockets).
  const overLimit = serverSockets > MAX_CONNECTIONS + 8;
  if (overLimit) problems.push(`the server held ${serverSockets} sockets at once, above maxConnections ${MAX_CONNECTIONS}`);
  const fresh = await freshConnectionAnswers(webhook);
  if (fresh) problems.push(`after the attack, a new connection: ${fresh}`);
  const survived = refused + cutInTime - (overLimit ? 1 : 0) - (fresh ? 1 : 0);
  return {
    cases: attempts,
    survived: Math.max(0, survived),
    detail:
      `${results.length} accepted (the server held at most ${serverSockets} sockets, maxConnections ${MAX_CONNECTIONS}), ${refused} closed on arrival; ` +
      `${cutInTime} answered 408 and closed by headersTimeout, the last ${(slowest / 1000).toFixed(1)} s after its handshake; a new connection answered afterwards; ulimit -n ${openFilesLimit()}`,
    problems,
  };
}

/** Header blocks past Node.js's 16 KiB maxHeaderSize: one big header, or thousands of small ones → 431 and close. */
async function oversizedHeaders(webhook: WebhookProcess, sizes: Sizes): Promise<AttackResult> {
  const variants: [string, string][] = [
    ['one 17 KiB header', `X-Big: ${'a'.repeat(17 * 1024)}\r\n`],
    ['one 1 MiB header', `X-Big: ${'a'.repeat(MiB)}\r\n`],
    ['3,000 small headers', Array.from({ length: 3_000 }, (_, index) => `X-H${index}: aaaa\r\n`).join('')],
  ];
  return exchanges(webhook, variants, sizes, ([, headers]) => ({ head: `POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}Content-Length: 2\r\n\r\n{}` }), 431, undefined, true);
}

/**
 * Bodies past the 8 MiB limit: declared, chunked, or declared and never sent → 413 with a JSON message, at once; or,
 * for chunked ones (counted as 8 MiB against the budget of large bodies in flight, src/http/body-budget.ts), 503 from
 * that budget when other large bodies already use it, also at once.
 */
async function oversizedBodies(webhook: WebhookProcess, sizes: Sizes): Promise<AttackResult> {
  const size = BODY_LIMIT_BYTES + MiB;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const chunks = (total: number, framed: boolean) =>
    function* () {
      for (let sent = 0; sent < total; sent += chunk.length) yield framed ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
      if (framed) yield '0\r\n\r\n';
    };
  const variants: [string, { head: string; body?: () => Iterable<Buffer | string> }][] = [
    ['9 MiB with Content-Length', { head: `POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, body: chunks(size, false) }],
    ['9 MiB chunked', { head: 'POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', body: chunks(size, true) }],
    ['Content-Length 1 GiB, never sent', { head: `POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${1024 * MiB}\r\n\r\n{` }],
  ];
  const budget = { status: 503, message: /large request bodies/, what: 'refused 503 by the body budget' };
  return exchanges(webhook, variants, sizes, ([, variant]) => variant, 413, /larger than the webhook accepts/, true, budget);
}

async function exchanges<V extends [string, unknown]>(
  webhook: WebhookProcess,
  variants: readonly V[],
  sizes: Sizes,
  request: (variant: V) => { head: string; body?: () => Iterable<Buffer | string> },
  status: number,
  message?: RegExp,
  resetCounts = false,
  alternative?: { readonly status: number; readonly message: RegExp; readonly what: string },
): Promise<AttackResult> {
  const problems: string[] = [];
  const worst = new Map<string, number>();
  let survived = 0;
  let reset = 0;
  let otherwise = 0;
  const round = variants.flatMap((variant) => Array.from({ length: sizes.oversized }, () => variant));
  const started = performance.now();
  let cases = 0;
  const send = async (variant: V) => {
    cases += 1;
    const { head, body } = request(variant);
    let answer: RawAnswer;
    try {
      answer = await rawExchange(webhook.origin, webhook.ca, head, body?.() ?? [], 15_000);
    } catch (error) {
      if (problems.length < 5) problems.push(`${variant[0]}: ${(error as Error).message}`);
      return;
    }
    worst.set(variant[0], Math.max(worst.get(variant[0]) ?? 0, answer.ms));
    if (answer.status === status && (message === undefined || message.test(answer.text))) survived += 1;
    else if (alternative && answer.status === alternative.status && alternative.message.test(answer.text)) {
      survived += 1;
      otherwise += 1;
    } else if (resetCounts && answer.status === 0 && answer.closed && answer.ms < 5_000) {
      // The server answered and closed with our body unread: the kernel then sends a reset, which can overtake
      // the answer. It refused the body all the same.
      survived += 1;
      reset += 1;
    } else if (problems.length < 5) problems.push(`${variant[0]}: ${answer.status === 0 ? 'no answer' : JSON.stringify(answer.text.slice(0, 160))}`);
  };
  do {
    await forEachConcurrently(round, 4, send);
  } while (performance.now() - started < sizes.oversizedMs);
  const timings = [...worst].map(([name, ms]) => `${name} ≤ ${ms.toFixed(0)} ms`).join(', ');
  const resets = reset > 0 ? `, ${reset} more closed by the server with the answer lost to the TCP reset that closing with unread data causes` : '';
  const others = otherwise > 0 && alternative ? `, ${otherwise} ${alternative.what}` : '';
  return { cases, survived, detail: `${survived - reset - otherwise}/${cases} answered ${status}${message ? ' with a JSON message' : ''}${others}${resets} (${timings})`, problems };
}

/** After every attack: the process lives, wrote nothing to stderr, and a new connection gets a review answered. */
async function afterwards(webhook: WebhookProcess, client: HttpsClient): Promise<FaultRow> {
  const checks: [string, string | undefined][] = [
    ['alive', webhook.alive() ? undefined : 'the webhook process exited'],
    ['stderr', webhook.stderr().trim() === '' ? undefined : `stderr: ${webhook.stderr().slice(0, 200)}`],
    ['fresh connection', await freshConnectionAnswers(webhook)],
    ['kept-alive connection', await answered(client)],
  ];
  const failed = checks.filter(([, problem]) => problem !== undefined);
  return {
    fault: 'webhook process after every attack above',
    cases: checks.length,
    survived: checks.length - failed.length,
    note: `alive, nothing on stderr, a new connection and a kept-alive one both answered; RSS ${mb(webhook.rssBytes())}, ${await heapFigures(client)} (${webhook.entry})${failed.length ? `; FAILED: ${failed.map(([, problem]) => problem).join('; ')}` : ''}`,
  };
}

// --- helpers -----------------------------------------------------------------------------------------------------

/** undefined when a review sent over a brand-new connection is answered well; otherwise what went wrong. */
async function freshConnectionAnswers(webhook: WebhookProcess): Promise<string | undefined> {
  const fresh = new HttpsClient(webhook.origin, { ca: webhook.ca, maxSockets: 1 });
  try {
    return await answered(fresh);
  } finally {
    fresh.close();
  }
}

/** undefined when `client` gets a review answered well; otherwise what went wrong. */
async function answered(client: HttpsClient): Promise<string | undefined> {
  const review = wellBehavedReview();
  return answerProblem(await client.postJson('/validate?timeout=10s', review), review['request']['uid']);
}

/** `V8 heap 52 of 110 MB used` from the webhook's own /metrics: whether what RSS holds is live JavaScript memory. */
async function heapFigures(client: HttpsClient): Promise<string> {
  const { status, body } = await client.request('GET', '/metrics');
  const metric = (name: string) => Number(new RegExp(`^entra_rbac_guard_${name} (\\S+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
  if (status !== 200) return `no /metrics (HTTP ${status})`;
  return `V8 heap ${mb(metric('nodejs_heap_size_used_bytes'))} of ${mb(metric('nodejs_heap_size_total_bytes'))} used`;
}

function openFilesLimit(): string {
  return /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unknown';
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

function mb(bytes: number): string {
  return `${Math.round(bytes / MiB)} MB`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
