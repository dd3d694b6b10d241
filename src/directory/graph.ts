import { randomUUID } from 'node:crypto';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import {
  AuthenticationHandler,
  AuthenticationHandlerOptions,
  Client,
  GraphError,
  HTTPMessageHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import type { GroupFact } from '../policy/facts.ts';
import { circuitStateValue, type Metrics } from '../telemetry/metrics.ts';
import { CircuitBreaker, parseRetryAfter, type Permit } from './breaker.ts';
import { isMicrosoftGraphHost } from './credentials.ts';
import type { Directory, MemberFact } from './port.ts';

/**
 * Group facts from Microsoft Graph v1.0, with the least privilege that can read them: the application permission
 * `GroupMember.Read.All`. Each group is `GET /groups/{id}?$select=id,displayName,securityEnabled`; two or more go out
 * as one JSON `POST /$batch` per 20 (Graph's limit). `directoryObjects/getByIds` would take 1,000 IDs a call but needs
 * `Directory.Read.All`, so it is not used.
 *
 * Safety: only a strict lower-case GUID ever becomes part of a URL. The Graph SDK neither encodes paths nor refuses a
 * path containing `https://` (it takes it for an absolute URL and would send the token there), so anything else is
 * answered without a request, whatever the caller checked before.
 *
 * Faults: every call has a deadline (`deadlineMs`) and honours the caller's AbortSignal; the middleware chain is
 * built here without the SDK's RetryHandler (which would sleep out Retry-After, up to 180 s) and RedirectHandler; a
 * circuit breaker honours Retry-After for every later call instead. Failures are `unavailable` facts with a reason
 * a person can act on, never exceptions; the reason never contains a token.
 */
export interface GraphDirectoryOptions {
  /** From `credentialFromEnvironment` (workload identity, client secret or managed identity). */
  readonly credential: TokenCredential;
  /** `https://graph.microsoft.com` (the default), a national cloud's Graph, or a private endpoint. */
  readonly graphEndpoint?: string;
  /** The token scope; `https://<graph host>/.default` by default (`DirectoryEndpoints.scope`). */
  readonly scope?: string;
  /** The longest one lookup waits for Graph, token included. Default 5 s, well inside the webhook's 10 s default. */
  readonly deadlineMs?: number;
  /** Shared by every call of this directory; one is made when not given. */
  readonly breaker?: CircuitBreaker;
  readonly metrics?: Metrics;
  /** At most this many Graph calls of one lookup at once (a lookup of 45 groups makes 3). Default 4. */
  readonly maxConcurrentRequests?: number;
  /** For Retry-After dates. */
  readonly now?: () => number;
  /** The sign-in endpoint (AZURE_AUTHORITY_HOST), named when no token can be had from it. */
  readonly authorityHost?: string;
  /**
   * How groups are looked up (the policy's directory.lookup): `batch`, GET /groups/{id} in $batch requests of 20
   * (GroupMember.Read.All, the default); `getByIds`, POST /directoryObjects/getByIds with up to 1,000 IDs a request
   * (Directory.Read.All), for audits of thousands of groups.
   */
  readonly lookup?: GroupLookup;
}

export type GroupLookup = 'batch' | 'getByIds';

/** Marks a reason that no retry will cure: the identity's configuration must change (main.ts logs it as an error). */
export const CONFIGURATION_ERROR = 'a configuration error, not an outage';

/** Sign-in refusals that name the identity's configuration, and what to fix for each. */
const CONFIGURATION_ERRORS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\binvalid_client\b/, 'check the client secret (its value, not its ID; not expired) or the federated credential of AZURE_CLIENT_ID'],
  [/\bunauthorized_client\b/, 'AZURE_CLIENT_ID names no application in this tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID'],
  [/\binvalid_tenant\b|AADSTS90002\b/, 'AZURE_TENANT_ID names no tenant: check it'],
];

/** Entra object IDs exactly as the groups claim carries them. Checked here again: this is the edge that builds URLs. */
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SELECT = 'id,displayName,securityEnabled';
/** Graph's JSON batching limit. */
export const MAX_BATCH_REQUESTS = 20;
/** directoryObjects/getByIds takes at most this many IDs a request. */
export const MAX_GET_BY_IDS = 1000;

