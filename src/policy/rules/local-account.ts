import { localAccountReason } from '../identities.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** What to do instead; the backstop says it too. */
export const LOCAL_ACCOUNT_ADVICE = 'bind a Microsoft Entra group and disable local accounts (az aks update --disable-local-accounts)';

export const localAccount: Rule = {
  id: 'local-account',
  defaultAction: 'deny',
  check: ({ binding, subjects }) =>
    subjects.traits
      .filter((trait) => trait.localAccount && !trait.allowListed)
      .map(({ subject }) => ({
        subject,
        message:
          `${describeBinding(binding)} binds ${describeSubject(subject)} [local-account]: ` +
          `${localAccountReason(subject)}; ${LOCAL_ACCOUNT_ADVICE}`,
      })),
};
