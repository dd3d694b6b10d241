/**
 * The budget of large bodies in flight: which requests it counts and how it fills (pure), then the real webhook over
 * HTTPS on 127.0.0.1 with uploads held half-sent, so "in flight" is a state each test sets up rather than a race.
 * A hook added after buildServer's sees the requests the budget let through, and each response's 'close' after the
 * budget's own listener has returned its bytes: the tests wait on those, never on a clock.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import {
  BodyBudget,
  LARGE_BODY_BYTES,
  answerTimeMs,
  MAX_LARGE_BODY_BYTES_IN_FLIGHT,
  bytesToReserve,
  overBudgetBody,
  overBudgetMessage,
} from '../../src/http/body-budget.ts';
import { BODY_LIMIT_BYTES, buildServer, type ServerDependencies, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { createMetrics, type Metrics } from '../../src/telemetry/metrics.ts';
import { policyWith, recordedReview } from '../helpers.ts';

const TLS = await generateSelfSigned();
const MiB = 1024 * 1024;
const FIXTURE = '01-CREATE-RoleBinding-payments-viewers.json';
const UID = recordedReview(FIXTURE)['request']['uid'] as string;

type Json = Record<string, any>;

/** The recorded review, padded with an annotation to exactly `bytes` bytes of JSON. */
function paddedReview(bytes: number): Buffer {
  const review = recordedReview(FIXTURE);
  review['request']['object']['metadata']['annotations'] = { 'example.com/padding': '' };
  const padding = bytes - Buffer.byteLength(JSON.stringify(review));
  review['request']['object']['metadata']['annotations']['example.com/padding'] = 'x'.repeat(padding);
  return Buffer.from(JSON.stringify(review));
}

const SMALL_REVIEW = paddedReview(3 * 1024);
const JUST_UNDER_THRESHOLD_REVIEW = paddedReview(LARGE_BODY_BYTES);
const LARGE_REVIEW = paddedReview(7 * MiB);

// ---------------------------------------------------------------------------------------------------------------

const Accounting = suite('body budget :: accounting');

const RESERVE_CASES: ReadonlyArray<readonly [string, IncomingHttpHeaders, number]> = [
  ['no body (GET)', {}, 0],
  ['a real review, 3 kB', { 'content-length': '3000' }, 0],
  ['exactly the threshold', { 'content-length': String(LARGE_BODY_BYTES) }, 0],
  ['one byte above the threshold', { 'content-length': String(LARGE_BODY_BYTES + 1) }, LARGE_BODY_BYTES + 1],
  ['7 MiB', { 'content-length': String(7 * MiB) }, 7 * MiB],
  ['exactly the body limit', { 'content-length': String(BODY_LIMIT_BYTES) }, BODY_LIMIT_BYTES],
  ['above the body limit (answered 413 unread)', { 'content-length': String(BODY_LIMIT_BYTES + 1) }, 0],
  ['chunked, no Content-Length', { 'transfer-encoding': 'chunked' }, BODY_LIMIT_BYTES],
];
for (const [name, headers, expected] of RESERVE_CASES) {
  Accounting(`bytesToReserve :: ${name} :: ${expected === 0 ? 'not counted' : `${expected} bytes`}`, () => {
    assert.is(bytesToReserve(headers, LARGE_BODY_BYTES, BODY_LIMIT_BYTES), expected);
  });
}

Accounting('BodyBudget :: fills exactly to its limit, refuses past it, and has room again after a release', () => {
  const budget = new BodyBudget(24 * MiB);
  assert.ok(budget.tryReserve(8 * MiB));
  assert.ok(budget.tryReserve(8 * MiB));
  assert.ok(budget.tryReserve(8 * MiB), 'three bodies at the limit fit');
  assert.not.ok(budget.tryReserve(LARGE_BODY_BYTES + 1), 'not one byte more');
  assert.is(budget.inFlightBytes, 24 * MiB, 'a refusal takes nothing');
  budget.release(8 * MiB);
  assert.ok(budget.tryReserve(7 * MiB));
  assert.is(budget.inFlightBytes, 23 * MiB);
});

