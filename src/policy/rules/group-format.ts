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

function whyItNeverMatches(subject: Subject): string {
  if (subject.name.startsWith('system:')) {
    const nearest = nearestIssuedSystemGroup(subject.name);
    return (
      'Kubernetes never puts this group in a token, so the binding grants nothing; ' +
      (nearest ? `did you mean "${nearest}"?` : 'bind a Microsoft Entra group by object ID, or a group Kubernetes issues (e.g. system:serviceaccounts:<namespace>)')
    );
  }
  const canonical = canonicalGuidOf(subject.name);
  if (canonical) {
    return `Entra tokens carry group object IDs in lower case without braces, so this spelling never matches; use "${canonical}"`;
  }
  return (
    'a display name never matches the groups claim of an Entra token, which carries object IDs; ' +
    "use the group's object ID (az ad group show --group NAME --query id)"
  );
}
