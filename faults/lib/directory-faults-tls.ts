/**
 * HTTPS servers on loopback whose certificate a client must refuse, for the "TLS failure" faults: one signed by a CA
 * nobody trusts (a TLS-intercepting proxy, a self-signed endpoint), one signed by the trusted test CA but for another
 * host name (a misrouted endpoint). They answer like Graph would if a client went on anyway, which none must.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { signedByTestCa } from '../../test/fakes/tls.ts';

export type BadCertificate = 'untrusted' | 'wrong-hostname';

export interface BadTlsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBadTlsServer(kind: BadCertificate): Promise<BadTlsServer> {
  const pair = kind === 'untrusted' ? await generateSelfSigned() : await otherHostCertificate();
  const server: Server = createServer({ key: pair.key, cert: pair.cert, minVersion: 'TLSv1.2' }, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"value":[]}');
  });
  // A client that refuses the certificate resets the handshake: nothing to report.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Signed by the test CA (which the webhook trusts through NODE_EXTRA_CA_CERTS), valid only for graph.contoso.invalid. */
function otherHostCertificate(): Promise<{ key: string; cert: string }> {
  return signedByTestCa('graph.contoso.invalid', [{ type: 2, value: 'graph.contoso.invalid' }]);
}
