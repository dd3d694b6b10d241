import type { Server } from 'node:https';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Directory } from '../directory/port.ts';
import type { RoleSource } from '../kube/role-cache.ts';
import type { Policy } from '../policy/model.ts';
import { addBodyBudget, LARGE_BODY_BYTES, MAX_LARGE_BODY_BYTES_IN_FLIGHT, type BodyBudgetOptions } from './body-budget.ts';
import { closeConnectionsWhileDraining, drainingReadiness, type Drain } from './drain.ts';
import { NotFoundError, handleError } from './errors.ts';
import { healthRoutes } from './health-route.ts';
import type { Readiness } from '../telemetry/readiness.ts';
import { addLoadShedding, type LoadSheddingOptions } from './load-shedding.ts';
import { metricsRoute } from './metrics-route.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { validateRoute } from './validate-route.ts';

/**
 * Two objects at the API server's 3 MiB request-body limit (object and oldObject of an UPDATE) plus the envelope:
 * the largest review a real API server can send. See docs/adr/0003-body-limit.md.
 */
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Above the API server's 90 s idle timeout for webhook connections, so the webhook never closes one first. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/**
 * Limits against clients that connect and then send nothing, or their headers a byte at a time (the fault suite's
 * slow-loris and idle-connection attacks, docs/reliability.md). The API server sends a review's headers at once, and
 * opens a connection only to send one: 10 s is ample. Node.js checks these every `connectionsCheckingInterval` (30 s
 * by default, which would let such a connection live 40 s). Each connection costs about 60 KB of TLS state: 10,000
 * idle ones added 590 MB to a webhook, far past the chart's 256 Mi limit, so at most 1,000 are open at once (the API
 * server needs one per review in flight, and admits at most 200 mutating requests at a time by default,
 * --max-mutating-requests-inflight); more are closed as they arrive.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request, body included (docs/adr/0003-body-limit-and-timeouts.md). */
export const REQUEST_TIMEOUT_MS = 60_000;
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
export const MAX_CONNECTIONS = 1_000;

export interface ServerDependencies {
  readonly tls: { readonly key: string | Buffer; readonly cert: string | Buffer };
  readonly currentPolicy: () => Policy;
  readonly directory?: Directory | undefined;
  /** What roles grant and which bindings reference them (the role cache); without it, bindings are judged on role names. */
  readonly roles?: RoleSource | undefined;
  readonly readiness?: () => Readiness;
  /** Served on GET /metrics and fed by every decision; none when omitted. */
  readonly metrics?: Metrics | undefined;
  readonly logger?: FastifyServerOptions['logger'];
  /** Shutdown's drain (src/http/drain.ts): once begun, /readyz is 503 and every answer closes its connection. */
  readonly drain?: Drain | undefined;
  /** Shedding of /validate past saturation (src/http/load-shedding.ts); none when omitted. Counted in `metrics`. */
  readonly loadShedding?: Omit<LoadSheddingOptions, 'shed'> | undefined;
  /** The budget of large bodies in flight (src/http/body-budget.ts), always on; these override its defaults. */
  readonly bodyBudget?: Partial<Omit<BodyBudgetOptions, 'rejected'>> | undefined;
}

export type WebhookServer = FastifyInstance<Server>;

/** Builds the HTTPS webhook without listening: tests inject requests, main.ts listens. */
export function buildServer(deps: ServerDependencies): WebhookServer {
  const app = Fastify({
    https: {
      key: deps.tls.key,
      cert: deps.tls.cert,
      minVersion: 'TLSv1.2',
      headersTimeout: HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    logger: deps.logger ?? false,
    // One decision line per review instead of Fastify's per-request lines.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (about 5 µs of every review): the few lines logged for a request name its reqId.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: 0,
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });
  app.server.maxConnections = MAX_CONNECTIONS;
  // An AdmissionReview is JSON; any other media type is answered 415 instead of reaching the decoder.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request) => {
    throw new NotFoundError(request.method, request.url);
  });
  void app.register(validateRoute, { currentPolicy: deps.currentPolicy, directory: deps.directory, roles: deps.roles, metrics: deps.metrics });
  if (deps.metrics) void app.register(metricsRoute, { registry: deps.metrics.registry });
  const largeBodyBytes = deps.bodyBudget?.largeBodyBytes ?? LARGE_BODY_BYTES;
  if (deps.loadShedding) addLoadShedding(app, { largeBodyBytes, ...deps.loadShedding, shed: deps.metrics?.shed });
  addBodyBudget(app, {
    largeBodyBytes,
    maxInFlightBytes: deps.bodyBudget?.maxInFlightBytes ?? MAX_LARGE_BODY_BYTES_IN_FLIGHT,
    rejected: deps.metrics?.bodyBudgetRejected,
  });
  if (deps.drain) closeConnectionsWhileDraining(app, deps.drain);
  const readiness = deps.readiness ?? (() => ({ ready: true, detail: {} }));
  void app.register(healthRoutes, { readiness: deps.drain ? drainingReadiness(deps.drain, readiness) : readiness });
  return app;
}
