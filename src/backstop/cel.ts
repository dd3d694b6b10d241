/**
 * CEL text the backstop is built from. Every literal is written as Helm's `toJson` writes it (Go's JSON, which escapes
 * <, > and &), so the chart's templates and `policy vap` print the same expressions for the same policy.
 */

/** A CEL string literal: JSON quoting is valid CEL, spelt as Go's encoding/json spells it. */
export function celString(value: string): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A CEL list literal of strings: `["a", "b"]`. */
export function celList(values: readonly string[]): string {
  return `[${values.map(celString).join(', ')}]`;
}

/**
 * The API server's clock, as far as CEL can read it: on CREATE the API server sets metadata.creationTimestamp (to the
 * second) before validating admission runs, whatever the client sent. On UPDATE there is no clock: the Unix epoch,
 * before every expiry, so a time-boxed entry still exempts (the backstop is then more lenient than the webhook, never
 * stricter).
 */
export const CLOCK =
  '(request.operation == "CREATE" && has(object.metadata.creationTimestamp) ? timestamp(object.metadata.creationTimestamp) : timestamp("1970-01-01T00:00:00Z"))';

/**
 * How long after its expiry the backstop still honours a time-boxed entry: the webhook's pods and the API server read
 * different clocks, and a backstop that expired an entry before the webhook does would deny what the webhook allows.
 */
/** How long after its expiry a time-boxed entry still exempts in the backstop: API server clocks may run behind. */
export const EXPIRY_GRACE_SECONDS = 60;
export const EXPIRY_GRACE = `${EXPIRY_GRACE_SECONDS}s`;

export interface TimeBoxedValue {
  readonly value: string;
  readonly expires: string;
}

/**
 * A list of allow-list values: the permanent ones as a literal, and each time-boxed one appended while `clock` is
 * before its expiry (plus the grace). `clock` is a CEL timestamp expression.
 */
export function allowListExpression(permanent: readonly string[], timeBoxed: readonly TimeBoxedValue[], clock: string): string {
  return [
    celList(permanent),
    ...timeBoxed.map(
      ({ value, expires }) => `(${clock} < timestamp(${celString(canonicalExpiry(expires))}) + duration(${celString(EXPIRY_GRACE)}) ? ${celList([value])} : [])`,
    ),
  ].join(' + ');
}

/** RFC 3339 as Go's time.Parse (and so CEL's timestamp()) reads it: upper-case T and Z, a T between date and time. */
function canonicalExpiry(expires: string): string {
  return expires.toUpperCase().replace(' ', 'T');
}
