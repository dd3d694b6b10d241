import { groupFact } from '../facts.ts';
import { describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** An Entra object ID that the directory says does not exist: a typo, or a group deleted since. */
export const groupUnknown: Rule = {
  id: 'group-unknown',
  defaultAction: 'deny',
  check: ({ binding, subjects, policy, facts }) =>
    !policy.directory.verify || facts.source === undefined
      ? []
      : subjects.entraGroups
          .filter((subject) => groupFact(facts, subject.name).state === 'not-found')
          .map((subject) => ({
            subject,
            message:
              `${describeBinding(binding)} binds Group "${subject.name}" [group-unknown]: ` +
              `no group with this object ID exists in Microsoft Entra ID (${facts.source}); check the ID with az ad group show --group ${subject.name}`,
          })),
};