Accounting('BodyBudget :: a body larger than the whole budget :: goes alone when nothing else is read, never alongside', () => {
  const budget = new BodyBudget(MiB);
  assert.ok(budget.tryReserve(3 * MiB), 'alone: it would otherwise wait forever');
  assert.not.ok(budget.tryReserve(LARGE_BODY_BYTES + 1));
});

/** A queue entry whose outcome the test reads: 'admitted', 'gave up' or undefined while it waits. */
function waitFor(budget: BodyBudget, bytes: number, maxWaitMs = 60_000): { outcome: () => string | undefined; leave: () => void } {
  let outcome: string | undefined;
  const leave = budget.wait(bytes, maxWaitMs, () => (outcome = 'admitted'), () => (outcome = 'gave up'));
  return { outcome: () => outcome, leave };
}

Accounting('BodyBudget.wait :: first come first served: a small body waits behind a large one; each goes when it fits', () => {
  const budget = new BodyBudget(8 * MiB);
  assert.ok(budget.tryReserve(7 * MiB));
  const large = waitFor(budget, 7 * MiB);
  const small = waitFor(budget, MiB);
  assert.not.ok(budget.tryReserve(MiB), 'no overtaking the queue, though 1 MiB would fit');
  assert.equal([large.outcome(), small.outcome(), budget.waiting], [undefined, undefined, 2]);
  budget.release(7 * MiB);
  assert.equal([large.outcome(), small.outcome(), budget.inFlightBytes], ['admitted', 'admitted', 8 * MiB]);
  assert.is(budget.waiting, 0);
});

Accounting('BodyBudget.wait :: the head leaves (its client went away) :: the one behind it goes if it fits; leaving twice is harmless', () => {
  const budget = new BodyBudget(8 * MiB);
  assert.ok(budget.tryReserve(4 * MiB));
  const large = waitFor(budget, 7 * MiB);
  const small = waitFor(budget, 2 * MiB);
  large.leave();
  large.leave();
  assert.equal([large.outcome(), small.outcome(), budget.inFlightBytes, budget.waiting], [undefined, 'admitted', 6 * MiB, 0]);
  small.leave();
  assert.is(budget.inFlightBytes, 6 * MiB, 'leaving after admission returns nothing: the response returns the bytes');
});

Accounting('BodyBudget.wait :: its time runs out :: it gives up, takes nothing, and the queue moves on', async () => {
  const budget = new BodyBudget(8 * MiB);
  assert.ok(budget.tryReserve(8 * MiB));
  const late = waitFor(budget, 7 * MiB, 20);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal([late.outcome(), budget.waiting, budget.inFlightBytes], ['gave up', 0, 8 * MiB]);
  budget.release(8 * MiB);
  assert.is(budget.inFlightBytes, 0, 'a waiter that gave up is never admitted later');
});

Accounting('answerTimeMs :: what a large body needs once read :: 1 s plus 250 ms per MiB', () => {
  assert.is(answerTimeMs(0), 1000);
  assert.is(answerTimeMs(4 * MiB), 2000);
});

Accounting('overBudgetBody :: a Kubernetes Status with code 503 and a message saying what happened and what to do', () => {
  const body = overBudgetBody(21 * MiB, 24 * MiB, 7 * MiB, 10_000);
  assert.is(body['kind'], 'Status');
  assert.is(body['apiVersion'], 'v1');
  assert.is(body['status'], 'Failure');
  assert.is(body['reason'], 'ServiceUnavailable');
  assert.is(body['code'], 503);
  assert.is(body['statusCode'], 503, 'as every other error of the webhook');
  assert.is(body['error'], 'Service Unavailable');
  assert.is(body['message'], overBudgetMessage(21 * MiB, 24 * MiB, 7 * MiB, 10_000));
  assert.match(String(body['message']), /already reading 21 MiB of large request bodies \(limit 24 MiB\)/);
  assert.match(String(body['message']), /could not read this 7 MiB review in time to answer within its 10 s timeout/);
  assert.match(String(body['message']), /retry the request\. If this persists, add webhook replicas, or raise the webhook timeoutSeconds/);
});

