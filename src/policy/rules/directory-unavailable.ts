import { groupFact } from '../facts.ts';
import { describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** The directory could not say whether a group exists. Its action is directory.onError: deny, or allow with a warning. */
export const directoryUnavailable: Rule = {
  id: 'directory-unavailable',
  defaultAction: 'deny',
  check: ({ binding, subjects, policy, facts }) =>
    !policy.directory.verify || facts.source === undefined
      ? []
      : subjects.entraGroups.flatMap((subject) => {
          const fact = groupFact(facts, subject.name);
          if (fact.state !== 'unavailable') return [];
          return [
            {
              subject,
              message:
                `${describeBinding(binding)} binds Group "${subject.name}" [directory-unavailable]: ` +
                `could not check the group in Microsoft Entra ID (${fact.reason}); ` +
                (fact.remedy ?? "retry shortly, or ask the platform team to check the webhook's directory access"),
            },
          ];
        }),
};
