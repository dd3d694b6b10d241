import { localAccountReason } from '../identities.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import type { Rule } from './rule.ts';

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
          `${localAccountReason(subject)}; bind a Microsoft Entra group and disable local accounts (az aks update --disable-local-accounts)`,
      })),
};
