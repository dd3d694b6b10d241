/**
 * Steady reviews for scenario 05 (rotation and drain), every one recorded with when it was sent and answered, its
 * status, its `Connection` header and what the oracle of ./reviews.ts found wrong with it: the drain's checks are about
 * when an answer came and how (keep the connection or close it), not only whether it came.
 */
import { randomUUID } from 'node:crypto';
import type { HttpsClient } from './client.ts';
import { answerProblem, wellBehavedReview } from './reviews.ts';

type Json = Record<string, any>;

export interface Sent {
  readonly kind: string;
  /** performance.now() when sent and when answered (or failed). */
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  readonly connection: string | undefined;
  /** What was wrong with the answer; undefined for a well-formed one. */
  readonly problem: string | undefined;
}

export async function sendReview(client: HttpsClient, review: Json, kind: string): Promise<Sent> {
  const sentAt = performance.now();
  const answer = await client.postJson('/validate?timeout=10s', review, { timeoutMs: 15_000 });
  const connection = answer.headers['connection'];
  return {
    kind,
    sentAt,
    answeredAt: sentAt + answer.ms,
    status: answer.status,
    connection: typeof connection === 'string' ? connection.toLowerCase() : undefined,
    problem: answerProblem(answer, review['request']['uid']),
  };
}

export interface Load {
  /** Stops sending; resolves with every review sent, once the last is answered. */
  stop(): Promise<Sent[]>;
}

/** `workers` loops, each sending the next review as soon as the previous one is answered (after `pauseMs`). */
export function startLoad(client: HttpsClient, options: { readonly workers: number; readonly review: () => Json; readonly kind: string; readonly pauseMs?: number }): Load {
  const sent: Sent[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      sent.push(await sendReview(client, options.review(), options.kind));
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  };
  const workers = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    async stop() {
      running = false;
      await workers;
      return sent;
    },
  };
}

/** Recorded fixture 01 (a RoleBinding to one Entra group) with a fresh uid: after the first, answered from the cache. */
export const cachedGroupReview = wellBehavedReview;

/** Fixture 01 naming a group never seen before: the webhook must ask Graph, and waits for it. */
export function freshGroupReview(): Json {
  const review = wellBehavedReview();
  review['request']['object']['subjects'] = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: randomUUID() }];
  return review;
}