type Outcome = 'miss' | 'error' | 'throttled';
type Operation = 'group' | 'batch' | 'getByIds';
interface Answer {
  readonly fact: GroupFact;
  readonly outcome: Outcome;
}

export class GraphDirectory implements Directory {
  readonly source = 'Microsoft Graph';
  /** One wave of requests: maxConcurrentRequests $batch requests of 20, or one getByIds request of 1,000. */
  readonly lookupSlice: number;
  /** IDs one request carries: 20 in a $batch, 1,000 in a getByIds. */
  private readonly idsPerRequest: number;
  private readonly client: Client;
  private readonly credential: TokenCredential;
  private readonly scopes: string[];
  private readonly deadlineMs: number;
  private readonly breaker: CircuitBreaker;
  private readonly metrics: Metrics | undefined;
  private readonly maxConcurrentRequests: number;
  private readonly now: () => number;
  private readonly authorityHost: string | undefined;
  private readonly lookup: GroupLookup;
  /** Tokens handed to the SDK, remembered only to scrub them from any text that leaves this class. */
  private readonly issuedTokens = new Set<string>();

  constructor(options: GraphDirectoryOptions) {
    const endpoint = new URL(options.graphEndpoint ?? 'https://graph.microsoft.com');
    if (endpoint.protocol !== 'https:') throw new Error(`the Graph endpoint must use https://, got ${endpoint.protocol}`);
    this.credential = options.credential;
    this.scopes = [options.scope ?? `${endpoint.origin}/.default`];
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.metrics = options.metrics;
    this.breaker =
      options.breaker ??
      new CircuitBreaker({ onStateChange: (state) => this.metrics?.directoryCircuitState.set(circuitStateValue(state)) });
    this.maxConcurrentRequests = Math.max(1, options.maxConcurrentRequests ?? 4);
    this.now = options.now ?? Date.now;
    this.authorityHost = options.authorityHost;
    this.lookup = options.lookup ?? 'batch';
    this.idsPerRequest = this.lookup === 'getByIds' ? MAX_GET_BY_IDS : MAX_BATCH_REQUESTS;
    this.lookupSlice = this.lookup === 'getByIds' ? this.idsPerRequest : this.maxConcurrentRequests * this.idsPerRequest;
    const authentication = new AuthenticationHandler(
      new TokenCredentialAuthenticationProvider(options.credential, { scopes: this.scopes }),
    );
    this.client = Client.initWithMiddleware({
      baseUrl: `${endpoint.origin}${endpoint.pathname.replace(/\/*$/, '/')}`,
      defaultVersion: 'v1.0',
      // Authentication, then the request itself: no RetryHandler, no RedirectHandler, nothing that waits.
      middleware: [authentication, new ObserveHandler(), new HTTPMessageHandler()],
      ...(isMicrosoftGraphHost(endpoint.hostname) ? {} : { customHosts: new Set([endpoint.hostname]) }),
    });
  }

  async lookupGroups(ids: readonly string[], signal?: AbortSignal): Promise<ReadonlyMap<string, GroupFact>> {
    const answers = new Map<string, Answer>();
    const valid: string[] = [];
    for (const id of new Set(ids)) {
      if (typeof id === 'string' && OBJECT_ID.test(id)) valid.push(id);
      else answers.set(id, { fact: unavailable(`"${printable(id)}" is not an Entra object ID (a lower-case GUID), so it was not sent to Microsoft Graph`), outcome: 'error' });
    }
    if (valid.length > 0) {
      const deadline = AbortSignal.timeout(this.deadlineMs);
      const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
      const chunks = chunk(valid, this.idsPerRequest);
      await forEachLimited(chunks, this.maxConcurrentRequests, async (ids) => {
        let chunkAnswers: Map<string, Answer>;
        try {
          chunkAnswers = await this.lookupChunk(ids, { combined, deadline, caller: signal });
        } catch (error) {
          // Not expected: lookupChunk turns every failure into facts. Still never throw at the caller.
          const reason = `unexpected error while asking Microsoft Graph: ${describe(error)}`;
          chunkAnswers = new Map(ids.map((id) => [id, { fact: unavailable(reason), outcome: 'error' as const }]));
        }
        for (const [id, answer] of chunkAnswers) answers.set(id, answer);
      });
    }
    for (const { outcome } of answers.values()) this.metrics?.directoryLookups.inc({ outcome });
    // Every reason leaves through here: whatever Graph or the SDK put in it, no token goes with it.
    return new Map([...answers].map(([id, { fact }]) => [id, fact.state === 'unavailable' ? unavailable(this.scrub(fact.reason)) : fact]));
  }

