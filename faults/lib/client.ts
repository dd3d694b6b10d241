/**
 * HTTPS clients for the fault scenarios, each request timed:
 *
 * - `HttpsClient`: well-behaved requests over kept-alive connections (as the API server makes them). `request()` never
 *   rejects: a connection error or a client-side timeout is an answer with status 0 and `error` set.
 * - `openTls` / `closedWithin`: raw TLS sockets for attacks that write bytes by hand (slow-loris, idle connections).
 * - `percentile` / `latencySummary`: the figures a row reports.
 */
import { Agent, request as httpsRequest } from 'node:https';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

export interface HttpsAnswer {
  /** The HTTP status, or 0 when no answer came (connection error, client-side timeout). */
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** From the request's start to the answer's last byte (or the failure). */
  readonly ms: number;
  /** What went wrong on the wire, when no answer came. */
  readonly error?: string;
}

export interface RequestOptions {
  readonly headers?: Readonly<Record<string, string | number>>;
  /** The client gives up after this long (a hang); default 15 s, above every server-side deadline. */
  readonly timeoutMs?: number;
}

export interface HttpsClientOptions {
  /** PEM the server's certificate chains to. */
  readonly ca: string;
  /** Connections kept open at most (default 16). */
  readonly maxSockets?: number;
}

export class HttpsClient {
  private readonly agent: Agent;

  constructor(
    readonly origin: string,
    options: HttpsClientOptions,
  ) {
    this.agent = new Agent({ ca: options.ca, keepAlive: true, maxSockets: options.maxSockets ?? 16 });
  }

  /** One request; the body is sent as is (a string or bytes), with its Content-Length. */
  request(method: string, path: string, body?: string | Buffer, options: RequestOptions = {}): Promise<HttpsAnswer> {
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? 15_000;
    const headers = { ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }), ...options.headers };
    return new Promise((resolve) => {
      let settled = false;
      const done = (answer: Omit<HttpsAnswer, 'ms'>) => {
        if (settled) return;
        settled = true;
        resolve({ ...answer, ms: performance.now() - started });
      };
      const outgoing = httpsRequest(`${this.origin}${path}`, { method, agent: this.agent, headers, timeout: timeoutMs }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (error) => done({ status: 0, headers: {}, body: '', error: error.message }));
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      outgoing.on('error', (error) => done({ status: 0, headers: {}, body: '', error: error.message }));
      outgoing.end(body);
    });
  }

  /** POST a JSON body (a value is stringified; a string is sent as is) with Content-Type application/json. */
  postJson(path: string, body: unknown, options: RequestOptions = {}): Promise<HttpsAnswer> {
    const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return this.request('POST', path, text, { ...options, headers: { 'content-type': 'application/json', ...options.headers } });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One TLS context per CA: building one per connection (parsing the PEM each time) would cost the attacker more than the server. */
const contexts = new Map<string, SecureContext>();

/** A TLS connection to `origin` that has completed its handshake and sent nothing yet. */
export function openTls(origin: string, ca: string): Promise<TLSSocket> {
  const { hostname, port } = new URL(origin);
  let secureContext = contexts.get(ca);
  if (!secureContext) contexts.set(ca, (secureContext = createSecureContext({ ca })));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), secureContext, servername: hostname === '127.0.0.1' ? undefined : hostname }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Waits until the server closes `socket`, up to `limitMs`; resolves with how long that took from `since` (ms,
 * performance.now() time base), or undefined when it was still open at the limit. What the server wrote before
 * closing (e.g. a 408) is in `received`.
 */
export function closedWithin(socket: TLSSocket, limitMs: number, since = performance.now()): Promise<{ readonly ms: number | undefined; readonly received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve({ ms: performance.now() - since, received });
    const timer = setTimeout(() => resolve({ ms: undefined, received }), Math.max(0, limitMs - (performance.now() - since)));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - since, received });
    });
  });
}

/** The p-th percentile (0–100) by nearest rank; 0 for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencySummary(values: readonly number[]): LatencySummary {
  return { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: values.reduce((most, value) => Math.max(most, value), 0) };
}

export interface RawAnswer {
  /** The status of the response line, or 0 when none came. */
  readonly status: number;
  /** Everything the server sent (latin1), headers included. */
  readonly text: string;
  /** From the start to the complete response (or to the close or the limit, when none came). */
  readonly ms: number;
  /** True when the server closed the connection (after answering or not) before `limitMs`. */
  readonly closed: boolean;
  /** Bytes of the request the socket took before the exchange ended. */
  readonly bytesWritten: number;
}

/**
 * An HTTP/1.1 exchange written by hand over a fresh TLS connection, for what a well-behaved client cannot send (a
 * Content-Length it does not keep to, a body past any limit): writes `head`, then each chunk of `body` as the socket
 * takes it, stopping once the server has answered. Resolves when a complete response (by its Content-Length) has
 * arrived, the server closed the connection, or `limitMs` passed. Never rejects after connecting.
 */
export async function rawExchange(origin: string, ca: string, head: string, body: Iterable<Buffer | string> = [], limitMs = 15_000): Promise<RawAnswer> {
  const started = performance.now();
  const socket = await openTls(origin, ca);
  let text = '';
  socket.on('error', () => {});
  const outcome = new Promise<{ closed: boolean; at: number }>((resolve) => {
    const timer = setTimeout(() => resolve({ closed: false, at: performance.now() }), limitMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ closed, at: performance.now() });
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (completeResponse(text)) finish(false);
    });
    socket.once('close', () => finish(true));
  });
  void (async () => {
    if (!socket.write(head)) await drained(socket);
    for (const chunk of body) {
      if (socket.destroyed || text !== '') return;
      if (!socket.write(chunk)) await drained(socket);
    }
  })();
  const { closed, at } = await outcome;
  const { bytesWritten } = socket;
  socket.destroy();
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, ms: at - started, closed, bytesWritten };
}

/** A response head and as many body bytes as its Content-Length says. */
function completeResponse(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  return length !== undefined && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length);
}

function drained(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
