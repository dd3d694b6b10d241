/**
 * A review's deadline: the API server waits `?timeout=` for the webhook's answer (the webhook configuration's
 * timeoutSeconds) and then applies its failurePolicy. Everything that makes a review wait (directory lookups, the body
 * budget's queue, load shedding) sizes its wait from this.
 */

/** The API server's default webhook timeout when it does not send ?timeout=. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** The API server's shortest and largest webhook timeouts (timeoutSeconds is 1 to 30): others are not from it. */
export const MIN_TIMEOUT_MS = 1_000;
const MAX_TIMEOUT_MS = 30_000;

/** The webhook timeout the API server announced in `?timeout=Ns`, within 1 to 30 s; 10 s when absent or malformed. */
export function webhookTimeoutMs(timeout: string | undefined): number {
  const match = /^(\d+)s$/.exec(timeout ?? '');
  // Capped: ?timeout=10000000s would otherwise ask AbortSignal.timeout for more than it takes (2^32 - 1 ms) and throw.
  return match ? Math.max(MIN_TIMEOUT_MS, Math.min(Number(match[1]) * 1000, MAX_TIMEOUT_MS)) : DEFAULT_TIMEOUT_MS;
}

/** The query of a request, as Fastify parsed it: `?timeout=` is the only field read here. */
export function timeoutOf(query: unknown): string | undefined {
  const timeout = (query as { timeout?: unknown } | undefined)?.timeout;
  return typeof timeout === 'string' ? timeout : undefined;
}
