import { watchFile, unwatchFile } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { dirname } from 'node:path';
import { generate } from 'selfsigned';

export interface KeyPair {
  readonly key: string;
  readonly cert: string;
}

/**
 * A throwaway CA and a server certificate it signs, for 127.0.0.1, ::1 and localhost. The API server needs the CA in
 * the webhook's caBundle and a subjectAltName on the server certificate (a CN alone is rejected).
 */
export async function generateSelfSigned(hostnames: readonly string[] = []): Promise<KeyPair & { readonly ca: string }> {
  const ca = await generateCa('entra-rbac-guard local CA');
  return { ...(await issueServerCertificate(ca, hostnames)), ca: ca.cert };
}

export interface CertificateAuthority {
  readonly cert: string;
  readonly key: string;
}

const VALID_MS = 365 * 24 * 3600 * 1000;

export async function generateCa(commonName: string): Promise<CertificateAuthority> {
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + VALID_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A server certificate signed by `ca` for 127.0.0.1, ::1, localhost and `hostnames`; a new key each time. */
export async function issueServerCertificate(ca: CertificateAuthority, hostnames: readonly string[] = []): Promise<KeyPair> {
  const dnsNames = ['localhost', ...hostnames.filter((name) => !isIp(name))];
  const ips = ['127.0.0.1', '::1', ...hostnames.filter(isIp)];
  const server = await generate([{ name: 'commonName', value: 'entra-rbac-guard' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + VALID_MS),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...new Set(dnsNames)].map((value) => ({ type: 2 as const, value })).concat(
          [...new Set(ips)].map((ip) => ({ type: 7 as const, ip }) as never),
        ),
      },
    ],
  });
  return { key: server.private, cert: `${server.cert.trim()}\n` };
}

function isIp(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(':');
}

export async function writeCaCertificate(path: string, ca: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, ca, { mode: 0o644 });
}

/** Reads a key pair and proves it loads (matching key, valid PEM) before anyone serves it. */
export async function loadKeyPair(certPath: string, keyPath: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  createSecureContext({ cert, key });
  return { cert, key };
}

/**
 * Calls `onChange` with the new pair whenever the certificate or key file changes (a Kubernetes Secret volume swaps a
 * symlink; cert-manager rewrites both). A pair that does not load is reported and the old one stays in use.
 * Polling (not inotify) because symlink swaps in Secret volumes are missed by fs.watch. Returns a stop function.
 */
export function watchKeyPair(
  certPath: string,
  keyPath: string,
  onChange: (pair: KeyPair) => void,
  onError: (error: Error) => void,
  intervalMs = 2000,
): () => void {
  let last = '';
  const reload = async () => {
    try {
      const pair = await loadKeyPair(certPath, keyPath);
      const fingerprint = pair.cert + pair.key;
      if (fingerprint === last) return;
      last = fingerprint;
      onChange(pair);
    } catch (error) {
      onError(error as Error);
    }
  };
  void loadKeyPair(certPath, keyPath).then(
    (pair) => (last = pair.cert + pair.key),
    () => undefined,
  );
  const listener = () => void reload();
  watchFile(certPath, { interval: intervalMs, persistent: false }, listener);
  watchFile(keyPath, { interval: intervalMs, persistent: false }, listener);
  return () => {
    unwatchFile(certPath, listener);
    unwatchFile(keyPath, listener);
  };
}
