import type { FastifyInstance } from 'fastify';

export interface Readiness {
  readonly ready: boolean;
  /** Shown in /readyz: e.g. which policy is in force. */
  readonly detail: Readonly<Record<string, unknown>>;
}

export async function healthRoutes(app: FastifyInstance, { readiness }: { readiness: () => Readiness }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const { ready, detail } = readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...detail });
  });
}
