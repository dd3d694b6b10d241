import type { Binding, GroupVersionKind, Operation, RbacRole, Subject, UserInfo } from '../admission/types.ts';
import { RBAC_GROUP } from '../admission/types.ts';
import { partitionBootstrapSubjects } from './bootstrap.ts';
import { compiledPolicy } from './compiled-policy.ts';
import { allow, violationKey, type Decision, type Violation } from './decision.ts';
import { UNKNOWN_ROLES, resolveRole, roleIdOf, roleKey, type Facts, type RoleFacts } from './facts.ts';
import type { Policy } from './model.ts';
import { escalatingPermissions, grantsEverything, withRulesOf } from './privileges.ts';
import { describeRole, type RuleContext } from './rules/rule.ts';
import { subjectsOf } from './subject-traits.ts';
import { judgeWithTimeBoxed } from './time-boxed.ts';
import { describeBinding, subjectRef } from './subjects.ts';

/** What the engine judges: an admission request, or a manifest read by `check` (a CREATE with no requester). */
export interface Review {
  readonly operation: Operation;
  readonly kind: GroupVersionKind;
  readonly binding?: Binding;
  readonly oldBinding?: Binding;
  /** A Role or ClusterRole under review: judged against every binding that references it (facts.roles.bindings). */
  readonly role?: RbacRole;
  readonly oldRole?: RbacRole;
  readonly requester?: UserInfo;
}

/** Names that exist in every cluster (kube-apiserver's default roles): `check` does not note that its input lacks them. */
const DEFAULT_ROLE_NAMES = new Set(['cluster-admin', 'admin', 'edit', 'view']);

/** The API server's own identity: its bootstrap reconcile of default RBAC must never be blocked. */
const API_SERVER_USERNAME = 'system:apiserver';

/**
 * The policy engine: a pure function of the review, the policy and what the directory, the roles and the clock said.
 * Allow-list entries that expire are weighed by judgeWithTimeBoxed; everything else is judged at once.
 */
export function evaluate(review: Review, policy: Policy, facts: Facts): Decision {
  return policy.timeBoxed.length === 0 ? judge(review, policy, facts) : judgeWithTimeBoxed(review, policy, facts, judge);
}

function judge(review: Review, policy: Policy, facts: Facts): Decision {
  if (review.operation === 'DELETE' || review.operation === 'CONNECT') return allow();
  if (review.role) return evaluateRole(review, review.role, policy, facts);
  const { binding } = review;
  if (!binding) {
    return review.kind.group === RBAC_GROUP
      ? allow()
      : allow([`entra-rbac-guard does not evaluate ${review.kind.kind}: only RBAC objects; check the webhook's rules`]);
  }
  if (binding.kind === 'RoleBinding' && compiledPolicy(policy).allowNamespaces.has(binding.namespace)) {
    return allow([], `namespace ${binding.namespace} is listed in the policy's allow.namespaces`);
  }
  const { bootstrap, others } = partitionBootstrapSubjects(binding);
  // Before the old object may be judged: the classification of the new one is then still the one kept.
  const { entraGroups } = subjectsOf(others, policy);
  const found = violationsOf(binding, policy, facts);
  // The old object matters only to downgrade what the new one violates: a clean UPDATE judges one object, not two.
  const preExisting = review.oldBinding && found.length > 0 ? keysOf(violationsOf(review.oldBinding, policy, facts)) : new Set<string>();
  const exemptRequester = requesterExemption(review.requester, policy);
  const violations = found.length > 0 ? downgradeAll(found, preExisting, exemptRequester, policy) : found;
  const staleGroups = staleAnswers(entraGroups, policy, facts);
  return {
    allowed: violations.every((violation) => violation.action !== 'deny'),
    violations,
    notes: [...directoryNotes(entraGroups, policy, facts), ...staleGroups.map(staleNote), ...roleNotes(binding, policy, facts)],
    ...(staleGroups.length > 0 ? { staleGroups } : {}),
    ...(bootstrap.length > 0 && others.length === 0 ? { exemption: 'Kubernetes bootstrap binding (kube-apiserver default RBAC)' } : {}),
    ...(exemptRequester && violations.length === 0 ? { exemption: `requester is exempt (${exemptRequester})` } : {}),
  };
}

/**
 * A Role or ClusterRole under review, judged through the bindings that reference it: each is judged again by the
 * rules that read the role (cluster-admin, escalation), with the role as the change makes it. Widening a role that
 * non-admins hold is how one would walk around every binding check.
 */
