import { BROAD_GROUP_ADVICE } from '../../policy/rules/broad-group.ts';
import { identityTableRule, type BackstopRule } from './rule.ts';

/** src/policy/rules/broad-group.ts: an identity that stands for everyone. */
export const broadGroup: BackstopRule = identityTableRule(
  'broad-group',
  'broadGroup',
  'broadIdentities',
  'it means ',
  BROAD_GROUP_ADVICE,
);
