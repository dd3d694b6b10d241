/**
 * The policy from a ConfigMap (`serve --policy-configmap NAMESPACE/NAME`, key `policy.yaml`), kept up to date by an
 * informer, with the last good policy always in force.
 *
 * - {@link PolicyStore} decides: it takes ConfigMaps as the informer sees them and keeps the policy in force, what
 *   was rejected and why, and what readiness reports. No network, no timer: tests drive it directly.
 * - {@link watchPolicyConfigMap} feeds it: list + watch of that one ConfigMap (fieldSelector metadata.name=NAME, so
 *   RBAC can grant get/list/watch on it alone), a retry with exponential backoff and jitter after any failure, and a
 *   resync that relists from scratch every few minutes in case a watch silently missed something.
 * - {@link kubeEventRecorder} writes the Warning Event an invalid change leaves on the ConfigMap.
 *
 * An invalid change is rejected whole: the previous policy stays, and the problems (each with its path) go to the log,
 * to `entra_rbac_guard_policy_reload_errors_total`, to readiness and to an `InvalidPolicy` Event. A deleted ConfigMap
 * also leaves the last good policy in force. Until a first valid policy arrives nothing is in force: readiness is 503
 * and /validate answers 503 naming the reason, unless the operator chose the embedded default as a fallback.
 */
import { hostname } from 'node:os';
import { ApiException, CoreV1Api, ListWatch, Watch, type KubeConfig, type V1ConfigMap, type V1ConfigMapList } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Readiness } from '../telemetry/readiness.ts';
import type { Policy } from '../policy/model.ts';
import { formatProblems, parsePolicy, type PolicyProblem } from '../policy/parse.ts';
import { policyWarningsAt } from '../policy/time-boxed.ts';
import type { ConfigMapRef } from './configmap-ref.ts';

export type { ConfigMapRef };

/** The ConfigMap key that holds the policy YAML. */
export const POLICY_KEY = 'policy.yaml';

/** What the store reads of a ConfigMap (client-node's V1ConfigMap is one). */
export interface ConfigMapLike {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly uid?: string | undefined;
    readonly resourceVersion?: string | undefined;
  };
  readonly data?: { readonly [key: string]: string } | undefined;
}

// --- metrics -------------------------------------------------------------------------------------------------------

export interface PolicyMetrics {
  /** Policy changes rejected as invalid (each ConfigMap resourceVersion counts once). */
  readonly reloadErrors: Counter;
  /** Failed lists and watches of the policy ConfigMap (each is retried with backoff). */
  readonly sourceErrors: Counter;
  /** The resourceVersion of the ConfigMap whose policy is in force; 0 while none is, or while the fallback serves. */
  readonly generation: Gauge;
  /** 1 while a valid policy is in force (from the ConfigMap or the fallback), 0 while /validate answers 503. */
  readonly inForce: Gauge;
}

const PREFIX = 'entra_rbac_guard_';

/** Registers the policy metrics on the server's registry (served on /metrics beside the others). */
export function createPolicyMetrics(registry: Registry): PolicyMetrics {
  const registers = [registry];
  return {
    reloadErrors: new Counter({ name: `${PREFIX}policy_reload_errors_total`, help: 'Policy ConfigMap changes rejected as invalid: the last good policy stayed in force.', registers }),
    sourceErrors: new Counter({ name: `${PREFIX}policy_source_errors_total`, help: 'Failed lists and watches of the policy ConfigMap, each retried with backoff.', registers }),
    generation: new Gauge({ name: `${PREFIX}policy_generation`, help: 'resourceVersion of the policy ConfigMap in force (0: none, or the embedded default as fallback).', registers }),
    inForce: new Gauge({ name: `${PREFIX}policy_in_force`, help: '1 while a valid policy is in force, 0 while reviews are answered 503.', registers }),
  };
}

// --- the store -----------------------------------------------------------------------------------------------------

