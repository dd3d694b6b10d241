/**
 * Narrowing parsed JSON or YAML (`unknown`) to what a reader expects, with errors that say where it is not: shared by
 * the readers of each kind (binding.ts, role.ts), the review decoder, and the readers of policies and snapshots.
 */

/** A document that is not what it claims to be; `path` says where (e.g. `request.object.subjects[1].name`). */
export class InvalidInputError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'InvalidInputError';
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function expectRecord(value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) throw new InvalidInputError(path, `must be an object, got ${describeType(value)}`);
  return value;
}

export function expectString(value: unknown, path: string, { optional = false } = {}): string {
  if (value === undefined || value === null) {
    if (optional) return '';
    throw new InvalidInputError(path, 'is required');
  }
  if (typeof value !== 'string') throw new InvalidInputError(path, `must be a string, got ${describeType(value)}`);
  return value;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}
