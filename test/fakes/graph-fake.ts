/**
 * A loopback Microsoft Graph v1.0, faithful in what entra-rbac-guard relies on:
 *
 * - `GET /v1.0/groups/{id}` with `$select`: 200 with the selected fields; 404 `Request_ResourceNotFound` for an object ID
 *   that does not exist; 400 `Request_BadRequest` "Invalid object identifier" for anything that is not a GUID.
 * - `POST /v1.0/$batch` (JSON batching): at most 20 requests, each answered with its own status, headers and body,
 *   in an order that differs from the request's (Graph does not keep it).
 * - `POST /v1.0/directoryObjects/getByIds` with `{ids, types}`: at most 1,000 IDs; 200 with the groups among them
 *   (`@odata.type` `#microsoft.graph.group`, every default property), IDs that name no group left out; 403
 *   `Authorization_RequestDenied` while `getByIdsAllowed` is false (the identity lacks Directory.Read.All).
 * - `GET /v1.0/groups/{id}/members` with `$top`: the group's members (`members`, by group ID; none unless set), at
 *   most `$top` of them, as `{value: [{'@odata.type': '#microsoft.graph.user', id}]}`; 404 for a group that does not
 *   exist; 403 `Authorization_RequestDenied` while `membersAllowed` is false (the identity lacks GroupMember.Read.All).
 * - Throttling: 429 `TooManyRequests` with `Retry-After` (seconds), for the whole request or for one batch item.
 * - Errors are JSON with `Content-Type: application/json` (the Graph SDK reads `error.code` only then).
 * - A request without `Authorization: Bearer <the expected token>` is 401 `InvalidAuthenticationToken`.
 *
 * Faults for tests: latency, 5xx, malformed JSON, a hang (no answer at all), queued or persistent. It counts HTTP calls
 * and group lookups, so a test can prove that something made no request.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopbackCertificate } from './tls.ts';

export interface FakeGroup {
  readonly id: string;
  readonly displayName: string;
  readonly securityEnabled: boolean;
  readonly mailEnabled?: boolean;
  readonly groupTypes?: readonly string[];
}

export type GraphFailure =
  /** An error status (5xx, 403, …) with a Graph JSON error body. */
  | { readonly kind: 'status'; readonly status: number; readonly code?: string; readonly message?: string }
  /** 429 TooManyRequests with Retry-After in seconds; without Retry-After when `retryAfterSeconds` is undefined. */
  | { readonly kind: 'throttle'; readonly retryAfterSeconds: number | undefined }
  /** 200, Content-Type application/json, a body that is not JSON. */
  | { readonly kind: 'malformed' }
  /** 200, Content-Type text/html: a page (a proxy's or a gateway's) instead of Graph's JSON. */
  | { readonly kind: 'not-json' }
  /** 200 with a Content-Length larger than what is sent, then the connection is closed: a body cut short. */
  | { readonly kind: 'truncated' }
  /** Never answers (the connection stays open until the client gives up or the fake closes). */
  | { readonly kind: 'hang' };

export interface GraphFakeOptions {
  /** The bearer token every request must carry. */
  readonly accessToken: string;
  readonly groups?: readonly FakeGroup[];
  readonly latencyMs?: number;
}

export interface GraphRequestRecord {
  readonly method: string;
  readonly url: string;
  readonly authorized: boolean;
  /** For $batch: the relative URLs of its requests. */
  readonly batchUrls?: readonly string[];
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAX_BATCH = 20;

export class GraphFake {
  accessToken: string;
  readonly groups = new Map<string, FakeGroup>();
  latencyMs: number;
  /** Applies to every request until cleared. */
  failure: GraphFailure | undefined;
  /** Applies to batch items (and single GETs) for these group IDs until cleared. */
  readonly itemFailures = new Map<string, GraphFailure>();
  /** HTTP requests received, authorized or not. */
  calls = 0;
  batchCalls = 0;
  getByIdsCalls = 0;
  /** False: the identity lacks Directory.Read.All, and getByIds is answered 403. */
  getByIdsAllowed = true;
  getCalls = 0;
  /** Member object IDs by group ID, for `GET /groups/{id}/members`; a group not listed here has none. */
  readonly members = new Map<string, readonly string[]>();
  /** False: the identity may not read members, and `/members` is answered 403. */
  membersAllowed = true;
  memberCalls = 0;
  /** Group lookups made: one per GET, one per batch item that reached the group store. */
  groupLookups = 0;
  readonly requests: GraphRequestRecord[] = [];
  private readonly queued: GraphFailure[] = [];

