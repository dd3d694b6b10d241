import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from '../policy/decision.ts';
import type { BreakerState } from '../directory/breaker.ts';

/**
 * Prometheus metrics, on a Registry that is passed around (never prom-client's global one), so tests and several
 * servers in one process do not share counters. `/metrics` serves `registry.metrics()` with `registry.contentType`.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Admission decisions by result (`allowed`, `denied`) and mode. */
  readonly decisions: Counter<'result' | 'mode'>;
  /** Violations by rule and effective action (`deny`, `warn`): a decision with two violations counts twice here. */
  readonly violations: Counter<'rule' | 'action'>;
  /** Reviews answered 429 without being judged because the webhook was overloaded, by reason (`event_loop_lag`). */
  readonly shed: Counter<'reason'>;
  /** Reviews answered 503 unread because the large bodies already being read used the budget (src/http/body-budget.ts). */
  readonly bodyBudgetRejected: Counter;
  /** Time to answer /validate, by result. */
  readonly requestDuration: Histogram<'result'>;
  /**
   * Directory lookups by outcome, one per group ID asked: `hit` (fresh cache entry), `stale` (expired entry served
   * while Graph failed), `miss` (answered by Graph), `error` (Graph could not answer) and `throttled` (Graph throttled,
   * or the breaker is holding calls back for a Retry-After). A stale answer is counted as `error`/`throttled` by the
   * Graph directory and as `stale` by the cache.
   */
  readonly directoryLookups: Counter<'outcome'>;
  /** Time of each Graph HTTP call, by operation (`group`, `batch`) and outcome (`ok`, `error`, `throttled`, `timeout`). */
  readonly directoryRequestDuration: Histogram<'operation' | 'outcome'>;
  /** Entries in the directory cache, fresh and expired-but-kept-for-stale-if-error. */
  readonly directoryCacheEntries: Gauge;
  /** 0 closed, 1 open, 2 half-open. */
  readonly directoryCircuitState: Gauge;
  /** 0 while the policy in force verifies groups and nothing can answer (no credentials, no snapshot); else 1. */
  readonly directoryConfigured: Gauge;
}

export type DirectoryLookupOutcome = 'hit' | 'stale' | 'miss' | 'error' | 'throttled';

const PREFIX = 'entra_rbac_guard_';

export interface MetricsOptions {
  readonly processMetrics?: boolean;
  /** Read at each scrape: why groups cannot be verified now, or undefined (the directory_configured gauge). */
  readonly directoryProblem?: () => string | undefined;
}

export function createMetrics(registry: Registry = new Registry(), options: MetricsOptions = {}): Metrics {
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  return {
    registry,
    decisions: new Counter({ name: `${PREFIX}admission_decisions_total`, help: 'Admission decisions, by result and policy mode.', labelNames: ['result', 'mode'] as const, registers }),
    violations: new Counter({ name: `${PREFIX}admission_violations_total`, help: 'Policy violations found, by rule and effective action.', labelNames: ['rule', 'action'] as const, registers }),
    shed: new Counter({
      name: `${PREFIX}admission_shed_total`,
      help: 'Reviews answered 429 without being judged because the webhook was overloaded, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    bodyBudgetRejected: new Counter({
      name: `${PREFIX}admission_body_budget_rejected_total`,
      help: 'Reviews answered 503 without being read because too many bytes of large request bodies were already in flight.',
      registers,
    }),
    requestDuration: new Histogram({
      name: `${PREFIX}admission_request_duration_seconds`,
      help: 'Time to answer an AdmissionReview, from decoded request to encoded answer.',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    directoryLookups: new Counter({ name: `${PREFIX}directory_lookups_total`, help: 'Group lookups, by outcome: hit, stale, miss, error, throttled.', labelNames: ['outcome'] as const, registers }),
    directoryRequestDuration: new Histogram({
      name: `${PREFIX}directory_request_duration_seconds`,
      help: 'Time of each Microsoft Graph call, by operation and outcome.',
      labelNames: ['operation', 'outcome'] as const,
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
      registers,
    }),
    directoryCacheEntries: new Gauge({ name: `${PREFIX}directory_cache_entries`, help: 'Groups held in the directory cache.', registers }),
    directoryCircuitState: new Gauge({ name: `${PREFIX}directory_circuit_state`, help: 'Circuit breaker in front of Microsoft Graph: 0 closed, 1 open, 2 half-open.', registers }),
    directoryConfigured: new Gauge({
      name: `${PREFIX}directory_configured`,
      help: 'Whether groups can be verified: 0 while the policy verifies groups and no directory is configured (reviews naming a group then follow directory.onError), else 1.',
      registers,
      collect() {
        this.set(options.directoryProblem?.() === undefined ? 1 : 0);
      },
    }),
  };
}

/** Counts one answered review. `mode` is the policy's (`enforce`, `audit`). */
export function observeDecision(metrics: Metrics, decision: Decision, mode: string, elapsedSeconds: number): void {
  const result = decision.allowed ? 'allowed' : 'denied';
  metrics.decisions.inc({ result, mode });
  for (const violation of decision.violations) metrics.violations.inc({ rule: violation.rule, action: violation.action });
  metrics.requestDuration.observe({ result }, elapsedSeconds);
}

export function circuitStateValue(state: BreakerState): number {
  return state === 'closed' ? 0 : state === 'open' ? 1 : 2;
}
