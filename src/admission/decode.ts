import { isBindingKind, readBinding } from './binding.ts';
import { InvalidInputError, describeType, expectRecord, expectString } from './narrow.ts';
import { isRoleKind, readRole } from './role.ts';
import { ADMISSION_V1, RBAC_GROUP, type AdmissionChange, type GroupVersionKind, type Operation, type UserInfo } from './types.ts';

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

/**
 * Narrows an untrusted body into an AdmissionChange, or throws InvalidInputError naming the field and the problem.
 * Bindings, Roles and ClusterRoles are read in full; any other kind keeps only its identity (the policy does not look
 * inside it).
 */
export function decodeAdmissionReview(body: unknown): AdmissionChange {
  const review = expectRecord(body, 'body');
  if (review['apiVersion'] !== ADMISSION_V1 || review['kind'] !== 'AdmissionReview') {
    throw new InvalidInputError(
      'apiVersion/kind',
      `expected ${ADMISSION_V1} AdmissionReview, got ${shown(review['apiVersion'])} ${shown(review['kind'])}` +
        ': register the webhook with admissionReviewVersions: [v1]',
    );
  }
  const request = expectRecord(review['request'], 'request');
  const uid = expectString(request['uid'], 'request.uid');
  if (uid === '') throw new InvalidInputError('request.uid', 'must not be empty');
  const operation = request['operation'];
  if (!OPERATIONS.includes(operation as Operation)) {
    throw new InvalidInputError('request.operation', `must be one of ${OPERATIONS.join(', ')}, got ${describeType(operation)}`);
  }
  const kind = readKind(request['kind'], 'request.kind');
  const change = {
    uid,
    apiVersion: ADMISSION_V1,
    operation: operation as Operation,
    kind,
    namespace: expectString(request['namespace'], 'request.namespace', { optional: true }),
    name: expectString(request['name'], 'request.name', { optional: true }),
    requester: readUserInfo(request['userInfo'], 'request.userInfo'),
    dryRun: request['dryRun'] === true,
  };
  checkObjectKind(request['object'], kind, 'request.object');
  checkObjectKind(request['oldObject'], kind, 'request.oldObject');
  if (kind.group !== RBAC_GROUP || operation === 'DELETE' || operation === 'CONNECT') return change;
  if (isRoleKind(kind.kind)) {
    const role = readRole(request['object'], 'request.object');
    const oldRole = operation === 'UPDATE' ? readRole(request['oldObject'], 'request.oldObject') : undefined;
    return { ...change, role, ...(oldRole ? { oldRole } : {}) };
  }
  if (!isBindingKind(kind.kind)) return change;
  const binding = readBinding(request['object'], 'request.object');
  const oldBinding = operation === 'UPDATE' ? readBinding(request['oldObject'], 'request.oldObject') : undefined;
  return { ...change, binding, ...(oldBinding ? { oldBinding } : {}) };
}

/** A string as it is (cut to 64 characters), anything else by its type: String() of an array nested 10,000 deep overflows the stack. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 64) : describeType(value);
}

function readKind(value: unknown, path: string): GroupVersionKind {
  const kind = expectRecord(value, path);
  return {
    group: expectString(kind['group'], `${path}.group`, { optional: true }),
    version: expectString(kind['version'], `${path}.version`),
    kind: expectString(kind['kind'], `${path}.kind`),
  };
}

function readUserInfo(value: unknown, path: string): UserInfo {
  const info = expectRecord(value ?? {}, path);
  const groups = info['groups'] ?? [];
  if (!Array.isArray(groups) || groups.some((group) => typeof group !== 'string')) {
    throw new InvalidInputError(`${path}.groups`, 'must be a list of strings');
  }
  const uid = expectString(info['uid'], `${path}.uid`, { optional: true });
  return { username: expectString(info['username'], `${path}.username`, { optional: true }), groups, ...(uid ? { uid } : {}) };
}

/** The object must be of the kind the request names: anything else is a forged or corrupted review. */
function checkObjectKind(object: unknown, kind: GroupVersionKind, path: string): void {
  if (object === undefined || object === null) return;
  const record = expectRecord(object, path);
  if (record['kind'] !== kind.kind) {
    throw new InvalidInputError(`${path}.kind`, `is ${describeType(record['kind'])} but request.kind.kind is "${kind.kind}"`);
  }
}
