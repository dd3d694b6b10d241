/**
 * A failed call to the API server as one actionable sentence: what was being done, what failed (the credentials, a
 * permission, the network, the server's certificate, a timeout) and what to do about it. Never a stack trace.
 */
import { ApiException } from '@kubernetes/client-node';

export class ClusterAccessError extends Error {
  override readonly name = 'ClusterAccessError';
  readonly code = 'ERB_KUBE_ACCESS';
}

export interface Attempt {
  /** What was being done, after "cannot": `list clusterrolebindings cluster-wide`. */
  readonly action: string;
  /** The API server's URL, as the kubeconfig names it. */
  readonly server: string;
  /** For a 403: the permission the call needs and how to grant it. */
  readonly permission: string;
  /** The per-request timeout, for the message when it expires. */
  readonly timeoutMs?: number;
}

/** Node's names for a server certificate that is not trusted (OpenSSL's verify errors and the host name check). */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/;

export function accessError(error: unknown, attempt: Attempt): ClusterAccessError {
  const cannot = `cannot ${attempt.action}`;
  if (error instanceof ApiException) return new ClusterAccessError(`${cannot}: ${httpFailure(error, attempt)}`);
  const name = error instanceof Error ? error.name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') {
    const within = attempt.timeoutMs === undefined ? '' : ` within ${Math.round(attempt.timeoutMs / 1000)} s`;
    return new ClusterAccessError(`${cannot}: the API server at ${attempt.server} did not answer${within} (raise --request-timeout, or check the cluster's health)`);
  }
  const code = causeCode(error);
  if (code && CERTIFICATE_ERRORS.test(code)) {
    return new ClusterAccessError(
      `${cannot}: the certificate of the API server at ${attempt.server} is not trusted (${code}): check certificate-authority or ` +
        'certificate-authority-data of the cluster in the kubeconfig',
    );
  }
  if (code || (error instanceof Error && error.message === 'fetch failed')) {
    return new ClusterAccessError(
      `${cannot}: cannot reach the API server at ${attempt.server} (${causeMessage(error)}): check the server address in the kubeconfig, ` +
        'that the cluster is running, and the network (VPN, proxy, firewall) between here and it',
    );
  }
  return new ClusterAccessError(`${cannot}: ${error instanceof Error ? error.message : String(error)}`);
}

function httpFailure(error: ApiException<unknown>, attempt: Attempt): string {
  const said = serverMessage(error.body);
  switch (error.code) {
    case 401:
      return (
        `the API server at ${attempt.server} rejected the credentials (HTTP 401 Unauthorized${said ? `: ${said}` : ''}): the token or client ` +
        "certificate of the kubeconfig's user is missing, invalid or expired. Log in again, or check --kubeconfig and --context"
      );
    case 403:
      return `permission denied (HTTP 403${said ? `: ${said}` : ''}). ${attempt.permission}`;
    default:
      return `the API server at ${attempt.server} answered HTTP ${error.code}${said ? `: ${said}` : ''}`;
  }
}

/** The `message` of the Status the API server sends with an error. */
export function serverMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message ? message : undefined;
}

/** fetch (undici) wraps the socket's error: `fetch failed`, caused by `connect ECONNREFUSED 127.0.0.1:1`. */
function causeCode(error: unknown): string | undefined {
  const failure = error as { code?: unknown; cause?: { code?: unknown; errors?: { code?: unknown }[] } } | undefined;
  const code = failure?.cause?.code ?? failure?.cause?.errors?.[0]?.code ?? failure?.code;
  return typeof code === 'string' ? code : undefined;
}

function causeMessage(error: unknown): string {
  const failure = error as { message?: string; cause?: { message?: string; errors?: { message?: string }[] } } | undefined;
  return failure?.cause?.message || failure?.cause?.errors?.[0]?.message || failure?.message || String(error);
}
