/**
 * Writes the test CA that the loopback fakes (Entra token endpoint, Microsoft Graph) sign their certificates with.
 *
 * Node.js reads NODE_EXTRA_CA_CERTS once, at process start, so the CA must exist at a fixed path before the test
 * process starts: `npm test` runs this script first, then the tests with NODE_EXTRA_CA_CERTS=test/fakes/.ca/ca.crt.
 * An existing CA is kept while it has more than a week to live, so concurrent or repeated runs agree on one CA.
 *
 *   node --import tsx test/fakes/make-ca.ts
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';

export const CA_CERT_PATH = fileURLToPath(new URL('./.ca/ca.crt', import.meta.url));
export const CA_KEY_PATH = fileURLToPath(new URL('./.ca/ca.key', import.meta.url));

const WEEK_MS = 7 * 24 * 3600 * 1000;

export async function ensureTestCa(): Promise<{ readonly created: boolean }> {
  if (await usableCa()) return { created: false };
  const ca = await generate([{ name: 'commonName', value: 'entra-rbac-guard test fakes CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 90 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  await mkdir(dirname(CA_CERT_PATH), { recursive: true });
  // Key first, certificate last, each renamed into place: a reader that sees the certificate also sees its key.
  const suffix = `.${process.pid}.tmp`;
  await writeFile(CA_KEY_PATH + suffix, ca.private, { mode: 0o600 });
  await writeFile(CA_CERT_PATH + suffix, ca.cert, { mode: 0o644 });
  await rename(CA_KEY_PATH + suffix, CA_KEY_PATH);
  await rename(CA_CERT_PATH + suffix, CA_CERT_PATH);
  return { created: true };
}

async function usableCa(): Promise<boolean> {
  try {
    const [cert] = await Promise.all([readFile(CA_CERT_PATH, 'utf8'), readFile(CA_KEY_PATH, 'utf8')]);
    return new Date(new X509Certificate(cert).validTo).getTime() - Date.now() > WEEK_MS;
  } catch {
    return false;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { created } = await ensureTestCa();
  if (created) console.error(`test CA written to ${CA_CERT_PATH}`);
}
