import { identityTableRule, type BackstopRule } from './rule.ts';

/** src/policy/rules/broad-group.ts: an identity that stands for everyone. */
export const broadGroup: BackstopRule = identityTableRule(
  'broad-group',
  'broadGroup',
  'broadIdentities',
  ' [broad-group]: it means ',
  '; bind a specific Microsoft Entra group instead',
);
