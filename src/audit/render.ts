import { stringify } from 'yaml';
import { auditTable, type AuditTableContext } from '../report/audit-table.ts';
import { jsonReport } from '../report/json.ts';
import { DEFAULT_REPORTS_API, policyReports, type ReportsApi } from '../report/policy-report.ts';
import { sarifReport } from '../report/sarif.ts';
import type { AuditOutcome } from './run-audit.ts';

export const AUDIT_OUTPUTS = ['table', 'json', 'sarif', 'policyreport', 'openreports'] as const;
export type AuditOutput = (typeof AUDIT_OUTPUTS)[number];

export function isAuditOutput(value: string): value is AuditOutput {
  return (AUDIT_OUTPUTS as readonly string[]).includes(value);
}

export interface RenderContext extends AuditTableContext {
  /** The tool's version, for SARIF's driver. */
  readonly version: string;
  /** The PolicyReports' timestamp. */
  readonly now: Date;
}

/**
 * The audit in one of its formats. `json` is `check --output json`'s document; `policyreport` is a YAML stream of
 * PolicyReports (one per namespace) and a ClusterPolicyReport, ready for `kubectl apply -f -`; `openreports` the same
 * as openreports.io Reports and a ClusterReport.
 */
export function renderAudit(output: AuditOutput, outcome: AuditOutcome, context: RenderContext): string {
  switch (output) {
    case 'table':
      return auditTable(outcome, context);
    case 'json':
      return jsonReport(outcome);
    case 'sarif':
      return sarifReport(outcome, context.version);
    case 'policyreport':
      return reportStream(outcome, context.now, DEFAULT_REPORTS_API);
    case 'openreports':
      return reportStream(outcome, context.now, 'openreports');
  }
}

function reportStream(outcome: AuditOutcome, now: Date, api: ReportsApi): string {
  return policyReports(outcome, now, api)
    .map((report) => `---\n${stringify(report, { lineWidth: 0, aliasDuplicateObjects: false })}`)
    .join('');
}
