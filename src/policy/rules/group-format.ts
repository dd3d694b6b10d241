import type { Subject } from '../../admission/types.ts';
import { canonicalGuidOf, describeBinding } from '../subjects.ts';
import type { Rule } from './rule.ts';

/** A Group subject that can never match the groups claim of an Entra token, so the binding silently grants nothing. */
export const groupFormat: Rule = {
  id: 'group-format',
  defaultAction: 'deny',
  check: ({ binding, subjects }) =>
    subjects.traits
      .filter((trait) => trait.subject.kind === 'Group' && !trait.entraObjectId && !trait.systemName && !trait.allowListed)
      .map(({ subject }) => ({
        subject,
        message: `${describeBinding(binding)} binds Group "${subject.name}" [group-format]: ${whyItNeverMatches(subject)}`,
      })),
};

function whyItNeverMatches(subject: Subject): string {
  const canonical = canonicalGuidOf(subject.name);
  if (canonical) {
    return `Entra tokens carry group object IDs in lower case without braces, so this spelling never matches; use "${canonical}"`;
  }
  return (
    'a display name never matches the groups claim of an Entra token, which carries object IDs; ' +
    "use the group's object ID (az ad group show --group NAME --query id)"
  );
}
