import type { Binding, RbacRole } from '../admission/types.ts';
import { judgeRbac, type CheckedObject, type RbacEntry } from '../check/judge.ts';
import type { Directory } from '../directory/port.ts';
import { ROLE_CACHE_SOURCE } from '../kube/role-cache.ts';
import type { Policy } from '../policy/model.ts';
import { policyReports, type PolicyReportObject, type ReportsApi } from '../report/policy-report.ts';
import type { AuditMetrics } from '../telemetry/audit-metrics.ts';
import { auditDirectory } from './audit-directory.ts';

/**
 * The continuous audit of `serve --audit-interval`: every interval, every Role, ClusterRole, RoleBinding and
 * ClusterRoleBinding in the role cache (the informers' copy: no list call) is judged with the same engine as
 * admission, and the gauges say what is wrong now. It catches what admission cannot: a group deleted in Entra, or
 * turned into a non-security group, after it was bound.
 *
 * Each round asks Microsoft Graph about every group again (refreshGroups), in $batch requests of 20, rather than
 * trusting the cache: a deleted group shows within one round, not when its cache entry expires (10 min by default),
 * and the webhook's cached answers are renewed on the way. The cost is ceil(groups / 20) Graph requests a round.
 * While Graph fails, the cache's stale-if-error answers stand in, as for admission.
 *
 * Rounds never overlap: the next is scheduled when one ends. A round is skipped (and retried within a second) until
 * the role cache has listed every kind, and while no policy is in force. A round that fails leaves the gauges as
 * they were; rounds_total{result="failed"} and last_success_timestamp_seconds tell.
 */
export interface AuditedObjects {
  /** True once every RBAC kind has been listed: before, the objects are not all there. */
  readonly synced: boolean;
  all(): { readonly roles: readonly RbacRole[]; readonly bindings: readonly Binding[] };
}

