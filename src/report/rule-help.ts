/** What each rule protects against and what to do, for reports that describe rules apart from their findings. */
export const RULE_HELP: Readonly<Record<string, { readonly summary: string; readonly fix: string }>> = {
  'user-subject': { summary: 'A User subject is bound directly.', fix: 'Bind a Microsoft Entra group by object ID; workloads use a ServiceAccount.' },
  'group-format': { summary: 'A Group subject can never match the groups claim of an Entra token.', fix: "Use the group's object ID as a lower-case GUID." },
  'group-unknown': { summary: 'The Entra group does not exist.', fix: 'Check the object ID (az ad group show --group ID).' },
  'group-not-security-enabled': { summary: 'The Entra group is not security-enabled, so it never appears in the groups claim.', fix: 'Bind a security group.' },
  'directory-unavailable': { summary: 'Microsoft Entra ID could not be asked whether the group exists.', fix: "Retry; check the webhook's directory access." },
  'cluster-admin': { summary: 'cluster-admin (or an equivalent role) is granted outside the admin groups.', fix: 'Bind a narrower role, or add the group to adminGroups.' },
  'broad-group': { summary: 'A built-in identity that stands for everyone is bound.', fix: 'Bind a specific Microsoft Entra group.' },
  'local-account': { summary: 'An identity that bypasses Microsoft Entra ID is bound.', fix: 'Bind an Entra group and disable local accounts.' },
  escalation: { summary: 'The role lets its holders escalate privileges (bind, escalate, impersonate, nodes/proxy, webhooks).', fix: 'Grant it to the admin groups only.' },
};

export function ruleHelp(rule: string): { readonly summary: string; readonly fix: string } {
  return RULE_HELP[rule] ?? { summary: `Rule ${rule}.`, fix: 'See the message.' };
}
