import { tmpdir } from 'node:os';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadPolicy, type DirectoryOptions } from './config.ts';
import { Drain, gracefulShutdown } from './http/drain.ts';
import { gateValidateUntilPolicy } from './http/health-route.ts';
import { buildServer, type WebhookServer } from './http/server.ts';
import { generateSelfSigned, loadKeyPair, watchKeyPair, writeCaCertificate, type KeyPair } from './http/tls.ts';
import type { BreakerState } from './directory/breaker.ts';
import { CONFIGURATION_ERROR } from './directory/graph.ts';
import type { Directory } from './directory/port.ts';
import type { ClusterConnection } from './kube/client.ts';
import type { ConfigMapRef } from './kube/configmap-ref.ts';
import type { StoreLog, WatchOptions } from './kube/policy-store.ts';
import type { RoleFactsHandle, RoleFactsOptions } from './kube/role-cache.ts';
import type { Policy } from './policy/model.ts';
import type { ReportsApi } from './report/policy-report.ts';
import { DEFAULT_POLICY, formatProblems } from './policy/parse.ts';
import { serveDirectory } from './serve-directory.ts';
import { loggerOptions } from './telemetry/logger.ts';
import type { Readiness } from './telemetry/readiness.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';

export interface ServeOptions {
  /** `--policy FILE`; neither this nor `policyConfigMap`: the embedded default. */
  readonly policy?: string | undefined;
  /** `--policy-configmap NAMESPACE/NAME`, watched (exclusive with `policy`, which the CLI enforces). */
  readonly policyConfigMap?: ConfigMapRef | undefined;
  /** `--policy-fallback-default`: serve the embedded default until the ConfigMap gives a valid policy. */
  readonly policyFallbackDefault?: boolean | undefined;
  /** How to reach the cluster, as kubectl finds it (`--kubeconfig`, `--context`, KUBECONFIG, the pod's service account). */
  readonly cluster: { readonly kubeconfig?: string | undefined; readonly context?: string | undefined; readonly env: NodeJS.ProcessEnv };
  /** The ConfigMap informer's resync and backoff (tests shorten them). */
  readonly policyWatch?: WatchOptions | undefined;
  /** Directory options, given the metrics the directory reports to. */
  readonly directory: (metrics: Metrics) => DirectoryOptions;
  readonly host: string;
  readonly port: number;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly logLevel: string;
  /** `--audit-interval` (and `--audit-write-reports`): the continuous audit of existing RBAC objects; needs a cluster. */
  readonly audit?: { readonly intervalMs: number; readonly writeReports: boolean; readonly reportsApi?: ReportsApi } | undefined;
  /** `--drain-period`: how long SIGTERM keeps answering (not ready, `Connection: close`) before closing. */
  readonly drainMs: number;
  /** `--shed-lag`: event-loop lag from which /validate answers 429 at once; 0 never sheds. */
  readonly shedLagMs: number;
}

