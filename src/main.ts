import { tmpdir } from 'node:os';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadDirectory, loadPolicy, type DirectoryOptions } from './config.ts';
import { buildServer, type WebhookServer } from './http/server.ts';
import { generateSelfSigned, loadKeyPair, watchKeyPair, writeCaCertificate, type KeyPair } from './http/tls.ts';
import { formatProblems } from './policy/parse.ts';
import { loggerOptions } from './telemetry/logger.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';

export interface ServeOptions {
  readonly policy?: string | undefined;
  /** Directory options, given the metrics the directory reports to. */
  readonly directory: (metrics: Metrics) => DirectoryOptions;
  readonly host: string;
  readonly port: number;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly logLevel: string;
}

/** The composition root of `serve`: reads configuration once, wires the server, handles SIGTERM. */
export async function serve(options: ServeOptions): Promise<void> {
  const loaded = await loadPolicy(options.policy);
  const metrics = createMetrics(new Registry(), { processMetrics: true });
  // The logger exists once the server does; until then nothing can change state.
  let log: WebhookServer['log'] | undefined;
  const { directory, description } = await loadDirectory(loaded.policy, {
    ...options.directory(metrics),
    onDirectoryStateChange: (state, reason) =>
      state === 'closed'
        ? log?.info({ directoryState: state, reason }, 'Microsoft Graph answers again')
        : log?.warn({ directoryState: state, reason }, 'Microsoft Graph is not answering: lookups wait for the circuit breaker'),
  });
  const { pair, generated } = await certificate(options);
  const app = buildServer({
    tls: pair,
    currentPolicy: () => loaded.policy,
    directory,
    metrics,
    readiness: () => ({ ready: true, detail: { policy: loaded.source, mode: loaded.policy.mode } }),
    logger: loggerOptions(options.logLevel),
  });
  log = app.log;
  if (loaded.warnings.length > 0) log.warn({ policy: loaded.source }, `policy warning: ${formatProblems(loaded.warnings)}`);
  // Hooks cannot be added once listening: what is started below is cleaned up through this one.
  const cleanups: Array<() => Promise<void> | void> = [];
  app.addHook('onClose', async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  await app.listen({ host: options.host, port: options.port });
  const { port } = app.server.address() as AddressInfo;

  if (generated) {
    const caPath = join(tmpdir(), `entra-rbac-guard-${port}`, 'ca.crt');
    await writeCaCertificate(caPath, generated.ca);
    cleanups.push(() => rm(dirname(caPath), { recursive: true, force: true }));
    log.info({ caCertificate: caPath }, `no --tls-cert/--tls-key given: serving a self-signed certificate for 127.0.0.1, ::1 and localhost; its CA certificate is at ${caPath}`);
  } else if (options.tlsCert && options.tlsKey) {
    const stopWatching = watchKeyPair(
      options.tlsCert,
      options.tlsKey,
      (next) => {
        app.server.setSecureContext({ key: next.key, cert: next.cert });
        log.info({ cert: options.tlsCert }, 'TLS certificate reloaded from disk');
      },
      (error) => log.error({ cert: options.tlsCert, error: error.message }, 'TLS certificate change could not be loaded; still serving the previous one'),
    );
    cleanups.push(stopWatching);
  }
  log.info({ url: `https://${formatHost(options.host)}:${port}/validate`, policy: loaded.source, mode: loaded.policy.mode, directory: description }, 'entra-rbac-guard is serving');

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: no new requests, finishing those in flight');
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function certificate(options: ServeOptions): Promise<{ pair: KeyPair; generated?: { ca: string } }> {
  if (options.tlsCert && options.tlsKey) return { pair: await loadKeyPair(options.tlsCert, options.tlsKey) };
  const generated = await generateSelfSigned(options.host === '0.0.0.0' || options.host === '::' ? [] : [options.host]);
  return { pair: generated, generated };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
