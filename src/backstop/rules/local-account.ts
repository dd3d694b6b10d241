import { LOCAL_ACCOUNT_ADVICE } from '../../policy/rules/local-account.ts';
import { identityTableRule, type BackstopRule } from './rule.ts';

/** src/policy/rules/local-account.ts: an identity that authenticates without Entra ID. */
export const localAccount: BackstopRule = identityTableRule(
  'local-account',
  'localAccount',
  'localAccounts',
  '',
  LOCAL_ACCOUNT_ADVICE,
);
