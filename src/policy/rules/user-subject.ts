import { describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** What to do instead; the backstop says it too. */
export const USER_SUBJECT_ADVICE = 'bind a Microsoft Entra group by object ID instead (workloads: a ServiceAccount)';

/**
 * A User subject: access granted to one account outlives its need and survives group changes.
 * `system:` users are Kubernetes component identities (client certificates), never Entra accounts;
 * users that broad-group or local-account name get their more specific message there.
 */

export const userSubject: Rule = {
  id: 'user-subject',
  defaultAction: 'deny',
  check: ({ binding, subjects }) =>
    subjects.traits
      .filter((trait) => trait.subject.kind === 'User' && !trait.allowListed && !trait.systemName && !trait.broad && !trait.localAccount)
      .map(({ subject }) => ({
        subject,
        message:
          `${describeBinding(binding)} binds User "${subject.name}" directly [user-subject]: ${USER_SUBJECT_ADVICE}`,
      })),
};
