import type { Subject } from '../../admission/types.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** Built-in identities that stand for everyone (or every workload): binding them grants the role to all. */
const BROAD_IDENTITIES: Readonly<Record<string, string>> = {
  'Group/system:authenticated': 'every signed-in account (on AKS: every account in the Entra tenant)',
  'Group/system:unauthenticated': 'every anonymous request',
  'Group/system:serviceaccounts': 'every service account in every namespace',
  'User/system:anonymous': 'every anonymous request',
};

export function isBroadIdentity(subject: Subject): boolean {
  return `${subject.kind}/${subject.name}` in BROAD_IDENTITIES;
}

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
          `${BROAD_IDENTITIES[`${subject.kind}/${subject.name}`]}; bind a specific Microsoft Entra group instead`,
      })),
};