/** The subset of pino's logger the store writes to. */
export interface StoreLog {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

export interface PolicyEvent {
  readonly reason: 'InvalidPolicy';
  readonly type: 'Warning';
  readonly message: string;
}

/** Records a Kubernetes Event whose involvedObject is the ConfigMap. */
export type RecordEvent = (configMap: ConfigMapLike, event: PolicyEvent) => Promise<void>;

export interface PolicyStoreOptions {
  readonly ref: ConfigMapRef;
  /** `--policy-fallback-default`: the embedded default, in force until the ConfigMap gives a valid policy. */
  readonly fallback?: Policy | undefined;
  readonly log: StoreLog;
  readonly metrics?: PolicyMetrics | undefined;
  readonly recordEvent?: RecordEvent | undefined;
  readonly now?: () => Date;
}

export interface PolicyInForce {
  readonly policy: Policy;
  /** The ConfigMap's resourceVersion; undefined for the fallback. */
  readonly generation: string | undefined;
  readonly fallback: boolean;
  /** When it came into force (ISO 8601). */
  readonly since: string;
}

export interface RejectedChange {
  readonly generation: string;
  readonly problems: readonly PolicyProblem[];
  readonly at: string;
}

export class PolicyStore {
  readonly ref: ConfigMapRef;
  /** `ConfigMap NAMESPACE/NAME`, as logs and readiness name the source. */
  readonly label: string;
  private inForce: PolicyInForce | undefined;
  private rejected: RejectedChange | undefined;
  /** The last resourceVersion seen, valid or not: a relist or resync that brings nothing new changes nothing. */
  private lastSeen: string | undefined;
  private presence: 'unknown' | 'present' | 'absent' = 'unknown';
  private sourceError: string | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: PolicyStoreOptions) {
    this.ref = options.ref;
    this.label = `ConfigMap ${options.ref.namespace}/${options.ref.name}`;
    this.now = options.now ?? (() => new Date());
    if (options.fallback) this.inForce = { policy: options.fallback, generation: undefined, fallback: true, since: this.now().toISOString() };
    options.metrics?.inForce.set(this.inForce ? 1 : 0);
    options.metrics?.generation.set(0);
  }

  /** The policy to judge with, or undefined while none is in force. */
  current(): Policy | undefined {
    return this.inForce?.policy;
  }

  state(): { readonly inForce: PolicyInForce | undefined; readonly rejected: RejectedChange | undefined } {
    return { inForce: this.inForce, rejected: this.rejected };
  }

  /** Why no policy is in force, or undefined when one is. */
  unavailable(): string | undefined {
    return this.inForce ? undefined : this.reason();
  }

  /** What /readyz reports: ready while a policy is in force, with where it came from, its generation and its mode. */
  readiness(): Readiness {
    const extra = {
      ...(this.rejected ? { rejected: this.rejected } : {}),
      ...(this.sourceError ? { sourceError: this.sourceError } : {}),
    };
    const inForce = this.inForce;
    if (!inForce) return { ready: false, detail: { policy: this.label, reason: this.reason(), ...extra } };
    if (inForce.fallback) {
      return { ready: true, detail: { policy: 'embedded default', mode: inForce.policy.mode, since: inForce.since, fallback: `--policy-fallback-default: ${this.reason()}`, ...extra } };
    }
    return {
      ready: true,
      detail: {
        policy: this.label,
        generation: inForce.generation,
        mode: inForce.policy.mode,
        since: inForce.since,
        ...(this.presence === 'absent' ? { note: `the ConfigMap was deleted: resourceVersion ${inForce.generation}, the last good policy, stays in force` } : {}),
        ...extra,
      },
    };
  }

  /** The ConfigMap as listed or watched (added or modified). */
  observe(configMap: ConfigMapLike): void {
    this.presence = 'present';
    this.sourceError = undefined;
    const generation = configMap.metadata?.resourceVersion ?? '';
    if (generation !== '' && generation === this.lastSeen) return;
    this.lastSeen = generation;
    const text = configMap.data?.[POLICY_KEY];
    const result =
      text === undefined
        ? {
            ok: false as const,
            errors: [
              {
                path: `data.${POLICY_KEY}`,
                message: `is missing: put the policy YAML under the key ${POLICY_KEY} (${
                  Object.keys(configMap.data ?? {}).length > 0 ? `the ConfigMap has ${Object.keys(configMap.data ?? {}).join(', ')}` : 'the ConfigMap has no data'
                })`,
              },
            ],
          }
        : parsePolicy(text);
    if (!result.ok) {
      this.reject(configMap, generation, result.errors);
      return;
    }
    const previous = this.inForce;
    this.rejected = undefined;
    this.inForce = { policy: result.policy, generation, fallback: false, since: this.now().toISOString() };
    this.options.metrics?.inForce.set(1);
    this.options.metrics?.generation.set(numericGeneration(generation));
    this.options.log.info(
      { policy: this.label, generation, mode: result.policy.mode, previous: previous ? (previous.fallback ? 'embedded default' : previous.generation) : 'none' },
      `policy ${previous ? 'reloaded' : 'loaded'} from ${this.label} (resourceVersion ${generation}, mode ${result.policy.mode})`,
    );
    const warnings = policyWarningsAt(result, this.now().getTime());
    if (warnings.length > 0) {
      this.options.log.warn({ policy: this.label, generation, warnings }, `policy warning: ${formatProblems(warnings)}`);
    }
  }

