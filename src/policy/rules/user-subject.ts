import { describeBinding, isAllowListed, isKubernetesSystemName, isUser } from '../subjects.ts';
import { isBroadIdentity } from './broad-group.ts';
import { isLocalAccount } from './local-account.ts';
import type { Rule } from './rule.ts';

/**
 * A User subject: access granted to one account outlives its need and survives group changes.
 * `system:` users are Kubernetes component identities (client certificates), never Entra accounts;
 * users that broad-group or local-account name get their more specific message there.
 */
export const userSubject: Rule = {
  id: 'user-subject',
  defaultAction: 'deny',
  check: ({ binding, policy }) =>
    binding.subjects
      .filter((subject) => isUser(subject) && !isAllowListed(subject, policy))
      .filter((subject) => !isKubernetesSystemName(subject.name) && !isBroadIdentity(subject) && !isLocalAccount(subject))
      .map((subject) => ({
        subject,
        message:
          `${describeBinding(binding)} binds User "${subject.name}" directly [user-subject]: ` +
          'bind a Microsoft Entra group by object ID instead (workloads: a ServiceAccount)',
      })),
};
