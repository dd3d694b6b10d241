import type { Binding, BindingKind, RoleRef, Subject } from './types.ts';

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

export const BINDING_KINDS: readonly BindingKind[] = ['RoleBinding', 'ClusterRoleBinding'];

export function isBindingKind(kind: unknown): kind is BindingKind {
  return kind === 'RoleBinding' || kind === 'ClusterRoleBinding';
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

/**
 * Narrows a RoleBinding or ClusterRoleBinding object (as the API server sends it, or as a manifest holds it).
 * Only the fields the policy reads are checked; everything else is ignored.
 */
export function readBinding(value: unknown, path: string): Binding {
  const object = expectRecord(value, path);
  const kind = object['kind'];
  if (!isBindingKind(kind)) throw new InvalidInputError(`${path}.kind`, `must be RoleBinding or ClusterRoleBinding`);
  const metadata = expectRecord(object['metadata'] ?? {}, `${path}.metadata`);
  const name = expectString(metadata['name'], `${path}.metadata.name`, { optional: true });
  const namespace =
    kind === 'ClusterRoleBinding' ? '' : expectString(metadata['namespace'], `${path}.metadata.namespace`, { optional: true });
  return {
    kind,
    name,
    namespace,
    subjects: readSubjects(object['subjects'], `${path}.subjects`),
    roleRef: readRoleRef(object['roleRef'], `${path}.roleRef`),
  };
}

function readSubjects(value: unknown, path: string): Subject[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidInputError(path, `must be a list, got ${describeType(value)}`);
  return value.map((item, index) => readSubject(item, path, index));
}

/** The common case without building a field path per subject (a review can name hundreds of subjects). */
function readSubject(item: unknown, path: string, index: number): Subject {
  if (isRecord(item)) {
    const { kind, name } = item;
    const namespace = item['namespace'] ?? '';
    const apiGroup = item['apiGroup'] ?? '';
    if (typeof kind === 'string' && typeof name === 'string' && typeof namespace === 'string' && typeof apiGroup === 'string') {
      const subject: { kind: string; name: string; namespace?: string; apiGroup?: string } = { kind, name };
      if (namespace) subject.namespace = namespace;
      if (apiGroup) subject.apiGroup = apiGroup;
      return subject;
    }
  }
  return readSubjectNamingTheFault(item, `${path}[${index}]`);
}

/** Every field checked in turn, so the error names the first wrong one. */
function readSubjectNamingTheFault(item: unknown, at: string): Subject {
  const subject = expectRecord(item, at);
  const namespace = expectString(subject['namespace'], `${at}.namespace`, { optional: true });
  const apiGroup = expectString(subject['apiGroup'], `${at}.apiGroup`, { optional: true });
  return {
    kind: expectString(subject['kind'], `${at}.kind`),
    name: expectString(subject['name'], `${at}.name`),
    ...(namespace ? { namespace } : {}),
    ...(apiGroup ? { apiGroup } : {}),
  };
}

function readRoleRef(value: unknown, path: string): RoleRef {
  const roleRef = expectRecord(value, path);
  return {
    apiGroup: expectString(roleRef['apiGroup'], `${path}.apiGroup`, { optional: true }),
    kind: expectString(roleRef['kind'], `${path}.kind`),
    name: expectString(roleRef['name'], `${path}.name`),
  };
}
