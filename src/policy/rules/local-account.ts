import type { Subject } from '../../admission/types.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** Identities that authenticate without Microsoft Entra ID: certificates in system:masters, AKS local accounts. */
const LOCAL_ACCOUNTS: Readonly<Record<string, string>> = {
  'Group/system:masters': 'its members bypass RBAC and authenticate with client certificates, not Microsoft Entra ID',
  'User/clusterAdmin': 'it is the AKS local admin account, which bypasses Microsoft Entra ID',
  'User/clusterUser': 'it is the AKS local user account, which bypasses Microsoft Entra ID',
};

export function isLocalAccount(subject: Subject): boolean {
  return `${subject.kind}/${subject.name}` in LOCAL_ACCOUNTS;
}

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
          `${LOCAL_ACCOUNTS[`${subject.kind}/${subject.name}`]}; bind a Microsoft Entra group and disable local accounts (az aks update --disable-local-accounts)`,
      })),
};
