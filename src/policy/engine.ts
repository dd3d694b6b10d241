import type { Binding, GroupVersionKind, Operation, UserInfo } from '../admission/types.ts';
import { RBAC_GROUP } from '../admission/types.ts';
import { partitionBootstrapSubjects } from './bootstrap.ts';
import { allow, type Decision, type Violation } from './decision.ts';
import type { DirectoryFacts } from './facts.ts';
import type { Policy, RuleId } from './model.ts';
import { RULES } from './rules/index.ts';
import { entraGroupSubjects, subjectKey, subjectRef } from './subjects.ts';

/** What the engine judges: an admission request, or a manifest read by `check` (a CREATE with no requester). */
export interface Review {
  readonly operation: Operation;
  readonly kind: GroupVersionKind;
  readonly binding?: Binding;
  readonly oldBinding?: Binding;
  readonly requester?: UserInfo;
}

/** The API server's own identity: its bootstrap reconcile of default RBAC must never be blocked. */
const API_SERVER_USERNAME = 'system:apiserver';

/** The policy engine: a pure function of the review, the policy and what the directory said. */
export function evaluate(review: Review, policy: Policy, facts: DirectoryFacts): Decision {
  if (review.operation === 'DELETE' || review.operation === 'CONNECT') return allow();
  const { binding } = review;
  if (!binding) {
    return review.kind.group === RBAC_GROUP
      ? allow()
      : allow([`entra-rbac-guard does not evaluate ${review.kind.kind}: only RBAC objects; check the webhook's rules`]);
  }
  if (binding.kind === 'RoleBinding' && policy.allow.namespaces.includes(binding.namespace)) {
    return allow([], `namespace ${binding.namespace} is listed in the policy's allow.namespaces`);
  }
  const found = violationsOf(binding, policy, facts);
  const preExisting = review.oldBinding ? keysOf(violationsOf(review.oldBinding, policy, facts)) : new Set<string>();
  const exemptRequester = requesterExemption(review.requester, policy);
  const violations = found.map((violation) =>
    downgrade(violation, [
      preExisting.has(keyOf(violation)) && 'it was already there before this update',
      exemptRequester && `the requester is exempt (${exemptRequester})`,
      policy.mode === 'audit' && 'the policy is in audit mode',
    ]),
  );
  const { bootstrap, others } = partitionBootstrapSubjects(binding);
  const staleGroups = staleAnswers(binding, policy, facts);
  return {
    allowed: violations.every((violation) => violation.action !== 'deny'),
    violations,
    notes: [...directoryNotes(binding, policy, facts), ...staleGroups.map(staleNote)],
    ...(staleGroups.length > 0 ? { staleGroups } : {}),
    ...(bootstrap.length > 0 && others.length === 0 ? { exemption: 'Kubernetes bootstrap binding (kube-apiserver default RBAC)' } : {}),
    ...(exemptRequester && violations.length === 0 ? { exemption: `requester is exempt (${exemptRequester})` } : {}),
  };
}

function violationsOf(binding: Binding, policy: Policy, facts: DirectoryFacts): Violation[] {
  const judged = { ...binding, subjects: partitionBootstrapSubjects(binding).others };
  return RULES.flatMap((rule) => {
    const action = actionFor(rule.id, policy);
    if (action === 'off') return [];
    return rule
      .check({ binding: judged, policy, facts })
      .map((finding) => ({ rule: rule.id, action, subject: subjectRef(finding.subject), message: finding.message }));
  });
}

function actionFor(rule: RuleId, policy: Policy): 'deny' | 'warn' | 'off' {
  if (rule === 'directory-unavailable') return policy.directory.onError === 'deny' ? 'deny' : 'warn';
  return policy.rules[rule];
}

function downgrade(violation: Violation, reasons: ReadonlyArray<string | false | undefined>): Violation {
  const reason = reasons.find((candidate): candidate is string => typeof candidate === 'string');
  if (violation.action !== 'deny' || reason === undefined) return violation;
  return { ...violation, action: 'warn', downgradedBecause: reason };
}

function keyOf(violation: Violation): string {
  return `${violation.rule} ${subjectKey(violation.subject)}`;
}

function keysOf(violations: readonly Violation[]): Set<string> {
  return new Set(violations.map(keyOf));
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

function staleAnswers(binding: Binding, policy: Policy, facts: DirectoryFacts): { id: string; reason: string }[] {
  if (!policy.directory.verify || facts.source === undefined) return [];
  return entraGroupSubjects(binding, policy).flatMap((subject) => {
    const fact = facts.groups.get(subject.name);
    return fact?.state === 'found' && fact.stale ? [{ id: subject.name, reason: fact.stale.reason }] : [];
  });
}

function staleNote({ id, reason }: { id: string; reason: string }): string {
  return `Group "${id}" was judged on a cached directory answer: Microsoft Entra ID could not be asked now (${reason})`;
}

function directoryNotes(binding: Binding, policy: Policy, facts: DirectoryFacts): string[] {
  if (!policy.directory.verify || facts.source !== undefined) return [];
  const unchecked = entraGroupSubjects(binding, policy).map((subject) => subject.name);
  if (unchecked.length === 0) return [];
  return [
    `Group ${unchecked.map((id) => `"${id}"`).join(', ')} not checked in Microsoft Entra ID: no directory is configured ` +
      '(give --directory FILE or Graph credentials)',
  ];
}