  /** The ConfigMap was deleted (a watch event, or a relist that no longer finds it). The last good policy stays. */
  deleted(): void {
    if (this.presence === 'absent') return;
    const was = this.presence;
    this.presence = 'absent';
    this.sourceError = undefined;
    const inForce = this.inForce;
    if (was === 'present') {
      const keeping = !inForce
        ? 'no policy is in force'
        : inForce.fallback
          ? 'the embedded default stays in force (--policy-fallback-default)'
          : `keeping the last good policy (resourceVersion ${inForce.generation}, mode ${inForce.policy.mode}) until it is created again`;
      this.options.log.warn({ policy: this.label, generation: inForce?.generation }, `${this.label} was deleted: ${keeping}`);
    } else {
      this.options.log.warn(
        { policy: this.label },
        `${this.label} not found: ${inForce ? 'serving the embedded default meanwhile (--policy-fallback-default)' : 'not ready, and reviews are answered 503,'} until it is created with the policy under the key ${POLICY_KEY}`,
      );
    }
  }

  /** A list found no such ConfigMap. */
  absent(): void {
    this.sourceError = undefined;
    this.deleted();
  }

  /** A list or watch failed; the watcher retries after `retryInMs`. */
  sourceFailed(reason: string, retryInMs: number): void {
    this.sourceError = reason;
    this.options.metrics?.sourceErrors.inc();
    this.options.log.warn(
      { policy: this.label, error: reason, retryInMs },
      `cannot read ${this.label}: ${reason}; retrying in ${(retryInMs / 1000).toFixed(1)} s${this.inForce ? '' : ' (no policy in force meanwhile)'}`,
    );
  }

  private reject(configMap: ConfigMapLike, generation: string, problems: readonly PolicyProblem[]): void {
    this.rejected = { generation, problems, at: this.now().toISOString() };
    this.options.metrics?.reloadErrors.inc();
    const inForce = this.inForce;
    const keeping = !inForce
      ? 'no policy is in force: reviews are answered 503 until a valid one arrives'
      : inForce.fallback
        ? 'the embedded default stays in force (--policy-fallback-default)'
        : `resourceVersion ${inForce.generation}, the last good policy, stays in force`;
    this.options.log.error(
      { policy: this.label, generation, problems, inForce: inForce ? (inForce.fallback ? 'embedded default' : inForce.generation) : 'none' },
      `policy change rejected: ${this.label} resourceVersion ${generation} holds an invalid policy; ${keeping}:\n${formatProblems(problems)}`,
    );
    const record = this.options.recordEvent;
    if (!record) return;
    const message = `Invalid policy in key ${POLICY_KEY} (resourceVersion ${generation}), not applied; ${keeping}. ${problems
      .map((problem) => `${problem.path}: ${problem.message}`)
      .join('; ')}`;
    record(configMap, { reason: 'InvalidPolicy', type: 'Warning', message: truncate(message, EVENT_MESSAGE_LIMIT) }).catch((error: unknown) =>
      this.options.log.warn(
        { policy: this.label, generation, error: describeKubeError(error) },
        `could not record the InvalidPolicy Event on ${this.label} (the webhook needs create on events in ${this.ref.namespace}): ${describeKubeError(error)}`,
      ),
    );
  }

  private reason(): string {
    if (this.presence === 'absent') return `${this.label} not found: create it with the policy under the key ${POLICY_KEY}`;
    if (this.rejected) return `${this.label} (resourceVersion ${this.rejected.generation}) holds an invalid policy: ${this.rejected.problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ')}`;
    if (this.sourceError) return `cannot read ${this.label}: ${this.sourceError}`;
    return `waiting for the first list of ${this.label}`;
  }
}

/** resourceVersions are opaque strings; etcd's are integers, which is what the gauge can show. */
function numericGeneration(generation: string): number {
  return /^\d+$/.test(generation) ? Number(generation) : 0;
}

/** Events' messages are cut at 1 KiB by the events API; keep ours within it. */
const EVENT_MESSAGE_LIMIT = 1024;

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

// --- the informer --------------------------------------------------------------------------------------------------

