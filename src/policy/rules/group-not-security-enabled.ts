import { groupFact } from '../facts.ts';
import { describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** A group that exists but is not security-enabled (Microsoft 365, distribution): not in the groups claim. */
export const groupNotSecurityEnabled: Rule = {
  id: 'group-not-security-enabled',
  defaultAction: 'deny',
  check: ({ binding, subjects, policy, facts }) =>
    !policy.directory.verify || !policy.directory.requireSecurityEnabled || facts.source === undefined
      ? []
      : subjects.entraGroups.flatMap((subject) => {
          const fact = groupFact(facts, subject.name);
          if (fact.state !== 'found' || fact.securityEnabled) return [];
          return [
            {
              subject,
              message:
                `${describeBinding(binding)} binds Group "${subject.name}" ("${fact.displayName}") [group-not-security-enabled]: ` +
                'the group is not security-enabled, so it never appears in a token\'s groups claim; bind a security group',
            },
          ];
        }),
};
