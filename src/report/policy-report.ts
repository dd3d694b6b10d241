import type { CheckOutcome, CheckedObject } from '../check/run-check.ts';
import type { Violation } from '../policy/decision.ts';

/** The wgpolicyk8s.io/v1alpha2 report objects, so Policy Reporter and existing dashboards show our results unchanged. */
export interface PolicyReportObject {
  readonly apiVersion: 'wgpolicyk8s.io/v1alpha2';
  readonly kind: 'PolicyReport' | 'ClusterPolicyReport';
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels: Record<string, string> };
  readonly summary: { pass: number; fail: number; warn: number; error: number; skip: number };
  readonly results: readonly Record<string, unknown>[];
}

const POLICY = 'entra-rbac-guard';
const REPORT_NAME = 'entra-rbac-guard';

/**
 * One PolicyReport per namespace (RoleBindings, Roles) and one ClusterPolicyReport (cluster-scoped objects). Each
 * violation is a `fail` (deny) or `warn` result; a compliant object is one `pass`; an exempt one a `skip` that says why.
 */
export function policyReports(outcome: CheckOutcome, now: Date): PolicyReportObject[] {
  const byNamespace = new Map<string, CheckedObject[]>();
  for (const entry of outcome.checked) {
    const list = byNamespace.get(entry.object.namespace) ?? [];
    list.push(entry);
    byNamespace.set(entry.object.namespace, list);
  }
  const timestamp = { seconds: Math.floor(now.getTime() / 1000), nanos: 0 };
  return [...byNamespace.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([namespace, entries]) => {
      const results = entries.flatMap((entry) => resultsFor(entry, timestamp));
      const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
      for (const result of results) summary[result['result'] as keyof typeof summary] += 1;
      return {
        apiVersion: 'wgpolicyk8s.io/v1alpha2',
        kind: namespace ? 'PolicyReport' : 'ClusterPolicyReport',
        metadata: {
          name: REPORT_NAME,
          ...(namespace ? { namespace } : {}),
          labels: { 'app.kubernetes.io/managed-by': 'entra-rbac-guard' },
        },
        summary,
        results,
      } as const;
    });
}

function resultsFor({ object, decision }: CheckedObject, timestamp: { seconds: number; nanos: number }): Record<string, unknown>[] {
  const resource = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: object.kind,
    name: object.name,
    ...(object.namespace ? { namespace: object.namespace } : {}),
  };
  const base = { policy: POLICY, source: POLICY, category: 'Microsoft Entra RBAC', scored: true, timestamp, resources: [resource] };
  if (decision.violations.length > 0) return decision.violations.map((violation) => ({ ...base, ...violationResult(violation) }));
  if (decision.exemption) return [{ ...base, rule: 'exempt', result: 'skip', message: `Exempt: ${decision.exemption}`, properties: { exemption: decision.exemption } }];
  return [{ ...base, rule: 'all-rules', result: 'pass', message: `${object.kind} ${object.name} follows the policy` }];
}

function violationResult(violation: Violation): Record<string, unknown> {
  return {
    rule: violation.rule,
    result: violation.action === 'deny' ? 'fail' : 'warn',
    severity: violation.action === 'deny' ? 'high' : 'medium',
    message: violation.message,
    properties: {
      subjectKind: violation.subject.kind,
      subjectName: violation.subject.name,
      ...(violation.subject.namespace ? { subjectNamespace: violation.subject.namespace } : {}),
      ...(violation.downgradedBecause ? { notDeniedBecause: violation.downgradedBecause } : {}),
    },
  };
}