  /**
   * Whether the group has a member: `GET /groups/{id}/members?$top=1&$select=id`, which GroupMember.Read.All (what
   * lookups already need) allows. For `preflight` only, never the webhook's hot path: uncached, one call per admin
   * group, under the same deadline and circuit breaker as lookups. A 403 is `forbidden`, naming the permission.
   */
  async probeMembers(id: string, signal?: AbortSignal): Promise<MemberFact> {
    if (!OBJECT_ID.test(id)) return { state: 'unavailable', reason: `"${printable(id)}" is not an Entra object ID (a lower-case GUID), so it was not sent to Microsoft Graph` };
    const deadline = AbortSignal.timeout(this.deadlineMs);
    const signals: Signals = { combined: signal ? AbortSignal.any([signal, deadline]) : deadline, deadline, caller: signal };
    const admission = this.breaker.admit();
    if (!admission.allowed) return { state: 'unavailable', reason: admission.reason };
    const started = performance.now();
    const call = new CallState();
    try {
      const request = this.request(`${groupPath(id)}/members`, call, signals.combined).top(1).select('id');
      const body = await raceAbort(request.get() as Promise<unknown>, signals.combined);
      const value = isRecord(body) && Array.isArray(body['value']) ? body['value'] : undefined;
      if (!value) return { state: 'unavailable', reason: admission.permit.failed('Microsoft Graph sent a malformed answer to /members (no value list)') };
      admission.permit.succeeded();
      return { state: value.length > 0 ? 'has-members' : 'empty' };
    } catch (error) {
      if (error instanceof GraphError && error.statusCode === 403) {
        admission.permit.released();
        return {
          state: 'forbidden',
          reason: `the identity may not list the group's members (HTTP 403${codeSuffix(error.code)}); grant its app the Microsoft Graph application permission GroupMember.Read.All, with admin consent`,
        };
      }
      const [answer] = this.failure([id], 'group', error, call, admission.permit, signals, performance.now() - started).answers.values();
      return answer?.fact.state === 'not-found' ? { state: 'not-found' } : { state: 'unavailable', reason: this.scrub(answer?.fact.state === 'unavailable' ? answer.fact.reason : 'no answer') };
    }
  }

  private async lookupChunk(ids: readonly string[], signals: Signals): Promise<Map<string, Answer>> {
    const every = (answer: Answer) => new Map(ids.map((id) => [id, answer]));
    if (signals.combined.aborted) return every({ fact: unavailable(this.abortReason(signals, 0)), outcome: 'error' });
    const admission = this.breaker.admit();
    if (!admission.allowed) return every({ fact: unavailable(admission.reason), outcome: admission.throttled ? 'throttled' : 'error' });
    const operation: Operation = this.lookup === 'getByIds' ? 'getByIds' : ids.length === 1 ? 'group' : 'batch';
    const started = performance.now();
    const call = new CallState();
    let result: CallResult;
    try {
      const body = await raceAbort(this.send(operation, ids, call, signals.combined), signals.combined);
      result =
        operation === 'group'
          ? this.groupAnswer(ids[0] as string, body, admission.permit)
          : operation === 'batch'
            ? this.batchAnswers(ids, body, admission.permit)
            : this.getByIdsAnswers(ids, body, admission.permit);
    } catch (error) {
      result = this.failure(ids, operation, error, call, admission.permit, signals, performance.now() - started);
    }
    this.metrics?.directoryRequestDuration.observe({ operation, outcome: result.callOutcome }, (performance.now() - started) / 1000);
    return result.answers;
  }

