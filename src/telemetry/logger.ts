import type { FastifyServerOptions } from 'fastify';

/** JSON lines on stdout (pino through Fastify). Credentials never reach a log line. */
export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    base: { service: 'entra-rbac-guard' },
    redact: { paths: ['req.headers.authorization', '*.token', '*.access_token', '*.client_secret'], censor: '[redacted]' },
  };
}
