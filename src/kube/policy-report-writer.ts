import { createHash } from 'node:crypto';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_REPORTS_API, REPORTS_APIS, reportResource, type PolicyReportObject, type ReportsApi } from '../report/policy-report.ts';

/**
 * Keeps our reports (wgpolicyk8s.io/v1alpha2 PolicyReports, or openreports.io/v1alpha1 Reports: one per namespace, and
 * one cluster-wide) in the cluster equal to
 * the last audit round: creates what is new, replaces what changed, deletes ours that are no longer wanted (a
 * namespace whose RBAC objects are all gone). A report whose results did not change is not written again, so each
 * result keeps the timestamp of the round that first found it and an unchanged cluster costs two list calls a round.
 * Ours are the reports labelled app.kubernetes.io/managed-by=entra-rbac-guard; nothing else is touched.
 *
 * Needs get, list, create, update and delete on the two kinds of its API (the chart grants them with
 * audit.writeReports and audit.reportsApi). Without the CRDs, or without the permission, it says so once and tries again every round.
 */
export interface PolicyReportWriter {
  /** The report API it writes: the reports given to write() must be built for it. */
  readonly api: ReportsApi;
  write(reports: readonly PolicyReportObject[]): Promise<ReportWriteSummary>;
}

export interface ReportWriteSummary {
  readonly created: number;
  readonly replaced: number;
  readonly unchanged: number;
  readonly deleted: number;
  readonly failed: number;
  /** Set when nothing could be written, e.g. the CRDs are not installed. */
  readonly unavailable?: string;
}