Accounting('overBudgetMessage :: sizes that are not whole MiB :: one decimal', () => {
  assert.match(overBudgetMessage(7.5 * MiB, 24 * MiB, 0.3 * MiB, 1000), /already reading 7\.5 MiB.*this 0\.3 MiB review.*its 1 s timeout/);
});

Accounting.run();

// ---------------------------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One POST (to /validate unless told) on its own kept-alive TLS connection, its body sent in part until `finish()`. */
interface Upload {
  readonly answer: Promise<Answer>;
  /** Whether the answer has begun to arrive: a refusal comes before the body is sent. */
  readonly answered: () => boolean;
  readonly connectionClosed: () => boolean;
  /** Sends the rest of the body. */
  finish(): void;
  /** Closes the connection mid-upload, as a client that gives up. */
  abort(): void;
}

interface UploadOptions {
  /** No Content-Length: Node.js then sends the body chunked. */
  readonly chunked?: boolean;
  /** How much of the body to send at once. */
  readonly firstBytes?: number;
  readonly path?: string;
}

function startUpload(port: number, body: Buffer, { chunked = false, firstBytes = 16 * 1024, path = '/validate?timeout=10s' }: UploadOptions = {}): Upload {
  let answered = false;
  let aborted = false;
  let connectionClosed = false;
  // Keep-alive, as the API server asks: a server that does not close the connection itself then keeps it open.
  const headers = { 'content-type': 'application/json', connection: 'keep-alive', ...(chunked ? {} : { 'content-length': body.length }) };
  const req = httpsRequest({ host: '127.0.0.1', port, method: 'POST', path, agent: false, ca: TLS.ca, headers });
  req.on('socket', (socket) => socket.once('close', () => (connectionClosed = true)));
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (error) => {
      // Once answered (a refusal closes the connection) or aborted on purpose, the socket's end is expected.
      if (!answered && !aborted) reject(error);
    });
  });
  // Awaited by the test when it matters; this only keeps a failure from also surfacing as an unhandled rejection.
  answer.catch(() => undefined);
  req.write(body.subarray(0, firstBytes));
  return {
    answer,
    answered: () => answered,
    connectionClosed: () => connectionClosed,
    finish: () => req.end(body.subarray(firstBytes)),
    abort: () => {
      aborted = true;
      req.destroy();
    },
  };
}

/** Waits until `check` holds; throws after 10 s, so a broken budget fails the test instead of hanging it. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what} after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertJudged(answer: Answer): void {
  assert.is(answer.status, 200, answer.body);
  const review = JSON.parse(answer.body) as Json;
  assert.is(review['kind'], 'AdmissionReview');
  assert.is(review['response']['uid'], UID);
}

interface ServerContext {
  app: WebhookServer;
  port: number;
  metrics: Metrics;
  /** POST /validate requests the budget let through. */
  admitted: number;
  /** Their responses closed, each after the budget returned its bytes. */
  closed: number;
  /** Every upload of the test, for after.each to abort. */
  uploads: Upload[];
}

const Webhook = suite<ServerContext>('body budget :: the webhook over HTTPS');

/** The budget of most tests: three 7 MiB bodies fit, a fourth does not (the default is tested on its own). */
const BUDGET = { maxInFlightBytes: 24 * MiB };
/** A timeout that leaves no time to wait: a body that does not fit is refused at once (answerTimeMs is over 1 s). */
const NO_WAIT = { path: '/validate?timeout=1s' };

