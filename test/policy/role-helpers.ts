/** Builders for Roles, ClusterRoles and their rules, and for the role facts the engine reads (test/policy, test/check). */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Binding, PolicyRule, RbacRole } from '../../src/admission/types.ts';
import { readRole } from '../../src/admission/role.ts';
import { NO_DIRECTORY, roleIdOf, roleKey, type Facts, type RoleFacts } from '../../src/policy/facts.ts';
import { withAggregatedRules } from '../../src/policy/privileges.ts';
import { LOCAL_FIXTURES } from '../helpers.ts';

/** A rule: verbs on resources in API groups (default: the core group). */
export function rule(verbs: readonly string[], resources: readonly string[], apiGroups: readonly string[] = [''], extra: Partial<PolicyRule> = {}): PolicyRule {
  return { verbs, apiGroups, resources, resourceNames: [], nonResourceURLs: [], ...extra };
}

export const WILDCARD: PolicyRule = rule(['*'], ['*'], ['*']);
export const STANDARD_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

export function clusterRole(name: string, rules: readonly PolicyRule[], overrides: Partial<RbacRole> = {}): RbacRole {
  return { kind: 'ClusterRole', namespace: '', name, labels: {}, rules, ...overrides };
}

export function namespacedRole(namespace: string, name: string, rules: readonly PolicyRule[], overrides: Partial<RbacRole> = {}): RbacRole {
  return { kind: 'Role', namespace, name, labels: {}, rules, ...overrides };
}

/**
 * Role facts as the role cache gives them: `roles` exist, anything else does not (complete), and `bindings` are every
 * binding in the cluster (filed under the role they reference).
 */
export function roleFacts(roles: readonly RbacRole[], bindings: readonly Binding[] = [], overrides: Partial<RoleFacts> = {}): RoleFacts {
  const byRole = new Map<string, Binding[]>();
  for (const binding of bindings) {
    const id = roleIdOf(binding);
    if (!id) continue;
    const list = byRole.get(roleKey(id)) ?? [];
    list.push(binding);
    byRole.set(roleKey(id), list);
  }
  return {
    source: 'the role cache',
    complete: true,
    roles: new Map(roles.map((role) => [roleKey(role), role])),
    bindings: byRole,
    ...overrides,
  };
}

/** Facts with no directory and the given role facts. */
export function withRoles(roles: RoleFacts): Facts {
  return { ...NO_DIRECTORY, roles };
}

/** The Roles and ClusterRoles of a fresh kube-apiserver 1.20, aggregated ClusterRoles filled in as the controller would. */
export function bootstrapRoles(): RbacRole[] {
  const list = parse(readFileSync(`${LOCAL_FIXTURES}bootstrap-roles-kube-apiserver-1.20.yaml`, 'utf8')) as { items: unknown[] };
  return withAggregatedRules(list.items.map((item, index) => readRole(item, `items[${index}]`)));
}

export function bootstrapRole(name: string, roles: readonly RbacRole[] = bootstrapRoles()): RbacRole {
  const role = roles.find((candidate) => candidate.kind === 'ClusterRole' && candidate.name === name);
  if (!role) throw new Error(`no bootstrap ClusterRole ${name}`);
  return role;
}