  private send(operation: Operation, ids: readonly string[], call: CallState, signal: AbortSignal): Promise<unknown> {
    if (operation === 'group') return this.request(groupPath(ids[0] as string), call, signal).select(SELECT).get();
    if (operation === 'batch') return this.postBatch(ids, call, signal);
    return this.request('/directoryObjects/getByIds', call, signal).post({ ids, types: ['group'] });
  }

  private postBatch(ids: readonly string[], call: CallState, signal: AbortSignal): Promise<unknown> {
    const requests = ids.map((id, index) => ({ id: String(index + 1), method: 'GET', url: `${groupPath(id)}?$select=${SELECT}` }));
    return this.request('/$batch', call, signal).post({ requests });
  }

  /** One Graph request with this call's signal, and a token obtained under the same signal. */
  private request(path: string, call: CallState, signal: AbortSignal) {
    const credential: TokenCredential = {
      getToken: async (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> => {
        try {
          const token = await this.credential.getToken(scopes, { ...options, abortSignal: signal });
          if (!token) throw new Error('the credential returned no token');
          this.rememberToken(token.token);
          return token;
        } catch (error) {
          call.authFailure = error;
          throw error;
        }
      },
    };
    const provider = new TokenCredentialAuthenticationProvider(credential, { scopes: this.scopes });
    return this.client
      .api(path)
      .header('client-request-id', randomUUID())
      .option('signal', signal)
      .option('redirect', 'error')
      .middlewareOptions([new AuthenticationHandlerOptions(provider), call]);
  }

  private groupAnswer(id: string, body: unknown, permit: Permit): CallResult {
    const fact = groupFromBody(id, body);
    if (fact) {
      permit.succeeded();
      return { answers: new Map([[id, { fact, outcome: 'miss' }]]), callOutcome: 'ok' };
    }
    const reason = permit.failed('Microsoft Graph sent a malformed answer (not a group)');
    return { answers: new Map([[id, { fact: unavailable(reason), outcome: 'error' }]]), callOutcome: 'error' };
  }

  /** getByIds leaves out the IDs that name no group: those do not exist (as groups). */
  private getByIdsAnswers(ids: readonly string[], body: unknown, permit: Permit): CallResult {
    const value = isRecord(body) && Array.isArray(body['value']) ? (body['value'] as unknown[]) : undefined;
    if (!value) {
      const reason = permit.failed('Microsoft Graph sent a malformed answer to directoryObjects/getByIds');
      return { answers: new Map(ids.map((id) => [id, { fact: unavailable(reason), outcome: 'error' as const }])), callOutcome: 'error' };
    }
    const returned = new Map<string, unknown>();
    for (const item of value) {
      if (isRecord(item) && typeof item['id'] === 'string' && item['@odata.type'] === '#microsoft.graph.group') returned.set(item['id'].toLowerCase(), item);
    }
    permit.succeeded();
    const answers = new Map<string, Answer>();
    for (const id of ids) {
      const item = returned.get(id);
      const fact: GroupFact = item === undefined ? { state: 'not-found' } : (groupFromBody(id, item) ?? unavailable('Microsoft Graph sent a malformed answer (not a group)'));
      answers.set(id, { fact, outcome: fact.state === 'unavailable' ? 'error' : 'miss' });
    }
    return { answers, callOutcome: 'ok' };
  }

  private batchAnswers(ids: readonly string[], body: unknown, permit: Permit): CallResult {
    const responses = isRecord(body) && Array.isArray(body['responses']) ? (body['responses'] as unknown[]) : undefined;
    if (!responses) {
      const reason = permit.failed('Microsoft Graph sent a malformed answer to $batch');
      return { answers: new Map(ids.map((id) => [id, { fact: unavailable(reason), outcome: 'error' as const }])), callOutcome: 'error' };
    }
    const byRequestId = new Map<string, Record<string, unknown>>();
    for (const item of responses) if (isRecord(item) && typeof item['id'] === 'string') byRequestId.set(item['id'], item);

    const pending: { id: string; kind: 'throttled' | 'failed'; detail: string }[] = [];
    let longestRetryAfter: number | undefined;
    let throttledWithoutRetryAfter = false;
    const answers = new Map<string, Answer>();
    ids.forEach((id, index) => {
      const item = byRequestId.get(String(index + 1));
      if (!item) return pending.push({ id, kind: 'failed', detail: 'Microsoft Graph left the group out of its $batch answer' });
      const status = typeof item['status'] === 'number' ? item['status'] : 0;
      const itemBody = item['body'];
      if (status === 200) {
        const fact = groupFromBody(id, itemBody);
        if (fact) return answers.set(id, { fact, outcome: 'miss' });
        return pending.push({ id, kind: 'failed', detail: 'Microsoft Graph sent a malformed answer (not a group)' });
      }
      if (status === 429) {
        const retryAfter = parseRetryAfter(headerOf(item['headers'], 'retry-after'), this.now());
        if (retryAfter === undefined) throttledWithoutRetryAfter = true;
        else longestRetryAfter = Math.max(longestRetryAfter ?? 0, retryAfter);
        return pending.push({ id, kind: 'throttled', detail: '' });
      }
      const notFound = notFoundFrom(status, errorCodeOf(itemBody));
      if (notFound) return answers.set(id, { fact: notFound, outcome: 'miss' });
      if (status >= 500) return pending.push({ id, kind: 'failed', detail: `Microsoft Graph answered HTTP ${status}${codeSuffix(errorCodeOf(itemBody))}` });
      return answers.set(id, { fact: unavailable(clientErrorReason(status, errorCodeOf(itemBody))), outcome: 'error' });
    });

    let callOutcome: CallOutcome = 'ok';
    if (pending.some((item) => item.kind === 'throttled')) {
      const reason = permit.throttled(throttledWithoutRetryAfter && longestRetryAfter === undefined ? undefined : longestRetryAfter);
      callOutcome = 'throttled';
      for (const item of pending) answers.set(item.id, item.kind === 'throttled' ? { fact: unavailable(reason), outcome: 'throttled' } : { fact: unavailable(item.detail), outcome: 'error' });
    } else if (pending.length > 0) {
      const first = pending[0] as (typeof pending)[number];
      permit.failed(first.detail);
      callOutcome = 'error';
      for (const item of pending) answers.set(item.id, { fact: unavailable(item.detail), outcome: 'error' });
    } else {
      permit.succeeded();
    }
    return { answers, callOutcome };
  }

  private failure(ids: readonly string[], operation: Operation, error: unknown, call: CallState, permit: Permit, signals: Signals, elapsedMs: number): CallResult {
    const all = (reason: string, outcome: Outcome, callOutcome: CallOutcome): CallResult => ({
      answers: new Map(ids.map((id) => [id, { fact: unavailable(reason), outcome }])),
      callOutcome,
    });
    if (signals.combined.aborted) {
      const timedOut = signals.deadline.aborted || isTimeout(signals.caller?.reason);
      const reason = this.abortReason(signals, elapsedMs);
      if (timedOut) permit.failed(reason);
      else permit.released();
      return all(reason, 'error', 'timeout');
    }
    if (call.authFailure !== undefined) {
      // No token, no lookup: a token endpoint that is down or refuses this identity fails every review alike, so it
      // opens the breaker as a Graph failure does, and later reviews are answered at once instead of each trying.
      return all(permit.failed(this.authFailureReason(call.authFailure)), 'error', 'error');
    }
    if (error instanceof GraphError && error.statusCode > 0) {
      const status = error.statusCode;
      discardBody(error.body);
      if (status === 429) return all(permit.throttled(parseRetryAfter(error.headers?.get('retry-after'), this.now())), 'throttled', 'throttled');
      if (status >= 200 && status < 300) return all(permit.failed(unreadableAnswerReason(error)), 'error', 'error');
      if (operation === 'group') {
        const notFound = notFoundFrom(status, error.code);
        if (notFound) {
          permit.succeeded();
          return { answers: new Map([[ids[0] as string, { fact: notFound, outcome: 'miss' }]]), callOutcome: 'ok' };
        }
      }
      if (status >= 500) return all(permit.failed(`Microsoft Graph answered HTTP ${status}${codeSuffix(error.code)}`), 'error', 'error');
      permit.released();
      return all(clientErrorReason(status, error.code, operation), 'error', 'error');
    }
    const network = call.networkError ?? error;
    return all(permit.failed(`Microsoft Graph could not be reached (${firstLines(describe(network))})`), 'error', 'error');
  }

  /**
   * MSAL says that the sign-in endpoint could not be reached with a bare code and a link (`network_error: See
   * https://aka.ms/msal.js.errors#network_error for details`): say what it means, and which endpoint.
   */
  private authFailureReason(error: unknown): string {
    const text = firstLines(describe(error));
    const where = this.authorityHost ? `the sign-in endpoint ${this.authorityHost}` : 'the sign-in endpoint (AZURE_AUTHORITY_HOST)';
    if (/\bnetwork_error\b/.test(text)) {
      return `authentication to Microsoft Entra ID failed: ${where} could not be reached for a token (network_error); check that the webhook can reach it over HTTPS (DNS, egress rules, proxy)`;
    }
    if (/\bendpoints_resolution_error\b/.test(text)) {
      return `authentication to Microsoft Entra ID failed: ${where} could not be reached, or gave no OpenID configuration for the tenant (endpoints_resolution_error); check that the webhook can reach it over HTTPS and that AZURE_TENANT_ID is right`;
    }
    const configuration = CONFIGURATION_ERRORS.find(([pattern]) => pattern.test(text));
    if (configuration) return `authentication to Microsoft Entra ID failed: ${text}; ${CONFIGURATION_ERROR}: ${configuration[1]}`;
    return `authentication to Microsoft Entra ID failed: ${text}`;
  }

  private abortReason(signals: Signals, elapsedMs: number): string {
    if (signals.deadline.aborted) return `Microsoft Graph did not answer within ${this.deadlineMs} ms`;
    if (isTimeout(signals.caller?.reason)) return `Microsoft Graph did not answer before the review's deadline (${Math.round(elapsedMs)} ms)`;
    return 'the lookup was cancelled before Microsoft Graph answered';
  }

  private rememberToken(token: string): void {
    if (this.issuedTokens.size > 16) this.issuedTokens.clear();
    this.issuedTokens.add(token);
  }

  /** Removes anything token-like from text that leaves this class: tokens seen, bearer values, JWTs. */
  private scrub(text: string): string {
    let result = text;
    for (const token of this.issuedTokens) if (token) result = result.split(token).join('[redacted]');
    return result
      .replace(/Bearer\s+[^\s"',;]+/gi, 'Bearer [redacted]')
      .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[redacted]')
      .replace(/(access_token|client_secret|client_assertion)(["']?\s*[:=]\s*["']?)[^\s"'&,]+/gi, '$1$2[redacted]');
  }
}

type CallOutcome = 'ok' | 'error' | 'throttled' | 'timeout';
interface CallResult {
  readonly answers: Map<string, Answer>;
  readonly callOutcome: CallOutcome;
}
interface Signals {
  /** Caller's signal and own deadline together: what the request itself listens to. */
  readonly combined: AbortSignal;
  readonly deadline: AbortSignal;
  readonly caller: AbortSignal | undefined;
}

/**
 * Per-request state handed to the middleware chain as a middleware option (the SDK's way to reach middleware per
 * request): what failed in the token acquisition or on the wire, which the SDK's GraphError does not keep.
 */
class CallState {
  authFailure: unknown = undefined;
  networkError: unknown = undefined;
}

/** Sits between authentication and the HTTP call: records a network failure's cause for the reason. */
class ObserveHandler implements Middleware {
  private next: Middleware | undefined;

  async execute(context: Context): Promise<void> {
    try {
      await this.next?.execute(context);
    } catch (error) {
      const state = context.middlewareControl?.getMiddlewareOptions(CallState) as CallState | undefined;
      if (state) state.networkError = error;
      throw error;
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

/** The only way an ID becomes part of a URL: checked once more right here, whatever the callers did. */
function groupPath(id: string): string {
  if (!OBJECT_ID.test(id)) throw new Error('refused to build a Graph URL from something that is not a lower-case GUID');
  return `/groups/${id}`;
}

/** A 2xx whose body could not be read: cut short (the connection closed mid-body, undici's "terminated"), or not JSON. */
function unreadableAnswerReason(error: GraphError): string {
  return error.code === 'TypeError' && /terminated/i.test(error.message)
    ? 'Microsoft Graph\'s answer was cut short (the connection closed before the whole body arrived)'
    : 'Microsoft Graph sent a malformed answer (not JSON)';
}

/** A non-JSON error body reaches us as an unread stream: release it so the connection can be reused. */
function discardBody(body: unknown): void {
  if (isRecord(body) && typeof (body as { cancel?: unknown }).cancel === 'function') {
    (body as unknown as ReadableStream).cancel().catch(() => undefined);
  }
}

function groupFromBody(id: string, body: unknown): GroupFact | undefined {
  if (!isRecord(body)) return undefined;
  if (typeof body['id'] !== 'string' || body['id'].toLowerCase() !== id) return undefined;
  if (typeof body['securityEnabled'] !== 'boolean') return undefined;
  const displayName = body['displayName'];
  if (displayName !== null && displayName !== undefined && typeof displayName !== 'string') return undefined;
  return { state: 'found', displayName: displayName ?? '', securityEnabled: body['securityEnabled'] };
}

/**
 * Graph says "no such group" as 404 `Request_ResourceNotFound`, and as 400 `Request_BadRequest` ("Invalid object
 * identifier") for an ID that cannot name an object. Any other 404 (a wrong endpoint, a proxy) is not an answer
 * about the group: treating it as "not found" would deny every binding.
 */
function notFoundFrom(status: number, code: string | null | undefined): GroupFact | undefined {
  if (status === 404 && code === 'Request_ResourceNotFound') return { state: 'not-found' };
  if (status === 400 && code === 'Request_BadRequest') return { state: 'not-found' };
  return undefined;
}

function clientErrorReason(status: number, code: string | null | undefined, operation: Operation = 'batch'): string {
  if (status === 401) return `Microsoft Graph refused the webhook's token (HTTP 401${codeSuffix(code)}); check the app registration and the Graph endpoint`;
  if (status === 403 && operation === 'getByIds') {
    return (
      `the webhook's identity may not call directoryObjects/getByIds (HTTP 403${codeSuffix(code)}); grant its app the Microsoft Graph ` +
      'application permission Directory.Read.All, with admin consent, or set directory.lookup: batch in the policy (GroupMember.Read.All)'
    );
  }
  if (status === 403) {
    return `the webhook's identity may not read groups (HTTP 403${codeSuffix(code)}); grant its app the Microsoft Graph application permission GroupMember.Read.All, with admin consent`;
  }
  return `Microsoft Graph answered HTTP ${status}${codeSuffix(code)}`;
}

function codeSuffix(code: string | null | undefined): string {
  return code ? ` ${printable(code).slice(0, 80)}` : '';
}

function errorCodeOf(body: unknown): string | undefined {
  const error = isRecord(body) ? body['error'] : undefined;
  return isRecord(error) && typeof error['code'] === 'string' ? error['code'] : undefined;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!isRecord(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name && typeof value === 'string') return value;
  return undefined;
}

function unavailable(reason: string): GroupFact {
  return { state: 'unavailable', reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof Error && reason.name === 'TimeoutError';
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `${(cause as NodeJS.ErrnoException).code ?? cause.name}: ${cause.message}` : '';
  return causeText && !error.message.includes(causeText) ? `${error.message} (${causeText})` : error.message;
}

/** The first lines of an SDK error, on one line, at most 300 characters: enough to act on, never a wall of text. */
function firstLines(text: string): string {
  const line = text
    .split(/\r?\n/)
    .map((part) => part.trim())
    .filter((part) => part && !/^(Trace ID|Correlation ID|Timestamp):/i.test(part) && !/^More details:?$/i.test(part))
    .slice(0, 3)
    .join(' ')
    .replace(/\s*(Timestamp|Trace ID|Correlation ID): \S+( -)?/gi, '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** For messages: an ID as typed, without control characters, cut short. */
function printable(value: unknown): string {
  const text = String(value).replace(/[\u0000-\u001f\u007f]/g, '?');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Settles when the promise does, or rejects with the signal's reason as soon as it aborts, whichever is first. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
