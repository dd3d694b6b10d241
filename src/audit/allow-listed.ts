import type { Binding } from '../admission/types.ts';
import type { Policy } from '../policy/model.ts';
import type { Decision } from '../policy/decision.ts';
import { describeSubject, isAllowListed, isUser, sameSubject, subjectKey, subjectRef } from '../policy/subjects.ts';

/**
 * The subjects of a binding that pass only because a policy allow-list names them, each with the list: an audit shows
 * them as exempt rather than as silently compliant (`User "break-glass" (allow.users)`).
 */
export function allowListedSubjects(binding: Binding, policy: Policy, decision: Decision): string[] {
  // A subject whose break-glass entry has expired is not exempt, whatever the list still says: the engine marks it.
  const lapsed = new Set(decision.violations.filter((violation) => violation.expiredExemption).map((violation) => subjectKey(violation.subject)));
  return binding.subjects.flatMap((subject) => {
    if (lapsed.has(subjectKey(subjectRef(subject)))) return [];
    const lists = [
      isAllowListed(subject, policy) && (isUser(subject) ? 'allow.users' : 'allow.groups'),
      policy.allow.clusterAdminSubjects.some((allowed) => sameSubject(allowed, subjectRef(subject))) && 'allow.clusterAdminSubjects',
    ].filter((list): list is string => typeof list === 'string');
    return lists.length > 0 ? [`${describeSubject(subjectRef(subject))} (${lists.join(', ')})`] : [];
  });
}
