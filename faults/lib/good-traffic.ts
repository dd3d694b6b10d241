/**
 * Well-behaved reviews at a steady rate, as the API server sends them (POST /validate?timeout=10s over kept-alive
 * connections), while a scenario does something nasty: `startGoodTraffic(client)` … `await traffic.stop()` gives
 * every latency and every answer that failed the oracle of ./reviews.ts.
 *
 * `startGoodTrafficProcess(origin, ca)` does the same from a child process: when the attack itself keeps this
 * process busy (thousands of handshakes, megabytes to encrypt), latencies measured here would be the attacker's.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HttpsClient, latencySummary, type LatencySummary } from './client.ts';
import { answerProblem, wellBehavedReview } from './reviews.ts';

export interface GoodTrafficOptions {
  /** Reviews per second, all workers together (default 40). */
  readonly ratePerSecond?: number;
  /** Requests in flight at most (default 2): the connections the client keeps. */
  readonly concurrency?: number;
  /** A review with no answer after this long is a failure (default 10 s: the API server's default webhook timeout). */
  readonly timeoutMs?: number;
}

export interface GoodTrafficResult extends LatencySummary {
  readonly failed: number;
  /** The first few failures, as the oracle named them. */
  readonly problems: readonly string[];
  readonly latencies: readonly number[];
}

export interface GoodTraffic {
  stop(): Promise<GoodTrafficResult>;
}

export function startGoodTraffic(client: HttpsClient, options: GoodTrafficOptions = {}): GoodTraffic {
  const concurrency = options.concurrency ?? 2;
  const intervalMs = (1000 * concurrency) / (options.ratePerSecond ?? 40);
  const latencies: number[] = [];
  const problems: string[] = [];
  let failed = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const started = performance.now();
      const review = wellBehavedReview();
      const answer = await client.postJson('/validate?timeout=10s', review, { timeoutMs: options.timeoutMs ?? 10_000 });
      latencies.push(answer.ms);
      const problem = answerProblem(answer, review['request']['uid']);
      if (problem !== undefined) {
        failed += 1;
        if (problems.length < 5) problems.push(problem);
      }
      const pause = intervalMs - (performance.now() - started);
      if (running && pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    async stop() {
      running = false;
      await workers;
      return { ...latencySummary(latencies), failed, problems, latencies };
    },
  };
}

/** `p99 12.3 ms vs 4.1 ms without attack (×3.0)`: a phase's good-traffic p99 against the baseline's. */
export function p99Ratio(during: LatencySummary, baseline: LatencySummary): string {
  const ratio = baseline.p99 > 0 ? during.p99 / baseline.p99 : Number.NaN;
  return `p99 ${during.p99.toFixed(1)} ms vs ${baseline.p99.toFixed(1)} ms without attack (×${ratio.toFixed(1)})`;
}

/** What the parent sends the child: where to send reviews, and then `stop`. */
type ToChild = { readonly start: { readonly origin: string; readonly ca: string; readonly options: GoodTrafficOptions } } | { readonly stop: true };
/** What the child answers: `ready` once warmed up, then the result. */
type FromChild = { readonly ready: true } | GoodTrafficResult;

const WARM_UP_REQUESTS = 20;

/** Good traffic from a child process (this module, forked): its event loop is not the attacker's. */
export async function startGoodTrafficProcess(origin: string, ca: string, options: GoodTrafficOptions = {}): Promise<GoodTraffic> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const messages: FromChild[] = [];
  const next = () =>
    new Promise<FromChild>((resolve, reject) => {
      const queued = messages.shift();
      if (queued) return resolve(queued);
      child.once('message', () => resolve(messages.shift()!));
      void exited.then(() => reject(new Error('the good-traffic process exited early')));
    });
  child.on('message', (message: FromChild) => messages.push(message));
  child.send({ start: { origin, ca, options } } satisfies ToChild);
  // The child's own first requests (handshakes, JIT) are not the webhook's latency: it reports ready after them.
  await next();
  const result = new Promise<GoodTrafficResult>((resolve, reject) => {
    next().then((message) => resolve(message as GoodTrafficResult), reject);
  });
  result.catch(() => {});
  return {
    async stop() {
      child.send({ stop: true } satisfies ToChild);
      try {
        return await result;
      } finally {
        child.disconnect();
        await exited;
      }
    },
  };
}

/** Forked: runs good traffic from `start` to `stop`, and sends the result back. */
if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  let traffic: GoodTraffic | undefined;
  let client: HttpsClient | undefined;
  process.on('message', (message: ToChild) => {
    if ('start' in message) {
      const { origin, ca, options } = message.start;
      client = new HttpsClient(origin, { ca, maxSockets: options.concurrency ?? 2 });
      const warm = client;
      void (async () => {
        for (let index = 0; index < WARM_UP_REQUESTS; index++) await Promise.all([warm.postJson('/validate', wellBehavedReview()), warm.postJson('/validate', wellBehavedReview())]);
        traffic = startGoodTraffic(warm, options);
        process.send!({ ready: true } satisfies FromChild);
      })();
    } else {
      void traffic?.stop().then((result) => {
        client?.close();
        process.send!({ ...result, latencies: [] });
      });
    }
  });
}
