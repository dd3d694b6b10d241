import { broadIdentityMeaning } from '../identities.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** What to do instead; the backstop says it too. */
export const BROAD_GROUP_ADVICE = 'bind a specific Microsoft Entra group instead';

export const broadGroup: Rule = {
  id: 'broad-group',
  defaultAction: 'deny',
  check: ({ binding, subjects }) =>
    subjects.traits
      .filter((trait) => trait.broad && !trait.allowListed)
      .map(({ subject }) => ({
        subject,
        message:
          `${describeBinding(binding)} binds ${describeSubject(subject)} [broad-group]: it means ` +
          `${broadIdentityMeaning(subject)}; ${BROAD_GROUP_ADVICE}`,
      })),
};
