import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * What the continuous audit (`serve --audit-interval`) found in its last completed round. The gauges are replaced as a
 * whole at the end of each round, so a violation that is fixed, or an object that is deleted, leaves them; a round
 * that fails leaves them as they were (see `rounds` and `lastSuccess` to tell).
 */
export interface AuditMetrics {
  /** Violations present now, by rule, namespace ("" for cluster-scoped objects) and effective action. */
  readonly violations: Gauge<'rule' | 'namespace' | 'action'>;
  /** Violations a break-glass allow-list entry would exempt had it not expired, by rule and namespace. */
  readonly expiredExemptions: Gauge<'rule' | 'namespace'>;
  /** Objects judged in the last round, by kind. */
  readonly objects: Gauge<'kind'>;
  /** Objects exempt from the policy (bootstrap defaults, allow.namespaces…), by kind. */
  readonly exemptObjects: Gauge<'kind'>;
  /** Distinct Entra groups the last round asked the directory about. */
  readonly groups: Gauge;
  readonly roundDuration: Gauge;
  /** Unix time of the last round that completed. */
  readonly lastSuccess: Gauge;
  /** Rounds by result: `ok`, `failed`, `skipped` (role cache not synced yet, or no policy in force). */
  readonly rounds: Counter<'result'>;
}

const PREFIX = 'entra_rbac_guard_audit_';

export function createAuditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    violations: new Gauge({
      name: `${PREFIX}violations`,
      help: 'Policy violations of existing RBAC objects found by the last completed audit round, by rule, namespace ("" for cluster-scoped) and effective action.',
      labelNames: ['rule', 'namespace', 'action'] as const,
      registers,
    }),
    expiredExemptions: new Gauge({
      name: `${PREFIX}expired_exemptions`,
      help: 'Violations of existing RBAC objects that a break-glass allow-list entry exempted until it expired (grants that outlived their window), by rule and namespace.',
      labelNames: ['rule', 'namespace'] as const,
      registers,
    }),
    objects: new Gauge({ name: `${PREFIX}objects`, help: 'RBAC objects judged by the last completed audit round, by kind.', labelNames: ['kind'] as const, registers }),
    exemptObjects: new Gauge({
      name: `${PREFIX}exempt_objects`,
      help: 'RBAC objects exempt from the policy (bootstrap defaults, allow.namespaces…) in the last completed audit round, by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    groups: new Gauge({ name: `${PREFIX}groups`, help: 'Distinct Entra groups the last completed audit round looked up.', registers }),
    roundDuration: new Gauge({ name: `${PREFIX}round_duration_seconds`, help: 'Time the last completed audit round took, directory lookups included.', registers }),
    lastSuccess: new Gauge({ name: `${PREFIX}last_success_timestamp_seconds`, help: 'Unix time at which the last audit round completed.', registers }),
    rounds: new Counter({
      name: `${PREFIX}rounds_total`,
      help: 'Audit rounds, by result: ok, failed (the gauges keep the previous round), skipped (role cache not synced, or no policy in force).',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
