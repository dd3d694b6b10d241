/**
 * A circuit breaker in front of Microsoft Graph, so that no admission request ever waits out a Retry-After and a
 * failing Graph is not hammered by every review:
 *
 * - **Throttled** (429 with Retry-After): open for exactly that window. No call goes out during it; lookups answer
 *   `unavailable` at once with `Microsoft Graph is throttling (Retry-After Ns)`.
 * - **Failing** (5xx, timeouts, malformed answers, 429 without Retry-After): open with exponential backoff and equal
 *   jitter (half fixed, half random), capped at `maxBackoffMs` (60 s).
 * - After the window, **half-open**: one probe goes through while every other call is still refused. The probe's
 *   success closes the breaker; its failure opens it again with the next, longer backoff.
 *
 * No timers: the state is computed from the injected clock whenever a call asks, so nothing keeps the process alive.
 * Each admitted call holds a permit and reports its outcome on it; a late outcome of a call admitted before the
 * breaker opened neither closes nor extends an open breaker (except a longer Retry-After, which Graph asked for).
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  readonly now?: () => number;
  /** In [0, 1): the jitter. */
  readonly random?: () => number;
  /** The first failure's backoff before jitter; doubled on each further consecutive failure. Default 1 s. */
  readonly baseBackoffMs?: number;
  /** The longest backoff after a failure. Default 60 s. */
  readonly maxBackoffMs?: number;
  /** A Retry-After beyond this is cut to it, so a bogus header cannot switch the directory off for hours. Default 10 min. */
  readonly maxRetryAfterMs?: number;
  /**
   * Told about every state change, e.g. to export it as a metric or log it: `reason` as a refused call is told it,
   * `cause` what failed, without the wait (the same failure again has the same cause).
   */
  readonly onStateChange?: (state: BreakerState, reason: string, cause: string) => void;
}

export type Admission =
  | { readonly allowed: true; readonly permit: Permit }
  | { readonly allowed: false; readonly reason: string; readonly throttled: boolean };

export interface Permit {
  /** True for the single call let through after an open window. */
  readonly probe: boolean;
  succeeded(): void;
  /** A 429; returns the reason to give the lookups of this call. */
  throttled(retryAfterMs: number | undefined): string;
  /** A 5xx, timeout or malformed answer, described in `what` (e.g. `Microsoft Graph answered HTTP 503`); returns the reason. */
  failed(what: string): string;
  /** Neither: the caller gave up before an outcome (its own cancellation says nothing about Graph). */
  released(): void;
}

export class CircuitBreaker {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly onStateChange: CircuitBreakerOptions['onStateChange'];

  private openUntil = 0;
  private opened = false;
  private probeInFlight = false;
  private consecutiveFailures = 0;
  /** What opened the breaker: either the throttling text, or the failure with the time left appended per call. */
  private cause: { readonly throttled: true; readonly reason: string } | { readonly throttled: false; readonly what: string } | undefined;
  private lastReported: BreakerState = 'closed';

  constructor(options: CircuitBreakerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.baseBackoffMs = options.baseBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 600_000;
    this.onStateChange = options.onStateChange;
  }

  get state(): BreakerState {
    if (!this.opened) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Milliseconds until a probe may go out; 0 when closed or half-open. */
  get retryInMs(): number {
    return this.opened ? Math.max(0, this.openUntil - this.now()) : 0;
  }

  /** Asks to call Graph now. Refused calls must not touch the network. */
  admit(): Admission {
    const state = this.state;
    if (state === 'closed') return { allowed: true, permit: this.permit(false) };
    if (state === 'half-open' && !this.probeInFlight) {
      this.probeInFlight = true;
      this.report('half-open', 'probing Microsoft Graph');
      return { allowed: true, permit: this.permit(true) };
    }
    return { allowed: false, reason: this.refusalReason(), throttled: this.cause?.throttled ?? false };
  }

  private permit(probe: boolean): Permit {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (probe) this.probeInFlight = false;
      return true;
    };
    return {
      probe,
      succeeded: () => {
        if (!settle()) return;
        if (probe || !this.opened) this.close();
      },
      throttled: (retryAfterMs) => {
        // A call admitted before the breaker opened may still report: it counts only if it asks for a longer window.
        const fresh = settle();
        const counts = fresh && (probe || !this.opened);
        if (retryAfterMs === undefined) {
          const reason = 'Microsoft Graph is throttling (no Retry-After given)';
          if (counts) this.openWithBackoff(reason, true);
          return reason;
        }
        const window = Math.min(Math.max(0, retryAfterMs), this.maxRetryAfterMs);
        const reason = `Microsoft Graph is throttling (Retry-After ${Math.ceil(window / 1000)}s)`;
        if (counts || (fresh && this.opened && this.now() + window > this.openUntil)) {
          if (counts) this.consecutiveFailures += 1;
          this.open(this.now() + window, { throttled: true, reason });
        }
        return reason;
      },
      failed: (what) => {
        if (settle() && (probe || !this.opened)) this.openWithBackoff(what, false);
        return what;
      },
      released: () => {
        settle();
      },
    };
  }

  private openWithBackoff(what: string, throttled: boolean): void {
    this.consecutiveFailures += 1;
    const exponential = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** Math.min(this.consecutiveFailures - 1, 30));
    const backoff = Math.min(this.maxBackoffMs, exponential / 2 + this.random() * (exponential / 2));
    this.open(this.now() + backoff, throttled ? { throttled: true, reason: what } : { throttled: false, what });
  }

  private open(until: number, cause: NonNullable<CircuitBreaker['cause']>): void {
    this.opened = true;
    this.openUntil = until;
    this.cause = cause;
    this.report('open', this.refusalReason(), this.cause === undefined ? undefined : this.cause.throttled ? this.cause.reason : this.cause.what);
  }

  private close(): void {
    const wasOpen = this.opened;
    this.opened = false;
    this.openUntil = 0;
    this.consecutiveFailures = 0;
    this.cause = undefined;
    if (wasOpen) this.report('closed', 'Microsoft Graph answered again');
  }

  private refusalReason(): string {
    const cause = this.cause;
    if (!cause) return 'Microsoft Graph is not being called (circuit open)';
    if (cause.throttled) return cause.reason;
    const seconds = Math.max(1, Math.ceil(this.retryInMs / 1000));
    return this.probeInFlight
      ? `${cause.what}; Microsoft Graph is being probed before it is called again`
      : `${cause.what}; Microsoft Graph is not called again for ${seconds}s`;
  }

  private report(state: BreakerState, reason: string, cause = reason): void {
    if (state === this.lastReported && state !== 'open') return;
    this.lastReported = state;
    this.onStateChange?.(state, reason, cause);
  }
}

/**
 * Retry-After as milliseconds: delta-seconds (what Graph sends) or an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/^[A-Za-z]{3},? .* GMT$/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
