/** A preflight check's verdict, and how findings of one check add up to it. */

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  /** Stable: scripts read it (`admin-groups`, `webhook-endpoints`, …). */
  readonly id: string;
  readonly status: CheckStatus;
  /** What is checked, in a few words. */
  readonly title: string;
  /** What was found, one line each. */
  readonly details: readonly string[];
  /** What to do, when the status is not pass. */
  readonly fix?: string;
}

/** One thing a check found: a line of its details, and what to do about it. */
export interface Finding {
  readonly status: CheckStatus;
  readonly detail: string;
  readonly fix?: string | undefined;
}

const SEVERITY: Readonly<Record<CheckStatus, number>> = { pass: 0, warn: 1, fail: 2 };

export function worst(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((worse, status) => (SEVERITY[status] > SEVERITY[worse] ? status : worse), 'pass');
}

export const pass = (detail: string): Finding => ({ status: 'pass', detail });
export const warn = (detail: string, fix: string): Finding => ({ status: 'warn', detail, fix });
export const fail = (detail: string, fix: string): Finding => ({ status: 'fail', detail, fix });

/**
 * The check's result: the worst status of its findings, every detail in order, and the distinct fixes of the
 * findings that did not pass. `notes` are details that say how to read the others; they never change the status.
 */
export function verdict(id: string, title: string, findings: readonly Finding[], notes: readonly string[] = []): CheckResult {
  const status = worst(findings.map((finding) => finding.status));
  const fixes = [...new Set(findings.filter((finding) => finding.status !== 'pass' && finding.fix).map((finding) => finding.fix!))];
  return {
    id,
    status,
    title,
    details: [...findings.map((finding) => finding.detail), ...notes],
    ...(status !== 'pass' && fixes.length > 0 ? { fix: fixes.join(' ') } : {}),
  };
}
