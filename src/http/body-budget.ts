import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Counter } from 'prom-client';
import { unjudgedStatus } from './errors.ts';

/**
 * A budget of large request bodies in flight (docs/reliability.md, "Slow and abusive clients"). Fastify buffers a
 * body whole and then parses it, so every body being read holds memory until it is answered: 16 concurrent 7 MiB
 * reviews took the webhook from 157 MB to 395 MB of RSS, past the chart's 256 Mi limit. The API server sends reviews
 * of a few kB; only a client that is not one sends large ones, and only those are counted here.
 */

const MiB = 1024 * 1024;

/**
 * Bodies up to this size are not counted, so a real review (the largest recorded is 3 kB) pays one header read and a
 * comparison. Not lower: a RoleBinding with 1,000 subjects is 206 KB, a large aggregated ClusterRole on UPDATE (object
 * and oldObject) can be too; such legitimate reviews must not meet this budget under load (the fault suite's overload
 * scenario sends them by the hundred, and load shedding is what answers that). What escapes the budget is bounded by
 * the connection limit instead: a NetworkPolicy admitting only the API server closes the rest.
 */
export const LARGE_BODY_BYTES = 256 * 1024;

/**
 * One body at the 8 MiB limit, that is one review as large as the API server can send. Reading and parsing a body
 * allocates about four times its size (its chunks, their concatenation, the string, the parsed object) and V8 collects
 * that garbage late: 7 MiB reviews sent one after another, never two at once, already took the webhook from ~165 MB to
 * 260-285 MB of RSS. Against the chart's 256 Mi (268 MB) the budget cannot afford concurrency, only stop it: 16
 * concurrent 7 MiB reviews reached 435-470 MB without a budget, 275-315 MB with one of 24 MiB, 255-285 MB with this.
 */
export const MAX_LARGE_BODY_BYTES_IN_FLIGHT = 8 * MiB;

export interface BodyBudgetOptions {
  /** Bodies larger than this (bytes) are counted against the budget; smaller ones are not. */
  readonly largeBodyBytes: number;
  /** Bytes of large bodies read at once, at most; a body that would take the total past it is answered 503. */
  readonly maxInFlightBytes: number;
  /** Counts the bodies answered 503 (`entra_rbac_guard_admission_body_budget_rejected_total`); none when omitted. */
  readonly rejected?: Counter | undefined;
}

/**
 * The bytes a request may bring, or 0 when it is not counted: its Content-Length when above `largeBodyBytes`; the body
 * limit when it is chunked with no Content-Length (it may grow to that). A Content-Length above the body limit is not
 * counted either: Fastify answers it 413 without reading a byte of it.
 */
export function bytesToReserve(headers: IncomingHttpHeaders, largeBodyBytes: number, bodyLimitBytes: number): number {
  const declared = headers['content-length'];
  if (declared === undefined) return headers['transfer-encoding'] === undefined ? 0 : bodyLimitBytes;
  const bytes = Number(declared);
  return bytes > largeBodyBytes && bytes <= bodyLimitBytes ? bytes : 0;
}

/** Bytes of large bodies being read now, and the limit they must stay under. */
export class BodyBudget {
  private inFlight = 0;

  constructor(readonly maxBytes: number) {}

  get inFlightBytes(): number {
    return this.inFlight;
  }

  /** Takes `bytes` from the budget and returns true, or returns false when they do not fit. */
  tryReserve(bytes: number): boolean {
    if (this.inFlight + bytes > this.maxBytes) return false;
    this.inFlight += bytes;
    return true;
  }

  release(bytes: number): void {
    this.inFlight -= bytes;
  }
}

/** Sizes in MiB for people: 7, 7.5, 0.3. */
function mebibytes(bytes: number): string {
  return String(Math.round((bytes / MiB) * 10) / 10);
}

/** The refusal's message: what happened, that retrying is safe, and that such a review is suspect. */
export function overBudgetMessage(inFlightBytes: number, maxInFlightBytes: number): string {
  return (
    `entra-rbac-guard is already reading ${mebibytes(inFlightBytes)} MiB of large request bodies ` +
    `(limit ${mebibytes(maxInFlightBytes)} MiB) and did not read this one; retry later. ` +
    'RBAC objects are a few kB: a review this large is unusual, check the client that sent it'
  );
}

/**
 * The refusal's body: a Kubernetes Status, as the shed answer (src/http/load-shedding.ts shedBody), so the API
 * server shows its message to the user. No Retry-After: the API server's client would sleep and retry inside the
 * webhook timeout.
 */
export function overBudgetBody(inFlightBytes: number, maxInFlightBytes: number): Record<string, unknown> {
  return unjudgedStatus(503, overBudgetMessage(inFlightBytes, maxInFlightBytes));
}

/**
 * Counts the large bodies of POST /validate in an onRequest hook, before they are read: one that does not fit is
 * answered 503 at once and its connection closed, so its body is never read (Node.js would otherwise read and discard
 * it to keep the connection). The bytes return to the budget when the response's 'close' fires: after the answer is
 * sent, or when the connection closes first (a client that gave up mid-upload).
 */
export function addBodyBudget(app: FastifyInstance, options: BodyBudgetOptions): BodyBudget {
  const budget = new BodyBudget(options.maxInFlightBytes);
  // The server's limit, which /validate keeps. Fastify always fills it in (1 MiB by default); its type does not say so.
  const bodyLimitBytes = app.initialConfig.bodyLimit ?? MiB;
  // A callback hook, not an async one: it runs for every review, and a promise per review costs more than the check.
  // The headers are read first because request.routeOptions builds an object on every read: only large bodies pay.
  app.addHook('onRequest', (request, reply, done) => {
    const bytes = bytesToReserve(request.headers, options.largeBodyBytes, bodyLimitBytes);
    if (bytes === 0 || request.method !== 'POST' || request.routeOptions.url !== '/validate') return done();
    if (budget.tryReserve(bytes)) {
      reply.raw.once('close', () => budget.release(bytes));
      return done();
    }
    options.rejected?.inc();
    reply.code(503).header('connection', 'close').type('application/json').send(overBudgetBody(budget.inFlightBytes, budget.maxBytes));
  });
  return budget;
}
