import { identityTableRule, type BackstopRule } from './rule.ts';

/** src/policy/rules/local-account.ts: an identity that authenticates without Entra ID. */
export const localAccount: BackstopRule = identityTableRule(
  'local-account',
  'localAccount',
  'localAccounts',
  ' [local-account]: ',
  '; bind a Microsoft Entra group and disable local accounts (az aks update --disable-local-accounts)',
);