function evaluateRole(review: Review, role: RbacRole, policy: Policy, facts: Facts): Decision {
  if (role.kind === 'Role' && compiledPolicy(policy).allowNamespaces.has(role.namespace)) {
    return allow([], `namespace ${role.namespace} is listed in the policy's allow.namespaces`);
  }
  const roles = facts.roles ?? UNKNOWN_ROLES;
  if (roles.source === undefined) return allow(unknownBindingsNote(role, policy, roles.unknownBecause));
  const bindings = bindingsHolding(role, roles, policy);
  const judge = (judged: RbacRole) => bindings.flatMap((binding) => violationsOf(binding, policy, facts, judged));
  const aggregators = (roles.aggregators ?? []).map((aggregator) => ({ aggregator, bindings: bindingsHolding(aggregator, roles, policy) }));
  // Aggregation widens the aggregating roles as the controller manager copies the rules in; what they already grant
  // (this role's old rules included, if it was aggregated before) is not this change's doing.
  const aggregation = (widen: boolean) =>
    aggregators.flatMap(({ aggregator, bindings: held }) => {
      const judged = widen ? withRulesOf(aggregator, role) : aggregator;
      return held.flatMap((binding) => violationsOf(binding, policy, facts, judged).map((violation) => throughAggregation(violation, role, aggregator)));
    });
  const found = [...judge(role), ...aggregation(true)];
  const preExisting = found.length > 0 ? new Set([...(review.oldRole ? keysOf(judge(review.oldRole)) : []), ...keysOf(aggregation(false))]) : new Set<string>();
  const exemptRequester = requesterExemption(review.requester, policy);
  const violations = downgradeAll(found, preExisting, exemptRequester, policy);
  return {
    allowed: violations.every((violation) => violation.action !== 'deny'),
    violations,
    notes: [],
    ...(exemptRequester && violations.length === 0 ? { exemption: `requester is exempt (${exemptRequester})` } : {}),
  };
}

/** The bindings of `role` that the policy judges (not RoleBindings in allow.namespaces). */
function bindingsHolding(role: RbacRole, roles: RoleFacts, policy: Policy): Binding[] {
  return (roles.bindings.get(roleKey(role)) ?? []).filter(
    (binding) => sameRole(binding, role) && !(binding.kind === 'RoleBinding' && compiledPolicy(policy).allowNamespaces.has(binding.namespace)),
  );
}

/** A violation of `aggregator` widened by `role`'s rules, told as what aggregating `role` would do. */
function throughAggregation(violation: Violation, role: RbacRole, aggregator: RbacRole): Violation {
  return {
    ...violation,
    message:
      `${describeRole(role)} is aggregated into ${describeRole(aggregator)} (its labels match that role's aggregationRule): ${violation.message}; ` +
      `or remove the aggregation label from ${describeRole(role)}`,
  };
}

/** A binding references the role when its roleRef names it (a Role only from its own namespace). */
function sameRole(binding: Binding, role: RbacRole): boolean {
  const id = roleIdOf(binding);
  return id !== undefined && roleKey(id) === roleKey(role);
}

/** Without role facts a dangerous role cannot be checked against its bindings: say so, instead of staying silent. */
function unknownBindingsNote(role: RbacRole, policy: Policy, unknownBecause: string | undefined): string[] {
  const listed = role.kind === 'ClusterRole' && policy.clusterAdminRoles.includes(role.name);
  const dangerous = listed || (role.kind === 'ClusterRole' && grantsEverything(role.rules)) || escalatingPermissions(role.rules).length > 0;
  if (!dangerous) return [];
  return [
    `${describeRole(role)} grants cluster-admin or escalating permissions, and the bindings that reference it were not ` +
      `checked: ${unknownBecause ?? 'the webhook has no role cache'}`,
  ];
}

/** With `changedRole`, only the rules that read the role run: the binding itself was judged when it was written. */
function violationsOf(binding: Binding, policy: Policy, facts: Facts, changedRole?: RbacRole): Violation[] {
  const { others } = partitionBootstrapSubjects(binding);
  const judged = others === binding.subjects ? binding : { ...binding, subjects: others };
  const context: RuleContext = {
    binding: judged,
    subjects: subjectsOf(others, policy),
    policy,
    facts,
    role: changedRole ? { state: 'found', role: changedRole } : resolveRole(binding, facts),
    ...(changedRole ? { changedRole } : {}),
  };
  const violations: Violation[] = [];
  for (const { rule, action } of compiledPolicy(policy).activeRules) {
    if (changedRole && !rule.readsRole) continue;
    for (const finding of rule.check(context)) {
      violations.push({
        rule: rule.id,
        action,
        subject: subjectRef(finding.subject),
        message: finding.message,
        ...(changedRole ? { via: describeBinding(binding), ...(binding.kind === 'RoleBinding' ? { viaNamespace: binding.namespace } : {}) } : {}),
      });
    }
  }
  return violations;
}

