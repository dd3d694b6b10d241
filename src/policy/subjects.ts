import type { Binding, Subject } from '../admission/types.ts';
import type { Policy, SubjectRef } from './model.ts';

export const CANONICAL_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const ANY_GUID = /^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/;

/** An Entra object ID exactly as it appears in a token's groups claim: a lower-case GUID without braces. */
export function isEntraObjectId(name: string): boolean {
  return CANONICAL_GUID.test(name);
}

/** A GUID in a spelling the groups claim never uses (upper case, braces); returns the canonical spelling. */
export function canonicalGuidOf(name: string): string | undefined {
  if (!ANY_GUID.test(name) || CANONICAL_GUID.test(name)) return undefined;
  return name.replace(/[{}]/g, '').toLowerCase();
}

/** `system:` names are reserved for Kubernetes' own identities; no Entra account or group can carry one. */
export function isKubernetesSystemName(name: string): boolean {
  return name.startsWith('system:');
}

export function isUser(subject: Subject): boolean {
  return subject.kind === 'User';
}

export function isGroup(subject: Subject): boolean {
  return subject.kind === 'Group';
}

/** A User or Group subject that the policy's allow-lists permit to be bound (cluster-admin is judged separately). */
export function isAllowListed(subject: Subject, policy: Policy): boolean {
  if (isUser(subject)) return policy.allow.users.includes(subject.name);
  if (isGroup(subject)) return policy.allow.groups.includes(subject.name);
  return false;
}

export function subjectRef(subject: Subject): SubjectRef {
  return { kind: subject.kind, name: subject.name, ...(subject.namespace ? { namespace: subject.namespace } : {}) };
}

export function subjectKey(subject: SubjectRef): string {
  return `${subject.kind}/${subject.namespace ?? ''}/${subject.name}`;
}

export function sameSubject(a: SubjectRef, b: SubjectRef): boolean {
  return subjectKey(a) === subjectKey(b);
}

export function describeSubject(subject: SubjectRef): string {
  return subject.kind === 'ServiceAccount'
    ? `ServiceAccount "${subject.namespace ?? ''}/${subject.name}"`
    : `${subject.kind} "${subject.name}"`;
}

export function describeBinding(binding: Binding): string {
  const name = binding.name || '(generated name)';
  return binding.kind === 'RoleBinding' ? `RoleBinding ${binding.namespace}/${name}` : `ClusterRoleBinding ${name}`;
}

/** Any RBAC object as messages and reports name it: `RoleBinding ns/name`, `ClusterRole name`, `Role ns/name`. */
export function describeObject(object: { readonly kind: string; readonly namespace: string; readonly name: string }): string {
  const name = object.name || '(generated name)';
  return object.namespace ? `${object.kind} ${object.namespace}/${name}` : `${object.kind} ${name}`;
}
