import { ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential, type TokenCredential } from '@azure/identity';

/**
 * Which Microsoft cloud the directory lives in, and where its Graph and sign-in endpoints are.
 * GCC High is `usgov`; DoD is `usgov-dod` (its own Graph host, the same authority as GCC High).
 */
export const CLOUDS = {
  public: { graphEndpoint: 'https://graph.microsoft.com', authorityHost: 'https://login.microsoftonline.com' },
  usgov: { graphEndpoint: 'https://graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us' },
  'usgov-dod': { graphEndpoint: 'https://dod-graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us' },
  china: { graphEndpoint: 'https://microsoftgraph.chinacloudapi.cn', authorityHost: 'https://login.chinacloudapi.cn' },
} as const satisfies Record<string, { readonly graphEndpoint: string; readonly authorityHost: string }>;

export type Cloud = keyof typeof CLOUDS;
export const CLOUD_NAMES = Object.keys(CLOUDS) as Cloud[];

/** Microsoft's own sign-in hosts: MSAL knows them, so instance discovery stays on for them and only for them. */
const MICROSOFT_AUTHORITY_HOSTS: ReadonlySet<string> = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoft.com',
  'login.windows.net',
  'sts.windows.net',
]);

/** Microsoft Graph hosts that the Graph SDK itself sends the token to (its GRAPH_URLS). Any other host is a custom host. */
const MICROSOFT_GRAPH_HOSTS: ReadonlySet<string> = new Set([
  'graph.microsoft.com',
  'graph.microsoft.us',
  'dod-graph.microsoft.us',
  'microsoftgraph.chinacloudapi.cn',
  'canary.graph.microsoft.com',
]);

/** True for Microsoft's Graph hosts, to which the Graph SDK sends the token without being told (no `customHosts`). */
export function isMicrosoftGraphHost(hostname: string): boolean {
  return MICROSOFT_GRAPH_HOSTS.has(hostname.toLowerCase());
}

export class DirectoryConfigError extends Error {
  override readonly name = 'DirectoryConfigError';
  readonly code = 'ERB_DIRECTORY_CONFIG';
}

export interface EndpointOptions {
  /** `--cloud`; default `public`. */
  readonly cloud?: Cloud | undefined;
  /** `--graph-endpoint`; falls back to ENTRA_RBAC_GUARD_GRAPH_ENDPOINT, then to the cloud's Graph host. */
  readonly graphEndpoint?: string | undefined;
  /** Falls back to AZURE_AUTHORITY_HOST (set by Azure Workload Identity in the pod), then to the cloud's authority. */
  readonly authorityHost?: string | undefined;
}

export interface DirectoryEndpoints {
  readonly cloud: Cloud;
  /** Origin (and optional path prefix of a private endpoint) of Microsoft Graph, without the version or a trailing slash. */
  readonly graphEndpoint: string;
  /** The hostname alone (no port), as the Graph SDK compares it with `customHosts`. */
  readonly graphHostname: string;
  /** True when the Graph SDK would not send the token to this host by itself, so it must be in `customHosts`. */
  readonly customGraphHost: boolean;
  /** The token audience: `https://graph.microsoft.com/.default`. */
  readonly scope: string;
  readonly authorityHost: string;
  /** True when the authority host is not Microsoft's: MSAL must not try instance discovery against it. */
  readonly disableInstanceDiscovery: boolean;
}

/** Resolves the Graph and authority endpoints from options and the environment (options win, then env, then cloud). */
export function resolveEndpoints(options: EndpointOptions = {}, env: NodeJS.ProcessEnv = process.env): DirectoryEndpoints {
  const cloud = options.cloud ?? 'public';
  if (!(cloud in CLOUDS)) throw new DirectoryConfigError(`unknown cloud "${cloud}"; known clouds are ${CLOUD_NAMES.join(', ')}`);
  const defaults = CLOUDS[cloud];
  const graph = httpsUrl(options.graphEndpoint ?? nonEmpty(env['ENTRA_RBAC_GUARD_GRAPH_ENDPOINT']) ?? defaults.graphEndpoint, 'the Graph endpoint (--graph-endpoint, ENTRA_RBAC_GUARD_GRAPH_ENDPOINT)', true);
  const authority = httpsUrl(options.authorityHost ?? nonEmpty(env['AZURE_AUTHORITY_HOST']) ?? defaults.authorityHost, 'the authority host (AZURE_AUTHORITY_HOST)', false);
  // The SDK appends the version itself: `https://graph.microsoft.com/v1.0` and `https://graph.microsoft.com` are one endpoint.
  const graphEndpoint = `${graph.origin}${graph.pathname.replace(/\/+$/, '').replace(/\/v1\.0$/, '')}`;
  return {
    cloud,
    graphEndpoint,
    graphHostname: graph.hostname,
    customGraphHost: !isMicrosoftGraphHost(graph.hostname),
    scope: `${graph.origin}/.default`,
    authorityHost: authority.origin,
    disableInstanceDiscovery: !MICROSOFT_AUTHORITY_HOSTS.has(authority.hostname),
  };
}