/** The composition root of `serve`: reads configuration once, wires the server, handles SIGTERM. */
export async function serve(options: ServeOptions): Promise<void> {
  // Read at each scrape; set once the directory is known.
  let directoryProblem: () => string | undefined = () => undefined;
  const metrics = createMetrics(new Registry(), { processMetrics: true, directoryProblem: () => directoryProblem() });
  // The logger exists once the server does; until then nothing can change state.
  let log: WebhookServer['log'] | undefined;
  const storeLog: StoreLog = {
    info: (object, message) => log?.info(object, message),
    warn: (object, message) => log?.warn(object, message),
    error: (object, message) => log?.error(object, message),
  };
  // Everything that can be wrong in the configuration (kubeconfig, context, policy file) fails here, before listening.
  const cluster = await clusterFor(options);
  const source = await policySource(options, cluster, metrics, storeLog);
  const served = await serveDirectory(
    source.policyForDirectory,
    { ...options.directory(metrics), onDirectoryStateChange: directoryStateLog(() => log) },
    {
      policyVerifies: () => source.unavailable() === undefined && source.current().directory.verify,
      policyOnError: () => (source.unavailable() === undefined ? source.current() : source.policyForDirectory).directory.onError,
      log: () => log,
    },
  );
  directoryProblem = served.problem;
  const { directory, description } = served;
  const roles = await roleFactsFor(cluster, (level, message, fields) => log?.[level](fields, message));
  const { pair, generated } = await certificate(options);
  const drain = new Drain();
  const app = buildServer({
    tls: pair,
    currentPolicy: source.current,
    directory,
    roles,
    metrics,
    readiness: () => {
      const base = source.readiness();
      // Shown, not gated: until the first listing, bindings are judged on role names and their decisions say so. Nor is
      // a missing directory: not ready would take every pod out of the Service and fail every RBAC write by the
      // webhook's failurePolicy; served, each review naming a group follows the policy's own directory.onError.
      const detail = { ...base.detail, directory: served.readiness() };
      return { ready: base.ready, detail: roles ? { ...detail, roles: roles.status() } : detail };
    },
    logger: loggerOptions(options.logLevel),
    drain,
    loadShedding: {
      maxLagMs: options.shedLagMs,
      onChange: (shedding, lagMs, shed) =>
        shedding
          ? log?.warn({ eventLoopLagMs: Math.round(lagMs), shedLagMs: options.shedLagMs }, 'overloaded: answering reviews 429 at once until the event loop catches up')
          : log?.info({ eventLoopLagMs: Math.round(lagMs), shedReviews: shed }, 'no longer overloaded: judging reviews again'),
    },
  });
  log = app.log;
  gateValidateUntilPolicy(app, source.unavailable);
  for (const warning of source.startupWarnings) log.warn({ policy: source.label }, `policy warning: ${warning}`);
  // Hooks cannot be added once listening: what is started below is cleaned up through this one.
  const cleanups: Array<() => Promise<void> | void> = [];
  app.addHook('onClose', async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  cleanups.push(await source.start());
  served.reportNow();
  if (roles) cleanups.push(() => roles.stop());
  // First in the list: the audit stops before the role cache it reads.
  if (options.audit && cluster && roles) cleanups.unshift(await startAudit(options.audit, { cluster, roles, source, directory, metrics, log }));
  await app.listen({ host: options.host, port: options.port });
  const { port } = app.server.address() as AddressInfo;

  if (generated) {
    const caPath = join(tmpdir(), `entra-rbac-guard-${port}`, 'ca.crt');
    await writeCaCertificate(caPath, generated.ca);
    cleanups.push(() => rm(dirname(caPath), { recursive: true, force: true }));
    log.info({ caCertificate: caPath }, `no --tls-cert/--tls-key given: serving a self-signed certificate for 127.0.0.1, ::1 and localhost; its CA certificate is at ${caPath}`);
  } else if (options.tlsCert && options.tlsKey) {
    const stopWatching = watchKeyPair(
      options.tlsCert,
      options.tlsKey,
      (next) => {
        app.server.setSecureContext({ key: next.key, cert: next.cert });
        log.info({ cert: options.tlsCert }, 'TLS certificate reloaded from disk');
      },
      (error) => log.error({ cert: options.tlsCert, error: error.message }, 'TLS certificate change could not be loaded; still serving the previous one'),
    );
    cleanups.push(stopWatching);
  }
  log.info(
    {
      url: `https://${formatHost(options.host)}:${port}/validate`,
      policy: source.label,
      mode: currentMode(source),
      ...(cluster ? { cluster: cluster.description } : {}),
      directory: description,
    },
    'entra-rbac-guard is serving',
  );

  const shutdown = gracefulShutdown(app, drain, { drainMs: options.drainMs, log });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () =>
      void shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          log?.error({ error: String(error) }, 'shutdown failed');
          process.exit(1);
        },
      ),
    );
  }
}

/**
 * With a cluster, bindings are judged on what their roles grant: an informer cache of the four RBAC kinds answers
 * the engine with no API call on the hot path; readiness shows its state. Without a cluster, roles
 * are unknown and bindings are judged on their roleRef's name.
 */
async function roleFactsFor(cluster: ClusterConnection | undefined, log: RoleFactsOptions['log']): Promise<RoleFactsHandle | undefined> {
  if (!cluster) return undefined;
  const { createRoleFacts } = await import('./kube/role-cache.ts');
  return createRoleFacts(cluster.kubeConfig, { log });
}

/** Where the policy comes from, as the server and readiness read it. */
interface PolicySource {
  /** `embedded default`, the file path, or `ConfigMap NAMESPACE/NAME`. */
  readonly label: string;
  /** The directory is built once: from the file's policy, or able to verify when a ConfigMap policy later asks. */
  readonly policyForDirectory: Policy;
  readonly startupWarnings: readonly string[];
  readonly current: () => Policy;
  readonly unavailable: () => string | undefined;
  readonly readiness: () => Readiness;
  /** Starts watching, if anything is to be watched; returns how to stop. */
  readonly start: () => Promise<() => Promise<void> | void>;
}

function currentMode(source: PolicySource): string {
  return source.unavailable() === undefined ? source.current().mode : 'none yet';
}

/**
 * The cluster, found as kubectl finds it, when something needs it (the policy ConfigMap) or the operator named one
 * (`--kubeconfig`, `--context`: checked even when unused, so a mistake shows at start-up). The Kubernetes client takes
 * most of a second to load: only a `serve` that needs a cluster pays for it.
 */
async function clusterFor(options: ServeOptions): Promise<ClusterConnection | undefined> {
  const { kubeconfig, context } = options.cluster;
  if (options.policyConfigMap === undefined && kubeconfig === undefined && context === undefined && !options.audit) return undefined;
  const { ClusterConfigError, connectCluster } = await import('./kube/client.ts');
  try {
    return connectCluster(options.cluster);
  } catch (error) {
    if (!options.audit || !(error instanceof ClusterConfigError)) throw error;
    throw new ClusterConfigError(`--audit-interval audits the RBAC objects of a cluster, and ${error.message}`);
  }
}