async function listen(context: ServerContext, overrides: Partial<ServerDependencies> = { bodyBudget: BUDGET }): Promise<void> {
  context.metrics = createMetrics(new Registry());
  context.admitted = 0;
  context.closed = 0;
  context.uploads = [];
  context.app = buildServer({ tls: TLS, currentPolicy: () => policyWith(), metrics: context.metrics, ...overrides });
  context.app.addHook('onRequest', (request, reply, done) => {
    if (request.url.startsWith('/validate')) {
      context.admitted += 1;
      reply.raw.once('close', () => (context.closed += 1));
    }
    done();
  });
  await context.app.listen({ host: '127.0.0.1', port: 0 });
  context.port = (context.app.server.address() as AddressInfo).port;
}

function hold(context: ServerContext, count: number, body: Buffer, options: UploadOptions = {}): Upload[] {
  const uploads = Array.from({ length: count }, () => startUpload(context.port, body, options));
  context.uploads.push(...uploads);
  return uploads;
}

/** Sends whole bodies, all concurrently, and waits for every answer. */
function postAll(context: ServerContext, bodies: readonly Buffer[], options: UploadOptions = {}): Promise<Answer[]> {
  return Promise.all(
    bodies.map((body) => {
      const [upload] = hold(context, 1, body, options);
      upload!.finish();
      return upload!.answer;
    }),
  );
}

/** Waits until `count` more requests got past the budget, failing at once if one of `uploads` is answered first. */
async function untilAdmitted(context: ServerContext, uploads: readonly Upload[], count = uploads.length): Promise<void> {
  const expected = context.admitted + count;
  await until(() => context.admitted >= expected || uploads.some((upload) => upload.answered()), `${count} admitted requests`);
  for (const upload of uploads.filter((each) => each.answered())) {
    const answer = await upload.answer;
    assert.unreachable(`refused while the budget should have had room: ${answer.status} ${answer.body}`);
  }
  assert.is(context.admitted, expected);
}

/**
 * The refusal `upload` (of `bytes`, sent with ?timeout=1s unless told) gets with the budget full of `inFlightBytes`:
 * 503 with the Status, before its body is read, and its connection closed. Fails at once if it is admitted instead.
 */
async function assertRefused(
  context: ServerContext,
  upload: Upload,
  inFlightBytes: number,
  { bytes, timeoutMs = 1000, maxInFlightBytes = BUDGET.maxInFlightBytes }: { bytes: number; timeoutMs?: number; maxInFlightBytes?: number },
): Promise<void> {
  const admitted = context.admitted;
  await until(() => upload.answered() || context.admitted > admitted, 'an answer');
  assert.is(context.admitted, admitted, 'admitted while the budget should have been full');
  const answer = await upload.answer;
  assert.is(answer.status, 503, answer.body);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.is(answer.headers['connection'], 'close');
  assert.is(answer.headers['retry-after'], undefined, 'no Retry-After: the API server would sleep inside its timeout');
  assert.equal(JSON.parse(answer.body), overBudgetBody(inFlightBytes, maxInFlightBytes, bytes, timeoutMs));
  await until(upload.connectionClosed, 'the server to close the refused connection, its body unread');
}

async function rejectedCount(metrics: Metrics): Promise<number> {
  return (await metrics.bodyBudgetRejected.get()).values[0]?.value ?? 0;
}

Webhook.after.each(async (context) => {
  for (const upload of context.uploads) upload.abort();
  await context.app.close();
});

Webhook('the default budget, a 1 s timeout :: one body at the 8 MiB limit: a second 7 MiB review is refused at once while the first is read', async (context) => {
  await listen(context, {});
  const [first] = hold(context, 1, LARGE_REVIEW);
  await untilAdmitted(context, [first!]);
  await assertRefused(context, hold(context, 1, LARGE_REVIEW, NO_WAIT)[0]!, 7 * MiB, { bytes: LARGE_REVIEW.length, maxInFlightBytes: MAX_LARGE_BODY_BYTES_IN_FLIGHT });
  first!.finish();
  assertJudged(await first!.answer);
});

