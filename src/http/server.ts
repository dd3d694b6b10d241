import type { Server } from 'node:https';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Directory } from '../directory/port.ts';
import type { RoleSource } from '../kube/role-cache.ts';
import type { Policy } from '../policy/model.ts';
import { NotFoundError, handleError } from './errors.ts';
import { healthRoutes, type Readiness } from './health-route.ts';
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
}

export type WebhookServer = FastifyInstance<Server>;

/** Builds the HTTPS webhook without listening: tests inject requests, main.ts listens. */
export function buildServer(deps: ServerDependencies): WebhookServer {
  const app = Fastify({
    https: { key: deps.tls.key, cert: deps.tls.cert, minVersion: 'TLSv1.2' },
    logger: deps.logger ?? false,
    // One decision line per review instead of Fastify's per-request lines.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: 60_000,
    connectionTimeout: 0,
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });
  // An AdmissionReview is JSON; any other media type is answered 415 instead of reaching the decoder.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request) => {
    throw new NotFoundError(request.method, request.url);
  });
  void app.register(validateRoute, { currentPolicy: deps.currentPolicy, directory: deps.directory, roles: deps.roles, metrics: deps.metrics });
  if (deps.metrics) void app.register(metricsRoute, { registry: deps.metrics.registry });
  void app.register(healthRoutes, { readiness: deps.readiness ?? (() => ({ ready: true, detail: {} })) });
  return app;
}