export type ReportWriterLog = (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void;

const MANAGED_BY = 'app.kubernetes.io/managed-by=entra-rbac-guard';
/** Our digest of a report's results (timestamps left out): equal digests, nothing to write. */
const DIGEST_ANNOTATION = 'entra-rbac-guard.io/results-digest';
const TRIMMED_ANNOTATION = 'entra-rbac-guard.io/results-trimmed';
/** etcd refuses objects above 1.5 MiB; stay well below with room for metadata. */
const MAX_REPORT_BYTES = 1_000_000;

interface Existing {
  readonly kind: PolicyReportObject['kind'];
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly digest: string | undefined;
}

export function createPolicyReportWriter(kubeConfig: KubeConfig, log: ReportWriterLog, reportsApi: ReportsApi = DEFAULT_REPORTS_API): PolicyReportWriter {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { namespaced, cluster } = REPORTS_APIS[reportsApi];
  let saidUnavailable: string | undefined;
  return {
    api: reportsApi,
    async write(reports) {
      let existing: Existing[];
      try {
        existing = [...(await listOurs(api, namespaced.kind)), ...(await listOurs(api, cluster.kind))];
      } catch (error) {
        const reason = unavailableReason(error, reportsApi);
        if (reason !== saidUnavailable) log('warn', { error: describe(error) }, `${namespaced.kind}s are not written: ${reason}`);
        saidUnavailable = reason;
        return { created: 0, replaced: 0, unchanged: 0, deleted: 0, failed: 0, unavailable: reason };
      }
      if (saidUnavailable) log('info', {}, `${namespaced.kind}s can be written again`);
      saidUnavailable = undefined;
      return sync(api, reports, existing, log);
    },
  };
}

async function sync(api: CustomObjectsApi, reports: readonly PolicyReportObject[], existing: readonly Existing[], log: ReportWriterLog): Promise<ReportWriteSummary> {
  const counts = { created: 0, replaced: 0, unchanged: 0, deleted: 0, failed: 0 };
  const byKey = new Map(existing.map((report) => [keyOf(report.kind, report.namespace, report.name), report]));
  const wanted = new Set<string>();
  for (const report of reports) {
    const namespace = report.metadata.namespace ?? '';
    const key = keyOf(report.kind, namespace, report.metadata.name);
    wanted.add(key);
    const body = withinSizeLimit(report);
    const old = byKey.get(key);
    if (old && old.digest === body.metadata.annotations[DIGEST_ANNOTATION]) {
      counts.unchanged += 1;
      continue;
    }
    try {
      if (old) await replace(api, { ...body, metadata: { ...body.metadata, resourceVersion: old.resourceVersion } });
      else await create(api, body);
      counts[old ? 'replaced' : 'created'] += 1;
    } catch (error) {
      counts.failed += 1;
      // 409: another replica wrote it first (each replica audits); the next round compares again.
      if (statusOf(error) !== 409) log('warn', { report: describeReport(report.kind, namespace), error: describe(error) }, `could not write ${describeReport(report.kind, namespace)}`);
    }
  }
  for (const old of existing) {
    if (wanted.has(keyOf(old.kind, old.namespace, old.name))) continue;
    try {
      await remove(api, old);
      counts.deleted += 1;
    } catch (error) {
      if (statusOf(error) === 404) continue;
      counts.failed += 1;
      log('warn', { report: describeReport(old.kind, old.namespace), error: describe(error) }, `could not delete ${describeReport(old.kind, old.namespace)}, which no longer has anything to report`);
    }
  }
  return counts;
}

async function listOurs(api: CustomObjectsApi, kind: PolicyReportObject['kind']): Promise<Existing[]> {
  const { group, version, plural } = reportResource(kind);
  const list = (await api.listClusterCustomObject({ group, version, plural, labelSelector: MANAGED_BY })) as {
    items?: { metadata?: { name?: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> } }[];
  };
  return (list.items ?? []).map((item) => ({
    kind,
    namespace: item.metadata?.namespace ?? '',
    name: item.metadata?.name ?? '',
    resourceVersion: item.metadata?.resourceVersion ?? '',
    digest: item.metadata?.annotations?.[DIGEST_ANNOTATION],
  }));
}

type ReportBody = Omit<PolicyReportObject, 'metadata'> & {
  readonly metadata: PolicyReportObject['metadata'] & { readonly annotations: Record<string, string>; readonly resourceVersion?: string };
};

/**
 * The report with its digest annotation; `pass` results are left out (still counted in the summary) when the whole
 * would not fit in etcd, which a namespace with thousands of compliant bindings could reach.
 */
function withinSizeLimit(report: PolicyReportObject): ReportBody {
  const digest = digestOf(report);
  const full: ReportBody = { ...report, metadata: { ...report.metadata, annotations: { [DIGEST_ANNOTATION]: digest } } };
  if (JSON.stringify(full).length <= MAX_REPORT_BYTES) return full;
  return {
    ...full,
    results: report.results.filter((result) => result['result'] !== 'pass'),
    metadata: {
      ...full.metadata,
      annotations: { ...full.metadata.annotations, [TRIMMED_ANNOTATION]: 'pass results left out (the summary counts them): the full report would exceed the API server\'s object size limit' },
    },
  };
}

/** What a report says, not when: results without their timestamps, in a stable order. */
function digestOf(report: PolicyReportObject): string {
  const results = report.results.map(({ timestamp: _timestamp, ...rest }) => JSON.stringify(rest)).sort();
  return createHash('sha256').update(JSON.stringify({ summary: report.summary, results })).digest('hex').slice(0, 32);
}

function create(api: CustomObjectsApi, body: ReportBody): Promise<unknown> {
  const { group, version, plural } = reportResource(body.kind);
  const { namespace } = body.metadata;
  return namespace
    ? api.createNamespacedCustomObject({ group, version, namespace, plural, body })
    : api.createClusterCustomObject({ group, version, plural, body });
}

function replace(api: CustomObjectsApi, body: ReportBody): Promise<unknown> {
  const { group, version, plural } = reportResource(body.kind);
  const { namespace, name } = body.metadata;
  return namespace
    ? api.replaceNamespacedCustomObject({ group, version, namespace, plural, name, body })
    : api.replaceClusterCustomObject({ group, version, plural, name, body });
}

function remove(api: CustomObjectsApi, report: Existing): Promise<unknown> {
  const { group, version, plural } = reportResource(report.kind);
  return report.namespace
    ? api.deleteNamespacedCustomObject({ group, version, namespace: report.namespace, plural, name: report.name })
    : api.deleteClusterCustomObject({ group, version, plural, name: report.name });
}

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function describeReport(kind: PolicyReportObject['kind'], namespace: string): string {
  return reportResource(kind).namespaced ? `the ${kind} in namespace ${namespace}` : `the ${kind}`;
}

function unavailableReason(error: unknown, reportsApi: ReportsApi): string {
  const { apiVersion, namespaced, cluster, crdsFrom } = REPORTS_APIS[reportsApi];
  const status = statusOf(error);
  if (status === 404) {
    return `the ${apiVersion} ${namespaced.kind} CRDs are not installed in the cluster; install them (${crdsFrom}), or drop --audit-write-reports`;
  }
  if (status === 403) {
    return (
      `the webhook's identity may not list ${namespaced.plural} and ${cluster.plural} (${apiVersion.split('/')[0]}); grant get, list, create, ` +
      `update and delete on them (the chart does with audit.writeReports${reportsApi === DEFAULT_REPORTS_API ? '' : ` and audit.reportsApi: ${reportsApi}`})`
    );
  }
  return `listing the existing ${namespaced.kind}s failed (${status ? `HTTP ${status}` : describe(error)}); retrying next round`;
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message when it sent one (a Status body), else the error's. */
function describe(error: unknown): string {
  const body = (error as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: unknown };
      if (typeof status.message === 'string') return status.message;
    } catch {
      // not JSON: fall through
    }
  }
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
