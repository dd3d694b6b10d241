import type { Subject } from '../../admission/types.ts';
import { nearestIssuedSystemGroup } from '../identities.ts';
import { canonicalGuidOf, describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/**
 * A Group subject that can never be in a token, so the binding silently grants nothing: a name that is not an Entra
 * object ID (a display name, a GUID spelt otherwise), or a `system:` group Kubernetes never issues.
 */
export const groupFormat: Rule = {
  id: 'group-format',
  defaultAction: 'deny',
  check: ({ binding, subjects }) =>
    subjects.traits
      .filter((trait) => trait.subject.kind === 'Group' && !trait.entraObjectId && (!trait.systemName || trait.unissuedSystemGroup) && !trait.allowListed)
      .map(({ subject }) => ({
        subject,
        message: `${describeBinding(binding)} binds Group "${subject.name}" [group-format]: ${whyItNeverMatches(subject)}`,
      })),
};

/** Why each kind of misspelt group never matches, and what to do instead; the backstop says them too. */
export const GROUP_FORMAT_ADVICE = {
  unissuedSystemGroup: 'Kubernetes never puts this group in a token, so the binding grants nothing; ',
  unissuedSystemGroupInstead: 'bind a Microsoft Entra group by object ID, or a group Kubernetes issues (e.g. system:serviceaccounts:<namespace>)',
  /** Followed by the ID as Entra spells it, in quotes. */
  guidSpelling: 'Entra tokens carry group object IDs in lower case without braces, so this spelling never matches; use ',
  displayName:
    'a display name never matches the groups claim of an Entra token, which carries object IDs; ' +
    "use the group's object ID (az ad group show --group NAME --query id)",
} as const;

function whyItNeverMatches(subject: Subject): string {
  if (subject.name.startsWith('system:')) {
    const nearest = nearestIssuedSystemGroup(subject.name);
    return GROUP_FORMAT_ADVICE.unissuedSystemGroup + (nearest ? `did you mean "${nearest}"?` : GROUP_FORMAT_ADVICE.unissuedSystemGroupInstead);
  }
  const canonical = canonicalGuidOf(subject.name);
  return canonical ? `${GROUP_FORMAT_ADVICE.guidSpelling}"${canonical}"` : GROUP_FORMAT_ADVICE.displayName;
}