Webhook('many small reviews, with a budget of 1 byte :: all judged: a body up to the threshold is never counted', async (context) => {
  await listen(context, { bodyBudget: { maxInFlightBytes: 1 } });
  const answers = await postAll(context, [...Array.from({ length: 40 }, () => SMALL_REVIEW), JUST_UNDER_THRESHOLD_REVIEW]);
  for (const answer of answers) assertJudged(answer);
  assert.is(await rejectedCount(context.metrics), 0);
});

Webhook('a body above the threshold, with a budget of 1 byte :: the first goes alone, a second is refused: the threshold is where counting starts', async (context) => {
  await listen(context, { bodyBudget: { maxInFlightBytes: 1 } });
  const [first] = hold(context, 1, paddedReview(LARGE_BODY_BYTES + 1));
  await untilAdmitted(context, [first!]);
  await assertRefused(context, hold(context, 1, paddedReview(LARGE_BODY_BYTES + 1), NO_WAIT)[0]!, LARGE_BODY_BYTES + 1, { bytes: LARGE_BODY_BYTES + 1, maxInFlightBytes: 1 });
  first!.finish();
  assertJudged(await first!.answer);
});

Webhook('a burst of 12 large reviews with the default 10 s timeout :: each waits its turn unread and all 12 are judged, none refused', async (context) => {
  await listen(context, { bodyBudget: { maxInFlightBytes: 8 * MiB } });
  const answers = await postAll(context, Array.from({ length: 12 }, () => paddedReview(3 * MiB)));
  for (const answer of answers) assertJudged(answer);
  assert.is(await rejectedCount(context.metrics), 0);
  await until(() => context.closed === 12, 'the twelve responses to close');
});

Webhook('a 7 MiB review behind a full budget, 10 s timeout :: waits unread while the others are read, judged once room frees', async (context) => {
  await listen(context);
  const within = hold(context, 3, LARGE_REVIEW);
  await untilAdmitted(context, within);
  const [waiting] = hold(context, 1, LARGE_REVIEW);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal([waiting!.answered(), context.admitted], [false, 3], 'neither refused nor read while the budget is full');
  within[0]!.finish();
  assertJudged(await within[0]!.answer);
  await until(() => context.admitted === 4, 'the waiting review to be admitted');
  waiting!.finish();
  assertJudged(await waiting!.answer);
  for (const upload of within.slice(1)) upload.finish();
  for (const upload of within.slice(1)) assertJudged(await upload.answer);
});

Webhook('a 7 MiB review behind a full budget, 3 s timeout :: refused 503 once its deadline leaves too little time to read and judge it', async (context) => {
  await listen(context);
  const within = hold(context, 3, LARGE_REVIEW);
  await untilAdmitted(context, within);
  const started = Date.now();
  const [late] = hold(context, 1, LARGE_REVIEW, { path: '/validate?timeout=3s' });
  await assertRefused(context, late!, 21 * MiB, { bytes: LARGE_REVIEW.length, timeoutMs: 3000 });
  const waitedMs = Date.now() - started;
  const maxWaitMs = 3000 - answerTimeMs(LARGE_REVIEW.length);
  assert.ok(waitedMs >= maxWaitMs - 20, `refused after ${waitedMs} ms, before its ${maxWaitMs} ms of waiting were up`);
  assert.is(await rejectedCount(context.metrics), 1);
});

Webhook('a client that gives up while queued :: leaves the queue: the next one behind it is admitted when room frees', async (context) => {
  await listen(context);
  const within = hold(context, 3, LARGE_REVIEW);
  await untilAdmitted(context, within);
  const [gone, next] = [hold(context, 1, LARGE_REVIEW)[0]!, hold(context, 1, LARGE_REVIEW)[0]!];
  await new Promise((resolve) => setTimeout(resolve, 100));
  gone.abort();
  within[0]!.finish();
  assertJudged(await within[0]!.answer);
  await until(() => context.admitted === 4 || next.answered(), 'the review behind the one that left to be admitted');
  assert.is(next.answered(), false, 'admitted, not refused');
  next.finish();
  assertJudged(await next.answer);
  for (const upload of within.slice(1)) upload.finish();
  for (const upload of within.slice(1)) assertJudged(await upload.answer);
});

