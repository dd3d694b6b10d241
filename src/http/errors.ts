import createError from '@fastify/error';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const InvalidReviewError = createError<'ERB_INVALID_REVIEW', 400, [string]>(
  'ERB_INVALID_REVIEW',
  'Not a valid admission.k8s.io/v1 AdmissionReview: %s',
  400,
);

export const NotFoundError = createError<'ERB_NOT_FOUND', 404, [string, string]>(
  'ERB_NOT_FOUND',
  'No route %s %s: the webhook serves POST /validate, GET /healthz and GET /readyz',
  404,
);

/** Fastify's own transport errors, reworded so the caller learns what to change. */
const TRANSPORT_HINTS: Readonly<Record<string, string>> = {
  // Fastify 5 names a body that does not parse FST_ERR_CTP_INVALID_JSON_BODY.
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON: send the AdmissionReview as JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty: send an AdmissionReview',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the body is larger than the webhook accepts',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the Content-Type is not application/json: send the AdmissionReview as application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the Content-Length does not match the body',
  FST_ERR_BAD_URL: 'the URL is malformed',
};

/** Every error leaves as JSON `{statusCode, code, error, message}`, never with a stack trace, never as a 500 for bad input. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  const hint = TRANSPORT_HINTS[error.code];
  const message = hint ? `${hint} (${error.message})` : error.message;
  if (statusCode >= 500) request.log.error({ reqId: request.id, err: error }, 'unexpected error');
  else request.log.warn({ reqId: request.id, code: error.code, message }, 'rejected request');
  void reply
    .code(statusCode)
    .type('application/json')
    .send({ statusCode, code: error.code ?? 'ERB_INTERNAL', error: statusName(statusCode), message: statusCode >= 500 ? 'internal error: see the webhook log' : message });
}

function statusName(statusCode: number): string {
  return (
    { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 415: 'Unsupported Media Type' }[
      statusCode
    ] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Client Error')
  );
}

/**
 * An answer the webhook gives without judging the review (overloaded, body budget used up): a Kubernetes Status, which
 * the API server's webhook client decodes, so its message is what the user sees ("failed calling webhook …: …");
 * `statusCode` and `error` as in every other error of the webhook.
 */
export function unjudgedStatus(code: 429 | 503, message: string): Record<string, unknown> {
  const [reason, error] = code === 429 ? ['TooManyRequests', 'Too Many Requests'] : ['ServiceUnavailable', 'Service Unavailable'];
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code, statusCode: code, error, message };
}
