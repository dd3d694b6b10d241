import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Prometheus scrape endpoint (on the webhook's HTTPS port: scrape with the CA, or skip verification in-cluster). */
export async function metricsRoute(app: FastifyInstance, { registry }: { registry: Registry }): Promise<void> {
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
}