export type CredentialKind = 'workload-identity' | 'client-secret' | 'managed-identity';

export interface EnvironmentCredential {
  readonly credential: TokenCredential;
  readonly kind: CredentialKind;
  /** For the startup log: which identity, never a secret. */
  readonly description: string;
}

export interface CredentialOptions {
  readonly authorityHost: string;
  readonly disableInstanceDiscovery: boolean;
  /** Use the pod's or VM's managed identity when neither workload identity nor a client secret is configured. */
  readonly managedIdentity?: boolean;
}

/**
 * The credential the standard `@azure/identity` environment variables describe, in this order:
 * workload identity (AZURE_FEDERATED_TOKEN_FILE with AZURE_CLIENT_ID and AZURE_TENANT_ID, as Azure Workload Identity
 * injects them), a client secret (AZURE_CLIENT_SECRET with AZURE_CLIENT_ID and AZURE_TENANT_ID), then a managed identity
 * (optionally AZURE_CLIENT_ID for a user-assigned one) only when asked for. Undefined when none is configured: the
 * caller then checks no group existence and says so. A half-configured identity is an error naming what is missing.
 *
 * Token requests are retried at most once by the credential: the caller's deadline, not the SDK, bounds the wait.
 */
export function credentialFromEnvironment(options: CredentialOptions, env: NodeJS.ProcessEnv = process.env): EnvironmentCredential | undefined {
  const tenantId = nonEmpty(env['AZURE_TENANT_ID']);
  const clientId = nonEmpty(env['AZURE_CLIENT_ID']);
  const tokenFilePath = nonEmpty(env['AZURE_FEDERATED_TOKEN_FILE']);
  const clientSecret = nonEmpty(env['AZURE_CLIENT_SECRET']);
  const common = {
    authorityHost: options.authorityHost,
    disableInstanceDiscovery: options.disableInstanceDiscovery,
    retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
  };
  if (tokenFilePath) {
    const { tenant, client } = required('AZURE_FEDERATED_TOKEN_FILE', tenantId, clientId);
    return {
      credential: new WorkloadIdentityCredential({ ...common, tenantId: tenant, clientId: client, tokenFilePath }),
      kind: 'workload-identity',
      description: `workload identity (client ${client}, tenant ${tenant}, token file ${tokenFilePath})`,
    };
  }
  if (clientSecret) {
    const { tenant, client } = required('AZURE_CLIENT_SECRET', tenantId, clientId);
    return {
      credential: new ClientSecretCredential(tenant, client, clientSecret, common),
      kind: 'client-secret',
      description: `client secret (client ${client}, tenant ${tenant})`,
    };
  }
  if (options.managedIdentity) {
    const retryOptions = common.retryOptions;
    return {
      credential: clientId ? new ManagedIdentityCredential({ clientId, retryOptions }) : new ManagedIdentityCredential({ retryOptions }),
      kind: 'managed-identity',
      description: clientId ? `managed identity (client ${clientId})` : 'system-assigned managed identity',
    };
  }
  return undefined;
}

function required(trigger: string, tenantId: string | undefined, clientId: string | undefined): { tenant: string; client: string } {
  const missing = [tenantId ? undefined : 'AZURE_TENANT_ID', clientId ? undefined : 'AZURE_CLIENT_ID'].filter(Boolean);
  if (!tenantId || !clientId) throw new DirectoryConfigError(`${trigger} is set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not: set both to the directory's tenant ID and the application's client ID`);
  return { tenant: tenantId, client: clientId };
}

function httpsUrl(value: string, what: string, allowPath: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DirectoryConfigError(`${what} "${value}" is not a URL; give https://host[:port]`);
  }
  if (url.protocol !== 'https:') throw new DirectoryConfigError(`${what} "${value}" must use https:// (tokens are never sent in the clear)`);
  if (url.username || url.password || url.search || url.hash) throw new DirectoryConfigError(`${what} "${value}" must not carry credentials, a query or a fragment`);
  if (!allowPath && url.pathname !== '/') throw new DirectoryConfigError(`${what} "${value}" must be an origin (https://host[:port]), without a path`);
  return url;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
