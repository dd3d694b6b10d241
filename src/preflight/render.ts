import type { CheckStatus } from './check.ts';
import type { PreflightReport } from './run-preflight.ts';

export const PREFLIGHT_OUTPUTS = ['table', 'json'] as const;
export type PreflightOutput = (typeof PREFLIGHT_OUTPUTS)[number];

export function isPreflightOutput(value: string): value is PreflightOutput {
  return (PREFLIGHT_OUTPUTS as readonly string[]).includes(value);
}

/** Named in the table's first lines. */
export interface PreflightContext {
  readonly cluster: string;
  readonly policySource: string;
  readonly mode: string;
  readonly directory: string;
}

export function renderPreflight(output: PreflightOutput, report: PreflightReport, context: PreflightContext): string {
  return output === 'json' ? preflightJson(report) : preflightTable(report, context);
}

/** `{checks: [{id, status, title, details, fix?}], summary: {pass, warn, fail}}`: the shape scripts rely on (docs/cli.md). */
export function preflightJson(report: PreflightReport): string {
  const checks = report.checks.map(({ id, status, title, details, fix }) => ({ id, status, title, details, ...(fix ? { fix } : {}) }));
  return `${JSON.stringify({ checks, summary: report.summary }, null, 2)}\n`;
}

const STATUS_WIDTH = 6;
const INDENT = ' '.repeat(STATUS_WIDTH);

/** One line a check (status, id, title), its details and what to do indented below it, then a verdict. */
export function preflightTable(report: PreflightReport, context: PreflightContext): string {
  const idWidth = Math.max(...report.checks.map((check) => check.id.length)) + 2;
  const lines = [
    `entra-rbac-guard preflight of ${context.cluster}`,
    `policy: ${context.policySource} (mode ${context.mode}); directory: ${context.directory}`,
    '',
  ];
  for (const check of report.checks) {
    lines.push(`${check.status.toUpperCase().padEnd(STATUS_WIDTH)}${check.id.padEnd(idWidth)}${check.title}`);
    for (const detail of check.details) lines.push(`${INDENT}${detail}`);
    if (check.fix) lines.push(`${INDENT}fix: ${check.fix}`);
  }
  const { pass, warn, fail } = report.summary;
  lines.push('', `${report.checks.length} checks: ${pass} pass, ${warn} warn, ${fail} fail. ${conclusion(report.summary)}`);
  return `${lines.join('\n')}\n`;
}

function conclusion(summary: Readonly<Record<CheckStatus, number>>): string {
  if (summary.fail > 0) return 'Not ready: fix what fails before az aks update --disable-local-accounts and before enforcing.';
  if (summary.warn > 0) return 'Nothing fails: read the warnings, then disable local accounts and enforce.';
  return 'Ready: local accounts can be disabled and the policy enforced.';
}