function downgradeAll(found: readonly Violation[], preExisting: ReadonlySet<string>, exemptRequester: string | undefined, policy: Policy): Violation[] {
  return found.map((violation) =>
    downgrade(violation, [
      preExisting.has(violationKey(violation)) && 'it was already there before this update',
      exemptRequester && `the requester is exempt (${exemptRequester})`,
      policy.mode === 'audit' && 'the policy is in audit mode',
    ]),
  );
}

function downgrade(violation: Violation, reasons: ReadonlyArray<string | false | undefined>): Violation {
  const reason = reasons.find((candidate): candidate is string => typeof candidate === 'string');
  if (violation.action !== 'deny' || reason === undefined) return violation;
  return { ...violation, action: 'warn', downgradedBecause: reason };
}

function keysOf(violations: readonly Violation[]): Set<string> {
  return new Set(violations.map(violationKey));
}

function requesterExemption(requester: UserInfo | undefined, policy: Policy): string | undefined {
  if (!requester) return undefined;
  if (requester.username === API_SERVER_USERNAME) return `${API_SERVER_USERNAME} is always exempt`;
  if (policy.allow.requesters.usernames.includes(requester.username)) {
    return `user ${requester.username} is in allow.requesters.usernames`;
  }
  const group = requester.groups.find((name) => policy.allow.requesters.groups.includes(name));
  return group === undefined ? undefined : `group ${group} is in allow.requesters.groups`;
}

function staleAnswers(entraGroups: readonly Subject[], policy: Policy, facts: Facts): { id: string; reason: string }[] {
  if (!policy.directory.verify || facts.source === undefined) return [];
  return entraGroups.flatMap((subject) => {
    const fact = facts.groups.get(subject.name);
    return fact?.state === 'found' && fact.stale ? [{ id: subject.name, reason: fact.stale.reason }] : [];
  });
}

function staleNote({ id, reason }: { id: string; reason: string }): string {
  return `Group "${id}" was judged on a cached directory answer: Microsoft Entra ID could not be asked now (${reason})`;
}

function directoryNotes(entraGroups: readonly Subject[], policy: Policy, facts: Facts): string[] {
  if (!policy.directory.verify || facts.source !== undefined) return [];
  const unchecked = entraGroups.map((subject) => subject.name);
  if (unchecked.length === 0) return [];
  return [
    `Group ${unchecked.map((id) => `"${id}"`).join(', ')} not checked in Microsoft Entra ID: no directory is configured ` +
      '(give --directory FILE or Graph credentials)',
  ];
}

/**
 * A binding whose role is not among the facts was judged on the role's name only. In a cluster that means the role
 * does not exist yet (it will be judged against this binding when it is created); in `check`, that the input lacks it.
 */
function roleNotes(binding: Binding, policy: Policy, facts: Facts): string[] {
  if (!compiledPolicy(policy).readsRoles) return [];
  const resolved = resolveRole(binding, facts);
  const roles = facts.roles ?? UNKNOWN_ROLES;
  if (resolved.state === 'unknown') {
    return roles.unknownBecause ? [`${describeBinding(binding)} was judged on its role's name only: roles are unknown (${roles.unknownBecause})`] : [];
  }
  if (resolved.state !== 'missing') return [];
  const role = describeRole({ kind: binding.roleRef.kind, namespace: binding.namespace, name: binding.roleRef.name });
  if (resolved.complete) {
    return [
      `${role} does not exist yet: ${describeBinding(binding)} was judged on the role's name only; ` +
        'the role will be checked against this binding when it is created',
    ];
  }
  const builtIn = binding.roleRef.kind === 'ClusterRole' && (DEFAULT_ROLE_NAMES.has(binding.roleRef.name) || binding.roleRef.name.startsWith('system:'));
  return builtIn ? [] : [`${role} is not in ${resolved.source}: ${describeBinding(binding)} was judged on the role's name only (add the role to check what it grants)`];
}
