import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Binding, Subject } from '../src/admission/types.ts';
import type { DirectoryFacts, GroupFact } from '../src/policy/facts.ts';
import type { Policy } from '../src/policy/model.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';

/** AdmissionReviews recorded from a real kube-apiserver 1.20 (../shared/fixtures/admission-reviews). */
export const SHARED_FIXTURES = fileURLToPath(new URL('../../shared/fixtures/admission-reviews/', import.meta.url));
export const LOCAL_FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function recordedReview(fileName: string): Record<string, any> {
  return JSON.parse(readFileSync(`${SHARED_FIXTURES}${fileName}`, 'utf8'));
}

export const GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
export const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';

export function policyWith(overrides: Partial<Policy> = {}): Policy {
  return { ...DEFAULT_POLICY, adminGroups: [ADMIN_GROUP_ID], ...overrides };
}

export function user(name: string): Subject {
  return { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name };
}

export function group(name: string): Subject {
  return { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name };
}

export function serviceAccount(namespace: string, name: string): Subject {
  return { kind: 'ServiceAccount', namespace, name };
}

export function roleBinding(subjects: readonly Subject[], overrides: Partial<Binding> = {}): Binding {
  return {
    kind: 'RoleBinding',
    namespace: 'retail-app',
    name: 'alice-edit',
    subjects,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    ...overrides,
  };
}

export function clusterRoleBinding(subjects: readonly Subject[], roleName = 'view', overrides: Partial<Binding> = {}): Binding {
  return {
    kind: 'ClusterRoleBinding',
    namespace: '',
    name: 'team-binding',
    subjects,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
    ...overrides,
  };
}

/** Directory facts as a snapshot would give them. */
export function directoryFacts(groups: Record<string, GroupFact>, source = 'snapshot test'): DirectoryFacts {
  return { source, groups: new Map(Object.entries(groups)) };
}

export const SECURITY_GROUP: GroupFact = { state: 'found', displayName: 'Payments Team', securityEnabled: true };
export const M365_GROUP: GroupFact = { state: 'found', displayName: 'Payments (Microsoft 365)', securityEnabled: false };
