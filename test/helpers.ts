import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RBAC_GROUP, type Binding, type Subject, type UserInfo } from '../src/admission/types.ts';
import type { Review } from '../src/policy/engine.ts';
import type { DirectoryFacts, GroupFact } from '../src/policy/facts.ts';
import type { Policy, RuleAction, RuleId } from '../src/policy/model.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';

/** AdmissionReviews recorded from a real kube-apiserver 1.20 (test/fixtures/admission-reviews, see its README). */
export const RECORDED_REVIEWS = fileURLToPath(new URL('./fixtures/admission-reviews/', import.meta.url));
export const LOCAL_FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function recordedReview(fileName: string): Record<string, any> {
  return JSON.parse(readFileSync(`${RECORDED_REVIEWS}${fileName}`, 'utf8'));
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

// --- Added for test/policy: small builders for reviews and policy variants (existing helpers above are unchanged). ---

/** A requester that no policy in the tests exempts. */
export const DEVELOPER: UserInfo = { username: 'dev@contoso.com', groups: [GROUP_ID, 'system:authenticated'] };

/** A CREATE of `binding` by DEVELOPER, as the API server would send it; `overrides` change any field. */
export function createReview(binding: Binding, overrides: Partial<Review> = {}): Review {
  return {
    operation: 'CREATE',
    kind: { group: RBAC_GROUP, version: 'v1', kind: binding.kind },
    binding,
    requester: DEVELOPER,
    ...overrides,
  };
}

/** policyWith() with some rule actions changed. */
export function policyWithRules(rules: Partial<Record<RuleId, RuleAction>>, overrides: Partial<Policy> = {}): Policy {
  return policyWith({ ...overrides, rules: { ...DEFAULT_POLICY.rules, ...rules } });
}

/** policyWith() with some allow-lists set. */
export function policyWithAllow(allowed: Partial<Policy['allow']>, overrides: Partial<Policy> = {}): Policy {
  return policyWith({ ...overrides, allow: { ...DEFAULT_POLICY.allow, ...allowed } });
}

/** policyWith() with some directory settings changed. */
export function policyWithDirectory(directory: Partial<Policy['directory']>, overrides: Partial<Policy> = {}): Policy {
  return policyWith({ ...overrides, directory: { ...DEFAULT_POLICY.directory, ...directory } });
}