Webhook('four concurrent 7 MiB reviews :: the fourth refused 503 at once, the three within 24 MiB judged', async (context) => {
  await listen(context);
  const within = hold(context, 3, LARGE_REVIEW);
  await untilAdmitted(context, within);
  await assertRefused(context, hold(context, 1, LARGE_REVIEW, NO_WAIT)[0]!, 21 * MiB, { bytes: LARGE_REVIEW.length });
  assertJudged((await postAll(context, [SMALL_REVIEW]))[0]!);
  for (const upload of within) upload.finish();
  for (const upload of within) assertJudged(await upload.answer);
  assert.is(await rejectedCount(context.metrics), 1);
  const exposition = await context.app.inject({ method: 'GET', url: '/metrics' });
  assert.match(exposition.body, /^entra_rbac_guard_admission_body_budget_rejected_total 1$/m);
});

Webhook('three 7 MiB reviews answered :: their bytes return exactly once :: three more are judged, then 24 MiB fills the budget', async (context) => {
  await listen(context);
  for (const answer of await postAll(context, [LARGE_REVIEW, LARGE_REVIEW, LARGE_REVIEW])) assertJudged(answer);
  await until(() => context.closed === 3, 'the three responses to close');
  for (const answer of await postAll(context, [LARGE_REVIEW, LARGE_REVIEW, LARGE_REVIEW])) assertJudged(answer);
  await until(() => context.closed === 6, 'the next three responses to close');
  // Three chunked bodies (8 MiB each) are the whole budget only if every answered review returned its bytes once:
  // not returned, the first does not fit; returned twice, a fourth large body would fit too.
  await untilAdmitted(context, hold(context, 3, SMALL_REVIEW, { chunked: true, firstBytes: 100 }));
  await assertRefused(context, hold(context, 1, paddedReview(LARGE_BODY_BYTES + 1), NO_WAIT)[0]!, 24 * MiB, { bytes: LARGE_BODY_BYTES + 1 });
});

Webhook('three 7 MiB uploads aborted mid-body :: their bytes return exactly once :: 24 MiB fills the budget again', async (context) => {
  await listen(context);
  const aborted = hold(context, 3, LARGE_REVIEW);
  await untilAdmitted(context, aborted);
  for (const upload of aborted) upload.abort();
  await until(() => context.closed === 3, 'the three aborted responses to close');
  await untilAdmitted(context, hold(context, 3, SMALL_REVIEW, { chunked: true, firstBytes: 100 }));
  await assertRefused(context, hold(context, 1, paddedReview(LARGE_BODY_BYTES + 1), NO_WAIT)[0]!, 24 * MiB, { bytes: LARGE_BODY_BYTES + 1 });
});

Webhook('chunked uploads with no Content-Length :: each counts as the 8 MiB limit :: a fourth large body is refused, the three judged', async (context) => {
  await listen(context);
  const chunked = hold(context, 3, SMALL_REVIEW, { chunked: true, firstBytes: 100 });
  await untilAdmitted(context, chunked);
  await assertRefused(context, hold(context, 1, paddedReview(MiB), NO_WAIT)[0]!, 24 * MiB, { bytes: MiB });
  for (const upload of chunked) upload.finish();
  for (const upload of chunked) assertJudged(await upload.answer);
});

Webhook('a large POST to another path, with a budget of 1 byte :: not budgeted: answered 404', async (context) => {
  await listen(context, { bodyBudget: { maxInFlightBytes: 1 } });
  const [answer] = await postAll(context, [paddedReview(MiB)], { path: '/other' });
  assert.is(answer!.status, 404, answer!.body);
});

Webhook.run();