  private constructor(
    private readonly server: Server,
    options: GraphFakeOptions,
  ) {
    this.accessToken = options.accessToken;
    this.latencyMs = options.latencyMs ?? 0;
    for (const group of options.groups ?? []) this.groups.set(group.id.toLowerCase(), group);
  }

  static async start(options: GraphFakeOptions): Promise<GraphFake> {
    const server = createServer({ ...(await loopbackCertificate('graph-fake')), minVersion: 'TLSv1.2' });
    const fake = new GraphFake(server, options);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void fake.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `https://127.0.0.1:PORT`: the Graph endpoint (ENTRA_RBAC_GUARD_GRAPH_ENDPOINT). */
  get endpoint(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next requests fail this way, one failure per HTTP request, before any persistent `failure`. */
  failNext(...failures: GraphFailure[]): void {
    this.queued.push(...failures);
  }

  heal(): void {
    this.failure = undefined;
    this.queued.length = 0;
    this.itemFailures.clear();
    this.membersAllowed = true;
  }

  resetCounters(): void {
    this.calls = 0;
    this.batchCalls = 0;
    this.getByIdsCalls = 0;
    this.getCalls = 0;
    this.memberCalls = 0;
    this.groupLookups = 0;
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.calls += 1;
    const body = await readBody(request);
    const url = new URL(request.url ?? '/', this.endpoint);
    const authorized = request.headers.authorization === `Bearer ${this.accessToken}`;
    const record: { method: string; url: string; authorized: boolean; batchUrls?: string[] } = { method: request.method ?? '', url: request.url ?? '', authorized };
    this.requests.push(record);
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    if (!authorized) {
      const message = request.headers.authorization ? 'Access token validation failure. Invalid audience.' : 'Access token is empty.';
      return sendJson(response, 401, graphError('InvalidAuthenticationToken', message), { 'www-authenticate': 'Bearer realm=""' });
    }
    const failure = this.queued.shift() ?? this.failure;
    if (failure && this.fail(failure, response)) return;

    const members = /^\/v1\.0\/groups\/([^/]+)\/members$/.exec(url.pathname);
    if (request.method === 'GET' && members) {
      this.memberCalls += 1;
      const answer = this.membersOf(decodeURIComponent(members[1]!), url.searchParams.get('$top'));
      return sendJson(response, answer.status, answer.body);
    }
    if (request.method === 'GET' && url.pathname.startsWith('/v1.0/groups/')) {
      this.getCalls += 1;
      const answer = this.group(decodeURIComponent(url.pathname.slice('/v1.0/groups/'.length)), url.searchParams.get('$select'));
      return sendJson(response, answer.status, answer.body, answer.headers);
    }
    if (request.method === 'POST' && url.pathname === '/v1.0/$batch') {
      this.batchCalls += 1;
      return this.batch(body, request.headers['content-type'], response, record);
    }
    if (request.method === 'POST' && url.pathname === '/v1.0/directoryObjects/getByIds') {
      this.getByIdsCalls += 1;
      return this.getByIds(body, response);
    }
    sendJson(response, 400, graphError('BadRequest', `Resource not found for the segment '${url.pathname.split('/')[2] ?? ''}'.`));
  }

  /** Answers the whole request with a failure; false when the failure does not apply at this level. */
  private fail(failure: GraphFailure, response: ServerResponse): boolean {
    switch (failure.kind) {
      case 'hang':
        return true;
      case 'malformed':
        response.writeHead(200, { 'content-type': 'application/json; odata.metadata=minimal; charset=utf-8' });
        response.end('{"responses": [{"id": "1", "status": 200, "body": {"id": ');
        return true;
      case 'throttle':
        sendJson(
          response,
          429,
          graphError('TooManyRequests', 'Too many requests. Please retry after the time specified in the Retry-After header.'),
          failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) },
        );
        return true;
      case 'not-json':
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end('<html><head><title>Gateway</title></head><body><h1>Sign in to continue</h1></body></html>');
        return true;
      case 'truncated': {
        const whole = JSON.stringify({ responses: [{ id: '1', status: 200, body: { id: '00000000-0000-4000-8000-000000000000', displayName: 'cut', securityEnabled: true } }] });
        const part = whole.slice(0, Math.floor(whole.length / 2));
        response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(whole) });
        response.write(part, () => response.socket?.destroy());
        return true;
      }
      case 'status':
        sendJson(response, failure.status, graphError(failure.code ?? (failure.status >= 500 ? 'serviceNotAvailable' : 'BadRequest'), failure.message ?? 'The service is temporarily unavailable.'));
        return true;
    }
  }

  private group(id: string, select: string | null): { status: number; body: unknown; headers: Record<string, string> } {
    const itemFailure = this.itemFailures.get(id.toLowerCase());
    if (itemFailure?.kind === 'throttle') {
      return {
        status: 429,
        body: graphError('TooManyRequests', 'Too many requests.'),
        headers: {
          ...(itemFailure.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(itemFailure.retryAfterSeconds) }),
          'Content-Type': 'application/json',
        },
      };
    }
    if (itemFailure?.kind === 'status') {
      return { status: itemFailure.status, body: graphError(itemFailure.code ?? 'serviceNotAvailable', itemFailure.message ?? 'The service is temporarily unavailable.'), headers: { 'Content-Type': 'application/json' } };
    }
    if (!GUID.test(id)) {
      return { status: 400, body: graphError('Request_BadRequest', `Invalid object identifier '${id}'.`), headers: { 'Content-Type': 'application/json' } };
    }
    this.groupLookups += 1;
    const group = this.groups.get(id.toLowerCase());
    if (!group) {
      return {
        status: 404,
        body: graphError('Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`),
        headers: { 'Content-Type': 'application/json' },
      };
    }
    const full = groupResource(group);
    const fields = select ? select.split(',') : Object.keys(full);
    return {
      status: 200,
      body: {
        '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#groups(${fields.join(',')})/$entity`,
        ...Object.fromEntries(fields.filter((field) => field in full).map((field) => [field, full[field]])),
      },
      headers: { 'Content-Type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8' },
    };
  }

  private membersOf(id: string, top: string | null): { status: number; body: unknown } {
    if (!this.membersAllowed) return { status: 403, body: graphError('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.') };
    if (!GUID.test(id)) return { status: 400, body: graphError('Request_BadRequest', `Invalid object identifier '${id}'.`) };
    if (!this.groups.has(id.toLowerCase())) {
      return { status: 404, body: graphError('Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`) };
    }
    const all = this.members.get(id.toLowerCase()) ?? [];
    const limit = top === null ? 100 : Number(top);
    if (!Number.isInteger(limit) || limit < 1 || limit > 999) return { status: 400, body: graphError('Request_BadRequest', `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.`) };
    const value = all.slice(0, limit).map((member) => ({ '@odata.type': '#microsoft.graph.user', id: member }));
    return { status: 200, body: { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)', value } };
  }

  private getByIds(text: string, response: ServerResponse): void {
    if (!this.getByIdsAllowed) return sendJson(response, 403, graphError('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'));
    let ids: unknown;
    try {
      ids = (JSON.parse(text) as { ids?: unknown }).ids;
    } catch {
      return sendJson(response, 400, graphError('BadRequest', 'Unable to read JSON request payload.'));
    }
    if (!Array.isArray(ids) || ids.length === 0) return sendJson(response, 400, graphError('Request_BadRequest', "Invalid value specified for property 'ids' of resource 'DirectoryObject'."));
    if (ids.length > 1000) return sendJson(response, 400, graphError('Request_BadRequest', 'Too many identifiers: at most 1000 may be requested.'));
    if (!ids.every((id) => typeof id === 'string' && GUID.test(id))) return sendJson(response, 400, graphError('Request_BadRequest', 'Invalid GUID identifier.'));
    this.groupLookups += ids.length;
    const value = (ids as string[]).flatMap((id) => {
      const group = this.groups.get(id.toLowerCase());
      if (!group) return [];
      return [{ '@odata.type': '#microsoft.graph.group', ...groupResource(group) }];
    });
    sendJson(response, 200, { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#directoryObjects', value });
  }

  private batch(text: string, contentType: string | undefined, response: ServerResponse, record: { batchUrls?: string[] }): void {
    if (!contentType?.startsWith('application/json')) {
      return sendJson(response, 415, graphError('BadRequest', 'Content-Type must be application/json.'));
    }
    let requests: unknown;
    try {
      requests = (JSON.parse(text) as { requests?: unknown }).requests;
    } catch {
      return sendJson(response, 400, graphError('BadRequest', 'Invalid batch payload format.'));
    }
    if (!Array.isArray(requests) || requests.length === 0) return sendJson(response, 400, graphError('BadRequest', 'Invalid batch payload format.'));
    if (requests.length > MAX_BATCH) return sendJson(response, 400, graphError('BadRequest', `Number of requests in a batch cannot exceed ${MAX_BATCH}.`));
    const items = requests as { id?: unknown; method?: unknown; url?: unknown }[];
    const ids = new Set(items.map((item) => item.id));
    if (ids.size !== items.length || items.some((item) => typeof item.id !== 'string' || typeof item.url !== 'string')) {
      return sendJson(response, 400, graphError('BadRequest', 'Batch request ids must be unique strings and every request needs a url.'));
    }
    record.batchUrls = items.map((item) => item.url as string);
    const responses = items.map((item) => {
      const url = new URL((item.url as string).replace(/^\/?/, '/v1.0/'), 'https://graph.invalid');
      if (item.method !== 'GET' || !url.pathname.startsWith('/v1.0/groups/') || /^https?:/i.test(item.url as string)) {
        return { id: item.id, status: 400, headers: { 'Content-Type': 'application/json' }, body: graphError('BadRequest', 'Invalid request URL.') };
      }
      const answer = this.group(decodeURIComponent(url.pathname.slice('/v1.0/groups/'.length)), url.searchParams.get('$select'));
      return { id: item.id, status: answer.status, headers: answer.headers, body: answer.body };
    });
    sendJson(response, 200, { responses: shuffled(responses) });
  }
}

/** A different order from the request's whenever there are two or more items. */
function shuffled<T>(items: readonly T[]): T[] {
  const result = [...items];
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [result[i], result[j]] = [result[j] as T, result[i] as T];
  }
  if (result.length > 1 && result.every((item, index) => item === items[index])) result.push(result.shift() as T);
  return result;
}

/** A group as Graph returns it, with every property the fake knows: GET /groups/{id} and getByIds alike. */
function groupResource(group: FakeGroup): Record<string, unknown> {
  return {
    id: group.id,
    displayName: group.displayName,
    securityEnabled: group.securityEnabled,
    mailEnabled: group.mailEnabled ?? !group.securityEnabled,
    groupTypes: group.groupTypes ?? (group.securityEnabled ? [] : ['Unified']),
    description: null,
    createdDateTime: '2024-01-15T10:00:00Z',
  };
}

function graphError(code: string, message: string): Record<string, unknown> {
  return { error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID(), 'client-request-id': randomUUID() } } };
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