export interface WatchOptions {
  /** How often to relist from scratch (a fresh informer), in case a watch missed something. Default 5 minutes. */
  readonly resyncMs?: number;
  /** First retry delay after a failed list or watch; doubles up to `maxBackoffMs`, with ±20 % jitter. Default 1 s. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly random?: () => number;
}

export interface PolicyWatch {
  stop(): Promise<void>;
}

export const DEFAULT_RESYNC_MS = 5 * 60_000;

/**
 * Lists and watches the store's ConfigMap and feeds every change to it. client-node's ListWatch reconnects a watch
 * that ends or times out and relists after 410 Gone; any other failure stops it, and this retries it with backoff.
 */
export function watchPolicyConfigMap(kubeConfig: KubeConfig, store: PolicyStore, options: WatchOptions = {}): PolicyWatch {
  const { namespace, name } = store.ref;
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const watch = new Watch(kubeConfig);
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
  const fieldSelector = `metadata.name=${name}`;
  const initialBackoffMs = options.initialBackoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const random = options.random ?? Math.random;
  let stopped = false;
  let failures = 0;
  let informer: ListWatch<V1ConfigMap> | undefined;
  let retry: NodeJS.Timeout | undefined;

  const startInformer = () => {
    clearTimeout(retry);
    // Handlers of an informer that a resync replaced must not act: every callback checks it is still the current one.
    let self: ListWatch<V1ConfigMap> | undefined;
    const live = () => !stopped && informer !== undefined && informer === self;
    const list = async (): Promise<V1ConfigMapList> => {
      const result = await api.listNamespacedConfigMap({ namespace, fieldSelector });
      if (live()) {
        failures = 0;
        if (!result.items.some((item) => item.metadata?.name === name)) store.absent();
      }
      return result;
    };
    const current = new ListWatch<V1ConfigMap>(path, watch, list, false, undefined, fieldSelector);
    self = current;
    const onChange = (configMap: V1ConfigMap) => {
      if (!live() || configMap.metadata?.name !== name) return;
      failures = 0;
      store.observe(configMap);
    };
    current.on('add', onChange);
    current.on('update', onChange);
    current.on('delete', (configMap) => {
      if (live() && configMap.metadata?.name === name) store.deleted();
    });
    const failed = (error: unknown) => {
      if (!live()) return;
      failures += 1;
      const delay = Math.round(Math.min(maxBackoffMs, initialBackoffMs * 2 ** (failures - 1)) * (0.8 + 0.4 * random()));
      store.sourceFailed(describeKubeError(error), delay);
      clearTimeout(retry);
      // Relist (a fresh informer) rather than resume the watch: a resumed watch with no change to report would never
      // tell the store that the source is back, and readiness would show the old error until the next edit or resync.
      retry = setTimeout(startInformer, delay);
      retry.unref();
    };
    current.on('error', failed);
    // start() lists when it has no resourceVersion (first time, after 410 Gone), then watches from it.
    const run = () => {
      if (live()) current.start().catch(failed);
    };
    const previous = informer;
    informer = current;
    if (previous) void previous.stop();
    run();
  };

  const resync = setInterval(() => {
    if (!stopped) startInformer();
  }, options.resyncMs ?? DEFAULT_RESYNC_MS);
  resync.unref();
  startInformer();

  return {
    async stop() {
      stopped = true;
      clearInterval(resync);
      clearTimeout(retry);
      await informer?.stop();
    },
  };
}

/** A failed API call as one line: the HTTP status and the API server's message, or the network error. */
export function describeKubeError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = typeof error.body === 'string' ? safeJson(error.body) : error.body;
    const message = (body as { message?: unknown } | undefined)?.message;
    return `HTTP ${error.code}${typeof message === 'string' ? `: ${message}` : ''}`;
  }
  const failure = error as { statusCode?: number; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (failure?.statusCode) return `HTTP ${failure.statusCode}: ${failure.message ?? ''}`.trim();
  const cause = failure?.cause?.code ?? failure?.cause?.message;
  const message = failure?.message ?? String(error);
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// --- events --------------------------------------------------------------------------------------------------------

/** Records Events on the ConfigMap as `kubectl describe configmap` shows them (core/v1, needs create on events). */
export function kubeEventRecorder(kubeConfig: KubeConfig, component = 'entra-rbac-guard'): RecordEvent {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const instance = hostname();
  return async (configMap, event) => {
    const namespace = configMap.metadata?.namespace ?? '';
    const name = configMap.metadata?.name ?? '';
    const now = new Date();
    await api.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace,
          name,
          ...(configMap.metadata?.uid ? { uid: configMap.metadata.uid } : {}),
          ...(configMap.metadata?.resourceVersion ? { resourceVersion: configMap.metadata.resourceVersion } : {}),
        },
        reason: event.reason,
        type: event.type,
        message: event.message,
        source: { component },
        reportingComponent: component,
        reportingInstance: instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  };
}
