import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../telemetry/readiness.ts';

/**
 * Draining on shutdown (docs/reliability.md, "Rotation and drain"). When Kubernetes terminates the pod, the endpoint
 * leaves the Service only eventually, and the API server keeps sending reviews over the connections it has open, so
 * the webhook must keep answering for a while after SIGTERM. Meanwhile /readyz says 503 (no new traffic is routed
 * here) and every answer carries `Connection: close` (the API server opens its next connection to another pod).
 */
export class Drain {
  private begun = false;

  get draining(): boolean {
    return this.begun;
  }

  begin(): void {
    this.begun = true;
  }
}

/** Readiness as `base` says, but not ready once draining. */
export function drainingReadiness(drain: Drain, base: () => Readiness): () => Readiness {
  return () => {
    const readiness = base();
    return drain.draining ? { ready: false, detail: { ...readiness.detail, draining: true } } : readiness;
  };
}

/** While draining, every answer (also those already in flight when the drain began) closes its connection. */
export function closeConnectionsWhileDraining(app: FastifyInstance, drain: Drain): void {
  // A callback hook, not an async one: it runs for every answer, and a promise per answer costs more than the check.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (drain.draining) reply.header('connection', 'close');
    done(null, payload);
  });
}

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';

export interface ShutdownLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ShutdownOptions {
  /** How long to keep serving after SIGTERM (`--drain-period`). */
  readonly drainMs: number;
  /**
   * After the drain, how long reviews in flight may take before their connections are cut. The API server waits at
   * most 30 s for a webhook (timeoutSeconds is 1 to 30): nothing it sent can still be waiting after that.
   */
  readonly finishMs?: number;
  readonly log: ShutdownLog;
}

const MAX_WEBHOOK_TIMEOUT_MS = 30_000;

/**
 * Returns the signal handler of `serve`, which resolves once the server is closed:
 * - SIGTERM (Kubernetes): drain for `drainMs` (readiness 503, answers with `Connection: close`), then stop accepting
 *   connections, close the idle ones and wait for the reviews in flight (`finishMs` at most);
 * - SIGINT (Ctrl-C, a person at a terminal): the same without the drain;
 * - a second signal during the drain ends it at once; one while closing cuts the connections still open.
 */
export function gracefulShutdown(app: FastifyInstance, drain: Drain, options: ShutdownOptions): (signal: ShutdownSignal) => Promise<void> {
  const finishMs = options.finishMs ?? MAX_WEBHOOK_TIMEOUT_MS;
  let endDrain: (() => void) | undefined;
  let closed: Promise<void> | undefined;

  const close = async () => {
    options.log.info({ openConnections: await connectionCount(app) }, 'drain over: no new connections, finishing the reviews in flight');
    const cut = setTimeout(() => {
      options.log.warn({ finishMs }, `reviews still in flight after ${finishMs} ms: cutting their connections`);
      app.server.closeAllConnections();
    }, finishMs);
    try {
      await app.close();
    } finally {
      clearTimeout(cut);
    }
  };

  return (signal) => {
    if (closed) {
      if (endDrain) {
        options.log.info({ signal }, `${signal} during the drain: ending it now`);
        endDrain();
      } else {
        options.log.warn({ signal }, `${signal} while finishing the reviews in flight: cutting their connections`);
        app.server.closeAllConnections();
      }
      return closed;
    }
    drain.begin();
    const drainMs = signal === 'SIGTERM' ? options.drainMs : 0;
    options.log.info(
      { signal, drainMs },
      drainMs > 0
        ? `shutting down: not ready, still answering reviews for ${drainMs} ms with Connection: close, then finishing those in flight`
        : 'shutting down: no new connections, finishing the reviews in flight',
    );
    closed = new Promise<void>((resolve) => {
      if (drainMs <= 0) return resolve();
      const timer = setTimeout(resolve, drainMs);
      endDrain = () => {
        clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      endDrain = undefined;
      return close();
    });
    return closed;
  };
}

function connectionCount(app: FastifyInstance): Promise<number> {
  return new Promise((resolve) => app.server.getConnections((error, count) => resolve(error ? -1 : count)));
}
