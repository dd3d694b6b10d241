import { InvalidInputError, describeType, expectRecord, expectString, isRecord } from './narrow.ts';
import type { Binding, BindingKind, RoleRef, Subject } from './types.ts';

export const BINDING_KINDS: readonly BindingKind[] = ['RoleBinding', 'ClusterRoleBinding'];

export function isBindingKind(kind: unknown): kind is BindingKind {
  return kind === 'RoleBinding' || kind === 'ClusterRoleBinding';
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
