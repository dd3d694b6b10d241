import type { Policy, RuleId } from './model.ts';
import { RULES } from './rules/index.ts';
import type { Rule } from './rules/rule.ts';
import { subjectKey } from './subjects.ts';

/**
 * What every review asks of a policy, worked out once per policy object instead of once per review: the rules that
 * are switched on with their actions, and the allow-lists as sets. A policy is never changed once parsed (a new
 * ConfigMap is a new object), so this is kept for as long as the policy lives.
 */
export interface CompiledPolicy {
  /** The rules not switched off, in RULES order, with the action the policy gives each. */
  readonly activeRules: readonly { readonly rule: Rule; readonly action: 'deny' | 'warn' }[];
  /** A rule that reads what roles grant is on: otherwise no role fact can change a decision. */
  readonly readsRoles: boolean;
  readonly allowUsers: ReadonlySet<string>;
  readonly allowGroups: ReadonlySet<string>;
  readonly allowNamespaces: ReadonlySet<string>;
  readonly adminGroups: ReadonlySet<string>;
  /** allow.clusterAdminSubjects by subjectKey(). */
  readonly clusterAdminSubjects: ReadonlySet<string>;
}

const compiled = new WeakMap<Policy, CompiledPolicy>();

export function compiledPolicy(policy: Policy): CompiledPolicy {
  let result = compiled.get(policy);
  if (!result) {
    result = compile(policy);
    compiled.set(policy, result);
  }
  return result;
}

function compile(policy: Policy): CompiledPolicy {
  const activeRules = RULES.flatMap((rule) => {
    const action = actionFor(rule.id, policy);
    return action === 'off' ? [] : [{ rule, action }];
  });
  return {
    activeRules,
    readsRoles: activeRules.some(({ rule }) => rule.readsRole),
    allowUsers: new Set(policy.allow.users),
    allowGroups: new Set(policy.allow.groups),
    allowNamespaces: new Set(policy.allow.namespaces),
    adminGroups: new Set(policy.adminGroups),
    clusterAdminSubjects: new Set(policy.allow.clusterAdminSubjects.map(subjectKey)),
  };
}

function actionFor(rule: RuleId, policy: Policy): 'deny' | 'warn' | 'off' {
  if (rule === 'directory-unavailable') return policy.directory.onError === 'deny' ? 'deny' : 'warn';
  return policy.rules[rule];
}
