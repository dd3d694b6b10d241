/**
 * A loopback Microsoft Entra ID token endpoint, faithful enough for the real `@azure/identity` (MSAL) client
 * credential flows: the OpenID configuration MSAL reads first, then the v2.0 token endpoint with a client secret or
 * a client assertion (workload identity: the projected service-account token read from AZURE_FEDERATED_TOKEN_FILE).
 *
 * HTTPS on 127.0.0.1 with a certificate from the test CA (see make-ca.ts). Credentials built against it need
 * `authorityHost: fake.authorityHost` and `disableInstanceDiscovery: true`, as for any authority that is not Microsoft's.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopbackCertificate } from './tls.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface EntraTokenFakeOptions {
  readonly tenantId: string;
  readonly clientId: string;
  /** Accepted as `client_secret` (ClientSecretCredential). */
  readonly clientSecret?: string;
  /** Accepted as `client_assertion`: the federated token file's exact content (WorkloadIdentityCredential). */
  readonly federatedToken?: string;
  /** The access token issued; a fresh random one by default. */
  readonly accessToken?: string;
}

/** How the endpoint behaves: answer, refuse the client (`invalid_client`), or drop every connection. */
export type EntraTokenFakeMode = 'ok' | 'invalid_client' | 'down';

export interface TokenRequestRecord {
  readonly tenant: string;
  readonly grantType: string | undefined;
  readonly clientId: string | undefined;
  readonly scope: string | undefined;
  readonly clientAssertionType: string | undefined;
  /** What arrived as `client_assertion`, verbatim. */
  readonly clientAssertion: string | undefined;
  readonly usedClientSecret: boolean;
  /** Whether the fake issued a token for this request. */
  readonly issued: boolean;
}

export class EntraTokenFake {
  mode: EntraTokenFakeMode = 'ok';
  /** Every request: method and path. */
  readonly requests: { readonly method: string; readonly path: string }[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  readonly accessToken: string;

  private constructor(
    private readonly server: Server,
    private readonly options: EntraTokenFakeOptions,
  ) {
    this.accessToken = options.accessToken ?? `fake-access-token-${randomUUID()}`;
  }

  static async start(options: EntraTokenFakeOptions): Promise<EntraTokenFake> {
    const server = createServer({ ...(await loopbackCertificate('entra-token-fake')), minVersion: 'TLSv1.2' });
    const fake = new EntraTokenFake(server, options);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void fake.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `https://127.0.0.1:PORT`: what AZURE_AUTHORITY_HOST or `authorityHost` is set to. */
  get authorityHost(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get issuedTokens(): number {
    return this.tokenRequests.filter((record) => record.issued).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.authorityHost);
    this.requests.push({ method: request.method ?? '', path: url.pathname });
    if (this.mode === 'down') {
      request.socket.destroy();
      return;
    }
    const body = await readBody(request);
    const match = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(url.pathname);
    const tenant = match?.[1];
    if (!match || !tenant || (tenant !== this.options.tenantId && tenant !== 'organizations' && tenant !== 'common')) {
      return sendJson(response, 404, aadError('invalid_tenant', `AADSTS90002: Tenant '${tenant ?? ''}' not found.`, 90002));
    }
    if (match[2] === 'oauth2/v2.0/token') {
      if (request.method !== 'POST') return sendJson(response, 405, aadError('invalid_request', 'AADSTS900561: The endpoint only accepts POST requests.', 900561));
      return this.token(tenant, request, body, response);
    }
    if (request.method !== 'GET') return sendJson(response, 405, aadError('invalid_request', 'only GET', 900561));
    return sendJson(response, 200, this.openIdConfiguration(tenant));
  }

  private openIdConfiguration(tenant: string): Record<string, unknown> {
    const base = `${this.authorityHost}/${tenant}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${this.authorityHost}/${tenant}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${this.authorityHost}/${tenant}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    };
  }

  private token(tenant: string, request: IncomingMessage, body: string, response: ServerResponse): void {
    const contentType = request.headers['content-type'] ?? '';
    if (!contentType.startsWith('application/x-www-form-urlencoded')) {
      return sendJson(response, 400, aadError('invalid_request', 'AADSTS900144: The request body must contain the following parameter: grant_type.', 900144));
    }
    const form = new URLSearchParams(body);
    const clientAssertion = form.get('client_assertion') ?? undefined;
    const clientSecret = form.get('client_secret') ?? undefined;
    const record = {
      tenant,
      grantType: form.get('grant_type') ?? undefined,
      clientId: form.get('client_id') ?? undefined,
      scope: form.get('scope') ?? undefined,
      clientAssertionType: form.get('client_assertion_type') ?? undefined,
      clientAssertion,
      usedClientSecret: clientSecret !== undefined,
    };
    const refuse = (status: number, error: string, description: string, code: number) => {
      this.tokenRequests.push({ ...record, issued: false });
      sendJson(response, status, aadError(error, description, code));
    };
    if (record.grantType !== 'client_credentials') {
      return refuse(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.', 70003);
    }
    if (record.clientId !== this.options.clientId) {
      return refuse(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${record.clientId ?? ''}' was not found in the directory.`, 700016);
    }
    if (!record.scope?.endsWith('/.default')) {
      return refuse(400, 'invalid_scope', 'AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.', 1002012);
    }
    if (this.mode === 'invalid_client') {
      return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.', 7000215);
    }
    if (clientAssertion !== undefined) {
      if (record.clientAssertionType !== JWT_BEARER_ASSERTION_TYPE || this.options.federatedToken === undefined || clientAssertion !== this.options.federatedToken) {
        return refuse(401, 'invalid_client', 'AADSTS700213: No matching federated identity record found for presented assertion subject.', 700213);
      }
    } else if (clientSecret !== undefined) {
      if (this.options.clientSecret === undefined || clientSecret !== this.options.clientSecret) {
        return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.', 7000215);
      }
    } else {
      return refuse(401, 'invalid_client', "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 7000218);
    }
    this.tokenRequests.push({ ...record, issued: true });
    sendJson(response, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: this.accessToken });
  }
}

function aadError(error: string, description: string, code: number): Record<string, unknown> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  return {
    error,
    error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: traceId,
    correlation_id: correlationId,
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store, no-cache' });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
