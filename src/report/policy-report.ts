import type { CheckOutcome, CheckedObject } from '../check/run-check.ts';
import type { Violation } from '../policy/decision.ts';

/**
 * The two report APIs Policy Reporter and dashboards read: wgpolicyk8s.io/v1alpha2 (PolicyReport), and its successor
 * openreports.io/v1alpha1 (Report), to which Kyverno moved. The results are the same in both.
 */
export const REPORTS_APIS = {
  wgpolicyk8s: {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    namespaced: { kind: 'PolicyReport', plural: 'policyreports' },
    cluster: { kind: 'ClusterPolicyReport', plural: 'clusterpolicyreports' },
    crdsFrom: 'kubernetes-sigs/wg-policy-prototypes, or with Kyverno or Policy Reporter',
  },
  openreports: {
    apiVersion: 'openreports.io/v1alpha1',
    namespaced: { kind: 'Report', plural: 'reports' },
    cluster: { kind: 'ClusterReport', plural: 'clusterreports' },
    crdsFrom: 'openreports/reports-api, or with Kyverno 1.15 or later',
  },
} as const;

export type ReportsApi = keyof typeof REPORTS_APIS;
export const REPORTS_API_NAMES = Object.keys(REPORTS_APIS) as ReportsApi[];
/** The wg-policy API, which Policy Reporter and most dashboards read. */
export const DEFAULT_REPORTS_API: ReportsApi = 'wgpolicyk8s';

export function isReportsApi(name: string): name is ReportsApi {
  return (REPORTS_API_NAMES as readonly string[]).includes(name);
}
type ReportKind = (typeof REPORTS_APIS)[ReportsApi]['namespaced' | 'cluster']['kind'];

export interface PolicyReportObject {
  readonly apiVersion: (typeof REPORTS_APIS)[ReportsApi]['apiVersion'];
  readonly kind: ReportKind;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels: Record<string, string> };
  /** openreports.io only: the engine that wrote every result. */
  readonly source?: string;
  readonly summary: { pass: number; fail: number; warn: number; error: number; skip: number };
  readonly results: readonly Record<string, unknown>[];
}

/** The API group, version and plural of a report kind, for the Kubernetes client. */
export function reportResource(kind: ReportKind): { group: string; version: string; plural: string; namespaced: boolean } {
  for (const api of Object.values(REPORTS_APIS)) {
    const [group, version] = api.apiVersion.split('/') as [string, string];
    if (api.namespaced.kind === kind) return { group, version, plural: api.namespaced.plural, namespaced: true };
    if (api.cluster.kind === kind) return { group, version, plural: api.cluster.plural, namespaced: false };
  }
  throw new Error(`not a report kind: ${kind}`);
}

const POLICY = 'entra-rbac-guard';
const REPORT_NAME = 'entra-rbac-guard';

/**
 * One PolicyReport (Report) per namespace (RoleBindings, Roles) and one ClusterPolicyReport (ClusterReport) for the
 * cluster-scoped objects. Each violation is a `fail` (deny) or `warn` result; a compliant object is one `pass`; an
 * exempt one a `skip` that says why.
 */
export function policyReports(outcome: CheckOutcome, now: Date, api: ReportsApi = DEFAULT_REPORTS_API): PolicyReportObject[] {
  const { apiVersion, namespaced, cluster } = REPORTS_APIS[api];
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
        apiVersion,
        kind: namespace ? namespaced.kind : cluster.kind,
        metadata: {
          name: REPORT_NAME,
          ...(namespace ? { namespace } : {}),
          labels: { 'app.kubernetes.io/managed-by': 'entra-rbac-guard' },
        },
        ...(api === 'openreports' ? { source: POLICY } : {}),
        summary,
        results,
      };
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
