import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../admission/narrow.ts';
import { decodeAdmissionReview } from '../admission/decode.ts';
import { encodeDecision } from '../admission/encode.ts';
import type { AdmissionChange } from '../admission/types.ts';
import { gatherFacts, knownFacts, type Directory } from '../directory/port.ts';
import type { RoleSource } from '../kube/role-cache.ts';
import type { Decision } from '../policy/decision.ts';
import { evaluate } from '../policy/engine.ts';
import type { Policy } from '../policy/model.ts';
import { factsNeeded } from '../policy/needs.ts';
import { observeDecision, type Metrics } from '../telemetry/metrics.ts';
import { InvalidReviewError } from './errors.ts';
import { webhookTimeoutMs } from './review-deadline.ts';

export interface ValidateRouteOptions {
  readonly currentPolicy: () => Policy;
  readonly directory: Directory | undefined;
  /** Role facts (the role cache); without it roles are unknown and bindings are judged on their roleRef's name. */
  readonly roles?: RoleSource | undefined;
  readonly metrics?: Metrics | undefined;
}

export async function validateRoute(app: FastifyInstance, { currentPolicy, directory, roles, metrics }: ValidateRouteOptions): Promise<void> {
  // The decision line holds IDs, names and rule IDs, never a credential. The logger's wildcard redaction ('*.token')
  // would clone and re-serialise each of its fields through the redactor: half the cost of the line, for nothing.
  const decisionLog = app.log.child({}, { redact: [] });
  app.post<{ Querystring: { timeout?: string } }>('/validate', async (request) => {
    let change: AdmissionChange;
    try {
      change = decodeAdmissionReview(request.body);
    } catch (error) {
      if (error instanceof InvalidInputError) throw new InvalidReviewError(error.message);
      throw error;
    }
    const started = performance.now();
    const policy = currentPolicy();
    const needs = factsNeeded(change, policy);
    const directoryFacts =
      knownFacts(needs, directory) ?? (await gatherFacts(needs, directory, () => AbortSignal.timeout(lookupDeadlineMs(request.query.timeout))));
    // Role facts come from memory (the informer cache): no call, no wait. The clock matters to entries that expire.
    const facts = { ...directoryFacts, ...(roles ? { roles: roles.factsFor(needs) } : {}), now: Date.now() };
    const decision = evaluate(change, policy, facts);
    const elapsedMs = performance.now() - started;
    if (metrics) observeDecision(metrics, decision, policy.mode, elapsedMs / 1000);
    decisionLog.info(decisionLogLine(request.id, change, decision, elapsedMs), 'decision');
    return encodeDecision(change.uid, change.apiVersion, decision);
  });
}

/** Directory lookups must end well before the API server gives up on the webhook (`?timeout=10s`). */
export function lookupDeadlineMs(timeout: string | undefined): number {
  const timeoutMs = webhookTimeoutMs(timeout);
  return Math.max(200, Math.min(timeoutMs * 0.6, timeoutMs - 1000));
}

function decisionLogLine(reqId: string, change: AdmissionChange, decision: Decision, elapsedMs: number): Record<string, unknown> {
  return {
    reqId,
    uid: change.uid,
    operation: change.operation,
    kind: change.kind.kind,
    namespace: change.namespace,
    name: change.name,
    requester: change.requester.username,
    dryRun: change.dryRun,
    allowed: decision.allowed,
    rules: [...new Set(decision.violations.map((violation) => `${violation.rule}:${violation.action}`))],
    ...(decision.exemption ? { exemption: decision.exemption } : {}),
    elapsedMs: Math.round(elapsedMs * 100) / 100,
  };
}
