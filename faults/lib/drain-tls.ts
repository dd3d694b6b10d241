/**
 * Certificates for scenario 05 (rotation): a key pair laid out as Kubernetes projects a Secret into a pod (files
 * that are symlinks into a `..data` directory, swapped atomically by renaming one symlink), or rewritten in place as a
 * naive tool would; and what a fresh TLS handshake is shown (the certificate's SHA-256 fingerprint).
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { generateCa, issueServerCertificate, type KeyPair } from '../../src/http/tls.ts';

/**
 * One CA and `count` server certificates it signs (each with its own key and serial), as cert-manager renews a
 * certificate: the caBundle the API server trusts stays the same, the served certificate changes.
 */
export async function certificateSeries(count: number): Promise<{ readonly ca: string; readonly pairs: readonly KeyPair[] }> {
  const ca = await generateCa('entra-rbac-guard faults rotation CA');
  const pairs = await Promise.all(Array.from({ length: count }, () => issueServerCertificate(ca)));
  return { ca: ca.cert, pairs };
}

/** SHA-256 fingerprint of a PEM certificate (the first of a chain), as `getPeerCertificate().fingerprint256` gives it. */
export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** The certificate a brand-new TLS connection to `origin` is shown (no session reused), as its fingerprint. */
export function handshakeFingerprint(origin: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, timeout: 10_000 }, () => {
      const fingerprint256 = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint256);
    });
    socket.once('timeout', () => socket.destroy(new Error('TLS handshake did not finish within 10 s')));
    socket.once('error', reject);
  });
}

/**
 * A Secret volume: `dir/tls.crt` → `..data/tls.crt`, `..data` → `..<generation>`. `swap()` writes the next pair into a
 * new generation directory and renames a new `..data` symlink over the old one: the kubelet's atomic update.
 */
export class SecretVolume {
  private generation = 0;

  constructor(readonly dir: string) {}

  get certPath(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyPath(): string {
    return join(this.dir, 'tls.key');
  }

  /** The first pair, and the two file symlinks. */
  init(pair: KeyPair): void {
    mkdirSync(this.dir, { recursive: true });
    this.swap(pair);
    symlinkSync(join('..data', 'tls.crt'), this.certPath);
    symlinkSync(join('..data', 'tls.key'), this.keyPath);
  }

  swap(pair: KeyPair): void {
    this.generation += 1;
    const generationDir = `..${this.generation}`;
    mkdirSync(join(this.dir, generationDir));
    writeFileSync(join(this.dir, generationDir, 'tls.crt'), pair.cert);
    writeFileSync(join(this.dir, generationDir, 'tls.key'), pair.key);
    symlinkSync(generationDir, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }
}
