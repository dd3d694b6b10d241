import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Counter } from 'prom-client';
import { unjudgedStatus } from './errors.ts';
import { timeoutOf, webhookTimeoutMs } from './review-deadline.ts';

/**
 * A budget of large request bodies in flight (docs/reliability.md, "Slow and abusive clients"). Fastify buffers a
 * body whole and then parses it, so every body being read holds memory until it is answered: 16 concurrent 7 MiB
 * reviews took the webhook from 157 MB to 395 MB of RSS, past the chart's 256 Mi limit. Most reviews are a few kB and
 * are not counted; large ones are real too (an UPDATE of a RoleBinding near etcd's 1.5 MiB object limit carries it
 * twice), and a burst of them must be answered, not refused: a body that does not fit waits, unread, in a FIFO queue
 * for as long as its own deadline (`?timeout=`) still leaves time to read and judge it, and is refused 503 only
 * when it does not.
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

/**
 * The time to keep for reading and judging a large body once it leaves the queue: a fixed second plus 250 ms per MiB.
 * Measured here with one CPU (the chart's limit): a 3.7 MiB UPDATE of a 19,000-subject RoleBinding took 250-550 ms
 * from first byte to answer, so this leaves about 4x for a slower node or a directory lookup.
 */
export function answerTimeMs(bytes: number): number {
  return 1000 + (250 * bytes) / MiB;
}

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

interface Waiter {
  readonly bytes: number;
  readonly admit: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Bytes of large bodies being read now, the limit they must stay under, and the bodies waiting for room, first come
 * first served. A body larger than the whole budget still goes when nothing else is being read, so no review waits
 * forever.
 */
export class BodyBudget {
  private inFlight = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly maxBytes: number) {}

  get inFlightBytes(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Takes `bytes` from the budget and returns true, or returns false when they do not fit or others wait first. */
  tryReserve(bytes: number): boolean {
    if (this.queue.length > 0 || !this.fits(bytes)) return false;
    this.inFlight += bytes;
    return true;
  }

  /**
   * Queues `bytes`: `admit` is called once they are taken from the budget, `giveUp` if `maxWaitMs` passes first.
   * Returns a function that leaves the queue (the client went away); it does nothing once either was called.
   */
  wait(bytes: number, maxWaitMs: number, admit: () => void, giveUp: () => void): () => void {
    const timer = setTimeout(() => {
      this.leave(waiter);
      giveUp();
    }, maxWaitMs);
    const waiter: Waiter = { bytes, admit, timer };
    this.queue.push(waiter);
    return () => this.leave(waiter);
  }

  release(bytes: number): void {
    this.inFlight -= bytes;
    this.admitWaiting();
  }

  private fits(bytes: number): boolean {
    return this.inFlight === 0 || this.inFlight + bytes <= this.maxBytes;
  }

  private leave(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index < 0) return;
    clearTimeout(waiter.timer);
    this.queue.splice(index, 1);
    // The one that left may have been holding up smaller ones behind it.
    if (index === 0) this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) {
      const waiter = this.queue.shift()!;
      clearTimeout(waiter.timer);
      this.inFlight += waiter.bytes;
      waiter.admit();
    }
  }
}

/** Sizes in MiB for people: 7, 7.5, 0.3. */
function mebibytes(bytes: number): string {
  return String(Math.round((bytes / MiB) * 10) / 10);
}

/** The refusal's message: what happened, that retrying is safe, and what to change if it persists. */
export function overBudgetMessage(inFlightBytes: number, maxInFlightBytes: number, bytes: number, timeoutMs: number): string {
  return (
    `entra-rbac-guard is already reading ${mebibytes(inFlightBytes)} MiB of large request bodies ` +
    `(limit ${mebibytes(maxInFlightBytes)} MiB) and could not read this ${mebibytes(bytes)} MiB review in time to answer ` +
    `within its ${timeoutMs / 1000} s timeout, so it did not read it; retry the request. ` +
    'If this persists, add webhook replicas, or raise the webhook timeoutSeconds'
  );
}

/**
 * The refusal's body: a Kubernetes Status, as the shed answer (src/http/load-shedding.ts shedBody), so the API
 * server shows its message to the user. No Retry-After: the API server's client would sleep and retry inside the
 * webhook timeout.
 */
export function overBudgetBody(inFlightBytes: number, maxInFlightBytes: number, bytes: number, timeoutMs: number): Record<string, unknown> {
  return unjudgedStatus(503, overBudgetMessage(inFlightBytes, maxInFlightBytes, bytes, timeoutMs));
}

/**
 * Counts the large bodies of POST /validate in an onRequest hook, before they are read. One that does not fit waits,
 * unread, while its deadline leaves `answerTimeMs` to read and judge it; then it is answered 503 and its connection
 * closed, so its body is never read (Node.js would otherwise read and discard it to keep the connection). The bytes
 * return to the budget when the response's 'close' fires: after the answer is sent, or when the connection closes
 * first (a client that gave up mid-upload); a client that goes away while waiting leaves the queue.
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
    const admitted = () => {
      reply.raw.once('close', () => budget.release(bytes));
      done();
    };
    if (budget.tryReserve(bytes)) return admitted();
    const timeoutMs = webhookTimeoutMs(timeoutOf(request.query));
    const refuse = () => {
      options.rejected?.inc();
      reply.code(503).header('connection', 'close').type('application/json').send(overBudgetBody(budget.inFlightBytes, budget.maxBytes, bytes, timeoutMs));
    };
    const maxWaitMs = timeoutMs - answerTimeMs(bytes);
    if (maxWaitMs <= 0) return refuse();
    const leave = budget.wait(bytes, maxWaitMs, admitted, refuse);
    reply.raw.once('close', leave);
  });
  return budget;
}
