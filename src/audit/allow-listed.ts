import type { Binding } from '../admission/types.ts';
import type { Policy } from '../policy/model.ts';
import { describeSubject, isAllowListed, isUser, sameSubject, subjectRef } from '../policy/subjects.ts';

/**
 * The subjects of a binding that pass only because a policy allow-list names them, each with the list: an audit shows
 * them as exempt rather than as silently compliant (`User "break-glass" (allow.users)`).
 */
export function allowListedSubjects(binding: Binding, policy: Policy): string[] {
  return binding.subjects.flatMap((subject) => {
    const lists = [
      isAllowListed(subject, policy) && (isUser(subject) ? 'allow.users' : 'allow.groups'),
      policy.allow.clusterAdminSubjects.some((allowed) => sameSubject(allowed, subjectRef(subject))) && 'allow.clusterAdminSubjects',
    ].filter((list): list is string => typeof list === 'string');
    return lists.length > 0 ? [`${describeSubject(subjectRef(subject))} (${lists.join(', ')})`] : [];
  });
}