export type AuditLog = (level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;

export interface ContinuousAuditOptions {
  readonly intervalMs: number;
  readonly objects: AuditedObjects;
  /** The policy in force, or why there is none (e.g. the ConfigMap has not given a valid one yet). */
  readonly policy: () => Policy | { readonly unavailable: string };
  readonly directory: Directory | undefined;
  readonly metrics: AuditMetrics;
  readonly log: AuditLog;
  /** Writes the round's reports into the cluster (`--audit-write-reports`), built for its API (default wgpolicyk8s). */
  readonly reportWriter?: { readonly api?: ReportsApi; write(reports: readonly PolicyReportObject[]): Promise<unknown> } | undefined;
  /** Bounds a round's directory lookups. Default: the interval, and at least 5 minutes. */
  readonly roundTimeoutMs?: number;
  readonly now?: () => number;
}

export interface AuditSummary {
  readonly objects: ReadonlyMap<string, number>;
  readonly exempt: ReadonlyMap<string, number>;
  /** By `rule`, `namespace` and `action`. */
  readonly violations: readonly { readonly rule: string; readonly namespace: string; readonly action: string; readonly count: number }[];
  /** Of those, the violations a break-glass entry would exempt had it not expired: grants that outlived their window. */
  readonly expiredExemptions: readonly { readonly rule: string; readonly namespace: string; readonly count: number }[];
}

export type RoundOutcome =
  | { readonly result: 'ok'; readonly summary: AuditSummary; readonly checked: readonly CheckedObject[]; readonly groups: number }
  | { readonly result: 'skipped'; readonly reason: string }
  | { readonly result: 'failed'; readonly reason: string };

/** How soon a round skipped for want of a synced cache or a policy is tried again. */
const RETRY_SKIPPED_MS = 1_000;
const MIN_ROUND_TIMEOUT_MS = 5 * 60_000;
const STOP_WAIT_MS = 2_000;

export class ContinuousAudit {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RoundOutcome> | undefined;
  private readonly stopping = new AbortController();
  private lastSkip: string | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ContinuousAuditOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The first round starts at once (or as soon as the role cache is synced); the next an interval after each start. */
  start(): void {
    this.schedule(0);
  }

  /**
   * No further rounds; a round under way stops waiting for the directory and publishes nothing. Waits for it at
   * most STOP_WAIT_MS: a PolicyReport write to an API server that does not answer must not hold up a shutdown.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_WAIT_MS);
      timer.unref();
    });
    await Promise.race([this.running, waited]);
    clearTimeout(timer);
  }

  /** One round, now. A round already under way is not doubled: its outcome is returned instead. */
  runRound(): Promise<RoundOutcome> {
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const started = this.now();
    const outcome = await this.runRound();
    const waitingToStart = outcome.result === 'skipped';
    this.schedule(waitingToStart ? Math.min(RETRY_SKIPPED_MS, this.options.intervalMs) : Math.max(0, this.options.intervalMs - (this.now() - started)));
  }

  private async round(): Promise<RoundOutcome> {
    const { metrics, log } = this.options;
    const policy = this.policyToAuditWith();
    if ('skip' in policy) {
      metrics.rounds.inc({ result: 'skipped' });
      if (policy.skip !== this.lastSkip) log('info', {}, `audit round skipped: ${policy.skip}; trying again shortly`);
      this.lastSkip = policy.skip;
      return { result: 'skipped', reason: policy.skip };
    }
    this.lastSkip = undefined;
    const started = this.now();
    let outcome: RoundOutcome;
    try {
      outcome = await this.judge(policy);
    } catch (error) {
      outcome = { result: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
    if (this.stopping.signal.aborted) return { result: 'skipped', reason: 'the audit was stopped' };
    if (outcome.result === 'failed') {
      metrics.rounds.inc({ result: 'failed' });
      log('error', { error: outcome.reason }, 'audit round failed; the audit gauges keep the previous round');
      return outcome;
    }
    if (outcome.result !== 'ok') return outcome;
    const seconds = (this.now() - started) / 1000;
    publish(metrics, outcome.summary, outcome.groups, seconds, this.now());
    log('info', roundFields(outcome, seconds), 'audit round complete');
    if (this.options.reportWriter) await this.write(this.options.reportWriter, outcome.checked);
    return outcome;
  }

  private policyToAuditWith(): Policy | { readonly skip: string } {
    if (!this.options.objects.synced) return { skip: 'the role cache has not listed every RBAC kind from the API server yet' };
    let policy: ReturnType<ContinuousAuditOptions['policy']>;
    try {
      policy = this.options.policy();
    } catch (error) {
      policy = { unavailable: error instanceof Error ? error.message : String(error) };
    }
    return 'unavailable' in policy ? { skip: `no policy in force (${policy.unavailable})` } : policy;
  }

  private async judge(policy: Policy): Promise<RoundOutcome> {
    const { roles, bindings } = this.options.objects.all();
    const entries: RbacEntry[] = [...roles.map((role) => ({ source: 'cluster', role })), ...bindings.map((binding) => ({ source: 'cluster', binding }))];
    let groups = 0;
    const directory = this.options.directory && auditDirectory(this.options.directory, { refresh: true, onLookup: (count) => (groups += count) });
    const timeoutMs = this.options.roundTimeoutMs ?? Math.max(this.options.intervalMs, MIN_ROUND_TIMEOUT_MS);
    const timeout = AbortSignal.timeout(timeoutMs);
    const deadline = AbortSignal.any([timeout, this.stopping.signal]);
    const checked = await judgeRbac(entries, policy, directory, { rolesSource: ROLE_CACHE_SOURCE, complete: true, deadline, now: this.now() });
    // Facts cut short by the deadline would read as "directory unavailable" for every group: not a finding.
    if (timeout.aborted) return { result: 'failed', reason: `the directory lookups did not finish within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}` };
    return { result: 'ok', summary: summarize(checked), checked, groups };
  }

  private async write(writer: NonNullable<ContinuousAuditOptions['reportWriter']>, checked: readonly CheckedObject[]): Promise<void> {
    try {
      await writer.write(policyReports({ checked, skipped: 0 }, new Date(this.now()), writer.api));
    } catch (error) {
      this.options.log('warn', { error: error instanceof Error ? error.message : String(error) }, 'writing the PolicyReports failed; trying again next round');
    }
  }
}

/** Objects and exempt objects by kind, violations by rule, namespace and action. */
export function summarize(checked: readonly CheckedObject[]): AuditSummary {
  const objects = new Map<string, number>();
  const exempt = new Map<string, number>();
  const violations = new Map<string, { rule: string; namespace: string; action: string; count: number }>();
  const expired = new Map<string, { rule: string; namespace: string; count: number }>();
  for (const { object, decision } of checked) {
    objects.set(object.kind, (objects.get(object.kind) ?? 0) + 1);
    if (decision.violations.length === 0 && decision.exemption) exempt.set(object.kind, (exempt.get(object.kind) ?? 0) + 1);
    for (const { rule, action, expiredExemption } of decision.violations) {
      const key = `${rule}\u0000${object.namespace}\u0000${action}`;
      const entry = violations.get(key) ?? { rule, namespace: object.namespace, action, count: 0 };
      entry.count += 1;
      violations.set(key, entry);
      if (!expiredExemption) continue;
      const lapsedKey = `${rule}\u0000${object.namespace}`;
      const lapsedEntry = expired.get(lapsedKey) ?? { rule, namespace: object.namespace, count: 0 };
      lapsedEntry.count += 1;
      expired.set(lapsedKey, lapsedEntry);
    }
  }
  return { objects, exempt, violations: [...violations.values()], expiredExemptions: [...expired.values()] };
}

/** Replaces the gauges with the round's figures in one synchronous step: a scrape never sees half of a round. */
function publish(metrics: AuditMetrics, summary: AuditSummary, groups: number, seconds: number, nowMs: number): void {
  metrics.violations.reset();
  for (const { rule, namespace, action, count } of summary.violations) metrics.violations.set({ rule, namespace, action }, count);
  metrics.expiredExemptions.reset();
  for (const { rule, namespace, count } of summary.expiredExemptions) metrics.expiredExemptions.set({ rule, namespace }, count);
  metrics.objects.reset();
  for (const [kind, count] of summary.objects) metrics.objects.set({ kind }, count);
  metrics.exemptObjects.reset();
  for (const [kind, count] of summary.exempt) metrics.exemptObjects.set({ kind }, count);
  metrics.groups.set(groups);
  metrics.roundDuration.set(seconds);
  metrics.lastSuccess.set(Math.floor(nowMs / 1000));
  metrics.rounds.inc({ result: 'ok' });
}

function roundFields(outcome: Extract<RoundOutcome, { result: 'ok' }>, seconds: number): Record<string, unknown> {
  const byRule: Record<string, number> = {};
  for (const { rule, count } of outcome.summary.violations) byRule[rule] = (byRule[rule] ?? 0) + count;
  const total = (counts: ReadonlyMap<string, number>) => [...counts.values()].reduce((sum, count) => sum + count, 0);
  return {
    objects: total(outcome.summary.objects),
    exempt: total(outcome.summary.exempt),
    violations: Object.values(byRule).reduce((sum, count) => sum + count, 0),
    violationsByRule: byRule,
    groups: outcome.groups,
    durationMs: Math.round(seconds * 1000),
  };
}
