import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../telemetry/readiness.ts';

export async function healthRoutes(app: FastifyInstance, { readiness }: { readiness: () => Readiness }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const { ready, detail } = readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...detail });
  });
}

/** The code of the 503 that /validate answers while no policy is in force. */
export const NO_POLICY_CODE = 'ERB_NO_POLICY';

/**
 * While `unavailable()` names a reason (no valid policy has arrived yet), POST /validate answers 503 with a JSON error
 * naming it instead of judging with no policy: the API server then applies the webhook's `failurePolicy` (Fail
 * rejects the request, Ignore lets it through), and the pod is not ready meanwhile, so a Service sends it no traffic.
 * Added on the root instance, before it listens, so it runs in front of the validate route whatever its plugin.
 */
export function gateValidateUntilPolicy(app: FastifyInstance, unavailable: () => string | undefined): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || request.routeOptions.url !== '/validate') return;
    const reason = unavailable();
    if (reason === undefined) return;
    request.log.warn({ reqId: request.id, code: NO_POLICY_CODE, reason }, 'review refused: no policy in force');
    return reply
      .code(503)
      .type('application/json')
      .send({ statusCode: 503, code: NO_POLICY_CODE, error: 'Service Unavailable', message: `no policy in force yet: ${reason}` });
  });
}
