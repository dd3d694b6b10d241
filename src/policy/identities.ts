import type { Subject } from '../admission/types.ts';
import { closest } from './closest.ts';

/**
 * Facts about the identities Kubernetes and AKS issue, which the rules and the subject traits both read: which stand
 * for everyone, which bypass Microsoft Entra ID, and which `system:` groups exist at all.
 */

/** Built-in identities that stand for everyone (or every workload), and what binding each means. */
export const BROAD_IDENTITIES: Readonly<Record<string, string>> = {
  'Group/system:authenticated': 'every signed-in account (on AKS: every account in the Entra tenant)',
  'Group/system:unauthenticated': 'every anonymous request',
  'Group/system:serviceaccounts': 'every service account in every namespace',
  'User/system:anonymous': 'every anonymous request',
  'Group/system:anonymous':
    'nobody: system:anonymous is a user, not a group, so this binding grants nothing; if anonymous access was meant, ' +
    'that is User system:anonymous, every anonymous request',
};

/** Identities that authenticate without Microsoft Entra ID: certificates in system:masters, AKS local accounts. */
export const LOCAL_ACCOUNTS: Readonly<Record<string, string>> = {
  'Group/system:masters': 'its members bypass RBAC and authenticate with client certificates, not Microsoft Entra ID',
  'User/clusterAdmin': 'it is the AKS local admin account, which bypasses Microsoft Entra ID',
  'User/clusterUser': 'it is the AKS local user account, which bypasses Microsoft Entra ID',
};

/**
 * The `system:` groups Kubernetes puts in a token (authenticators, service accounts, bootstrap tokens, node
 * certificates) or names in the API server's own bootstrap bindings. Any other `system:` group names nobody.
 */
export const ISSUED_SYSTEM_GROUPS: readonly string[] = [
  'system:authenticated',
  'system:unauthenticated',
  'system:masters',
  'system:nodes',
  'system:serviceaccounts',
  'system:bootstrappers',
  'system:monitoring',
];
export const ISSUED_SYSTEM_GROUP_PREFIXES: readonly string[] = ['system:serviceaccounts:', 'system:bootstrappers:'];

const key = (subject: Subject) => `${subject.kind}/${subject.name}`;

/** What binding `subject` means when it is a built-in identity standing for everyone; undefined otherwise. */
export function broadIdentityMeaning(subject: Subject): string | undefined {
  return BROAD_IDENTITIES[key(subject)];
}

/** Why `subject` bypasses Microsoft Entra ID when it is a local account; undefined otherwise. */
export function localAccountReason(subject: Subject): string | undefined {
  return LOCAL_ACCOUNTS[key(subject)];
}

/** A `system:` group name that Kubernetes issues (or its bootstrap bindings name). */
export function isIssuedSystemGroup(name: string): boolean {
  return ISSUED_SYSTEM_GROUPS.includes(name) || ISSUED_SYSTEM_GROUP_PREFIXES.some((prefix) => name.startsWith(prefix) && name.length > prefix.length);
}

/** The issued `system:` group that `name` most likely misspells (two edits at most), if any. */
export function nearestIssuedSystemGroup(name: string): string | undefined {
  return closest(name, ISSUED_SYSTEM_GROUPS);
}
