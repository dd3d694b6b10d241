import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generate } from 'selfsigned';
import { CA_CERT_PATH, CA_KEY_PATH } from './make-ca.ts';

/**
 * A server certificate for 127.0.0.1, ::1 and localhost, signed by the test CA of make-ca.ts. Clients in the test
 * process trust it only through NODE_EXTRA_CA_CERTS, exactly as a pod trusts a private CA: no test turns off
 * certificate checks. Fails with what to do when the test process was started without that variable.
 */
export async function loopbackCertificate(commonName: string): Promise<{ readonly key: string; readonly cert: string }> {
  const trusted = process.env['NODE_EXTRA_CA_CERTS'];
  if (!trusted || resolve(trusted) !== CA_CERT_PATH) {
    throw new Error(
      `the loopback fakes need NODE_EXTRA_CA_CERTS=${CA_CERT_PATH} in the test process's environment (got ${trusted ?? 'nothing'}); ` +
        'run the tests with `npm test`, which creates the CA and sets it',
    );
  }
  return signedByTestCa(commonName, [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ]);
}

export type AltName = { readonly type: 2; readonly value: string } | { readonly type: 7; readonly ip: string };

/** A server certificate for `altNames` (DNS names, type 2; IP addresses, type 7) signed by the test CA. */
export async function signedByTestCa(commonName: string, altNames: readonly AltName[]): Promise<{ readonly key: string; readonly cert: string }> {
  const [caCert, caKey] = await Promise.all([readFile(CA_CERT_PATH, 'utf8'), readFile(CA_KEY_PATH, 'utf8')]);
  const server = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 24 * 3600 * 1000),
    ca: { key: caKey, cert: caCert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames.map((name) => ({ ...name }) as never) },
    ],
  });
  return { key: server.private, cert: server.cert };
}
