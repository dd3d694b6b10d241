import type { FastifyInstance } from 'fastify';
import type { Counter } from 'prom-client';
import { bytesToReserve } from './body-budget.ts';
import { unjudgedStatus } from './errors.ts';
import { MIN_TIMEOUT_MS, timeoutOf, webhookTimeoutMs } from './review-deadline.ts';

/**
 * Load shedding: past saturation, /validate answers at once with an explicit refusal instead of queueing reviews
 * that would reach the API server after its timeout (docs/reliability.md, "Overload").
 *
 * The signal is event-loop lag: how late a timer fires. A saturated webhook runs one long turn of the loop after
 * another, and every review waits behind the turn, so the lag is roughly the time a review waits before anyone
 * looks at it. Reviews that wait on Microsoft Graph do not lag the loop (their wait is bounded by the lookup
 * deadline instead), so a slow directory never causes shedding.
 *
 * Shedding minds each review's deadline (`?timeout=`). A review seen at lag L has waited about L already and needs at
 * least two more turns (its body, its judgement): with a short timeout it is shed from L = timeout / 3 even below
 * --shed-lag. Large bodies (those the body budget counts) are never shed for lag: the budget already admits them one
 * budget's worth at a time, and queues the rest for as long as their deadline allows, so shedding them would refuse
 * reviews that could still be answered (12 concurrent UPDATEs of a 1.85 MiB RoleBinding were, before).
 */

/** How often the lag is sampled. A saturated loop fires the sampler once per (long) turn. */
const SAMPLE_INTERVAL_MS = 50;
/**
 * Each quieter sample halves the remembered lag: one long turn starts shedding at once, and shedding stops a couple of
 * samples after the loop is quick again (not on the first quick sample, which would let the backlog straight back in).
 */
const DECAY = 0.5;

/** The lag to act on, given the one remembered and a new sample: rises at once, falls by half per sample. */
export function nextLag(rememberedMs: number, sampleMs: number): number {
  return Math.max(sampleMs, rememberedMs * DECAY);
}

/** The lag from which a review with this timeout is shed: --shed-lag, or a third of the timeout if that is less. */
export function shedLagFor(maxLagMs: number, timeoutMs: number): number {
  return Math.min(maxLagMs, timeoutMs / 3);
}

/** Whether to shed: lag at or above the threshold for this timeout; a threshold of 0 turns shedding off. */
export function shouldShed(lagMs: number, maxLagMs: number, timeoutMs = Infinity): boolean {
  return maxLagMs > 0 && lagMs >= shedLagFor(maxLagMs, timeoutMs);
}

/** The shed answer's message: what happened, why it is safe to retry, and what an operator can change. */
export function shedMessage(lagMs: number, maxLagMs: number, timeoutMs = Infinity): string {
  const limitMs = shedLagFor(maxLagMs, timeoutMs);
  const knob =
    limitMs < maxLagMs ? `raise the webhook's timeoutSeconds (the limit is a third of this review's ${timeoutMs / 1000} s timeout)` : 'raise --shed-lag';
  return (
    `entra-rbac-guard is overloaded (event-loop lag ${Math.round(lagMs)} ms, limit ${Math.round(limitMs)} ms) and did not judge this review; ` +
    `retry the request. If this persists, add webhook replicas or CPU, or ${knob}`
  );
}

/**
 * The shed answer's body: a Kubernetes Status, which the API server's webhook client decodes, so its message is
 * what the user sees ("failed calling webhook …: entra-rbac-guard is overloaded …"); `statusCode` and `error` as in
 * every other error of the webhook. No Retry-After header: with one, the API server's client would sleep and retry
 * inside the webhook timeout, which is the slow answer shedding exists to avoid.
 */
export function shedBody(lagMs: number, maxLagMs: number, timeoutMs = Infinity): Record<string, unknown> {
  return unjudgedStatus(429, shedMessage(lagMs, maxLagMs, timeoutMs));
}

/** Samples event-loop lag on an unref'd timer; `lagMs` is the lag to act on (see nextLag). */
export class LagMonitor {
  private remembered = 0;
  private expected = 0;
  private timer: NodeJS.Timeout | undefined;

  get lagMs(): number {
    return this.remembered;
  }

  start(): void {
    if (this.timer) return;
    this.expected = performance.now() + SAMPLE_INTERVAL_MS;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.remembered = nextLag(this.remembered, Math.max(0, now - this.expected));
      this.expected = now + SAMPLE_INTERVAL_MS;
    }, SAMPLE_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface LoadSheddingOptions {
  /** Event-loop lag (ms) from which POST /validate is shed; 0 turns shedding off. */
  readonly maxLagMs: number;
  /** Bodies above this many bytes are the body budget's and never shed (src/http/body-budget.ts); all are shed when omitted. */
  readonly largeBodyBytes?: number | undefined;
  /** Counts shed reviews (`entra_rbac_guard_admission_shed_total`); none when omitted. */
  readonly shed?: Counter<'reason'> | undefined;
  /** The lag source; a sampler of this process's event loop when omitted (tests hand in a fixed one). */
  readonly lag?: { readonly lagMs: number } | undefined;
  /** Called when shedding starts and when it stops, for one log line per episode rather than one per review. */
  readonly onChange?: ((shedding: boolean, lagMs: number, shedInEpisode: number) => void) | undefined;
}

/**
 * Sheds POST /validate in an onRequest hook, before its body is read or parsed (the cost shedding saves); the probes
 * and /metrics are never shed: readiness stays what the policy and drain say, so an overloaded pod is not taken out of
 * the Service (which would move its load to the other replicas, and overload them in turn).
 */
export function addLoadShedding(app: FastifyInstance, options: LoadSheddingOptions): void {
  if (options.maxLagMs <= 0) return;
  const own = options.lag ? undefined : new LagMonitor();
  const lag = options.lag ?? own!;
  own?.start();
  let shedding = false;
  let shedInEpisode = 0;
  // A callback hook, not an async one: it runs for every review, and a promise per review costs more than the check.
  // Answering from it means calling reply.send() and not done().
  const bodyLimitBytes = app.initialConfig.bodyLimit ?? Infinity;
  // Below this lag no review is shed, whatever its timeout (the API server's shortest is 1 s).
  const lowestLimitMs = shedLagFor(options.maxLagMs, MIN_TIMEOUT_MS);
  app.addHook('onRequest', (request, reply, done) => {
    const lagMs = lag.lagMs;
    // The usual case first: no overload, nothing to log. request.routeOptions builds an object on every read.
    if (lagMs < lowestLimitMs && !shedding) return done();
    if (request.method !== 'POST' || request.routeOptions.url !== '/validate') return done();
    if (options.largeBodyBytes !== undefined && bytesToReserve(request.headers, options.largeBodyBytes, bodyLimitBytes) > 0) return done();
    const timeoutMs = webhookTimeoutMs(timeoutOf(request.query));
    const shed = shouldShed(lagMs, options.maxLagMs, timeoutMs);
    if (shed !== shedding) {
      options.onChange?.(shed, lagMs, shedInEpisode);
      shedding = shed;
      shedInEpisode = 0;
    }
    if (!shed) return done();
    shedInEpisode += 1;
    options.shed?.inc({ reason: 'event_loop_lag' });
    reply.code(429).type('application/json').send(shedBody(lagMs, options.maxLagMs, timeoutMs));
  });
  app.addHook('onClose', async () => own?.stop());
}