interface AuditDeps {
  readonly cluster: ClusterConnection;
  readonly roles: RoleFactsHandle;
  readonly source: PolicySource;
  readonly directory: Directory | undefined;
  readonly metrics: Metrics;
  readonly log: WebhookServer['log'];
}

/** The continuous audit over the role cache, with its gauges on the server's registry; returns how to stop it. */
async function startAudit(audit: NonNullable<ServeOptions['audit']>, deps: AuditDeps): Promise<() => Promise<void>> {
  const { ContinuousAudit } = await import('./audit/continuous.ts');
  const { createAuditMetrics } = await import('./telemetry/audit-metrics.ts');
  const { log } = deps;
  const writer = audit.writeReports
    ? (await import('./kube/policy-report-writer.ts')).createPolicyReportWriter(deps.cluster.kubeConfig, (level, fields, message) => log[level](fields, message), audit.reportsApi)
    : undefined;
  const continuous = new ContinuousAudit({
    intervalMs: audit.intervalMs,
    objects: deps.roles.cache,
    policy: () => {
      const unavailable = deps.source.unavailable();
      return unavailable === undefined ? deps.source.current() : { unavailable };
    },
    directory: deps.directory,
    metrics: createAuditMetrics(deps.metrics.registry),
    log: (level, fields, message) => log[level](fields, message),
    reportWriter: writer,
  });
  continuous.start();
  log.info({ auditIntervalMs: audit.intervalMs, writeReports: audit.writeReports }, 'continuous audit started: every existing RBAC object is judged each interval');
  return () => continuous.stop();
}

async function policySource(options: ServeOptions, cluster: ClusterConnection | undefined, metrics: Metrics, log: StoreLog): Promise<PolicySource> {
  const ref = options.policyConfigMap;
  if (!ref || !cluster) {
    const loaded = await loadPolicy(options.policy);
    return {
      label: loaded.source,
      policyForDirectory: loaded.policy,
      startupWarnings: loaded.warnings.length > 0 ? [formatProblems(loaded.warnings)] : [],
      current: () => loaded.policy,
      unavailable: () => undefined,
      readiness: () => ({ ready: true, detail: { policy: loaded.source, mode: loaded.policy.mode } }),
      start: async () => () => undefined,
    };
  }
  const { PolicyStore, createPolicyMetrics, kubeEventRecorder, watchPolicyConfigMap } = await import('./kube/policy-store.ts');
  const fallback = options.policyFallbackDefault ? await loadPolicy(undefined) : undefined;
  const store = new PolicyStore({
    ref,
    fallback: fallback?.policy,
    log,
    metrics: createPolicyMetrics(metrics.registry),
    recordEvent: kubeEventRecorder(cluster.kubeConfig),
  });
  return {
    label: store.label,
    // Whether groups are looked up is the policy's to say, per review; the directory must be there when it does.
    policyForDirectory: DEFAULT_POLICY,
    startupWarnings: fallback && fallback.warnings.length > 0 ? [`(the fallback) ${formatProblems(fallback.warnings)}`] : [],
    current: () => {
      const policy = store.current();
      // The gate in front of /validate answers 503 while there is none; this is never reached then.
      if (!policy) throw new Error(`no policy in force: ${store.unavailable()}`);
      return policy;
    },
    unavailable: () => store.unavailable(),
    readiness: () => store.readiness(),
    start: async () => {
      const watching = watchPolicyConfigMap(cluster.kubeConfig, store, options.policyWatch);
      return () => watching.stop();
    },
  };
}

async function certificate(options: ServeOptions): Promise<{ pair: KeyPair; generated?: { ca: string } }> {
  if (options.tlsCert && options.tlsKey) return { pair: await loadKeyPair(options.tlsCert, options.tlsKey) };
  const generated = await generateSelfSigned(options.host === '0.0.0.0' || options.host === '::' ? [] : [options.host]);
  return { pair: generated, generated };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * One line per breaker state change. A configuration error (a refused client secret, say) is logged as an error once,
 * with what to fix, not again each time the breaker's probe meets it; an outage is a warning each time it reopens.
 */
export function directoryStateLog(logger: () => WebhookServer['log'] | undefined): (state: BreakerState, reason: string, cause: string) => void {
  let configurationErrorLogged: string | undefined;
  return (state, reason, cause) => {
    const log = logger();
    if (state === 'closed') {
      configurationErrorLogged = undefined;
      log?.info({ directoryState: state, reason }, 'Microsoft Graph answers again');
    } else if (reason.includes(CONFIGURATION_ERROR)) {
      // The reason ends with how long the breaker waits (jittered backoff): compare the cause alone.
      if (configurationErrorLogged === cause) return;
      configurationErrorLogged = cause;
      log?.error({ directoryState: state, reason }, `the directory cannot sign in: ${reason}`);
    } else {
      log?.warn({ directoryState: state, reason }, 'Microsoft Graph is not answering: lookups wait for the circuit breaker');
    }
  };
}
