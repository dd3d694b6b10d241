import { broadGroup } from './broad-group.ts';
import { clusterAdmin } from './cluster-admin.ts';
import { directoryUnavailable } from './directory-unavailable.ts';
import { escalation } from './escalation.ts';
import { groupFormat } from './group-format.ts';
import { groupNotSecurityEnabled } from './group-not-security-enabled.ts';
import { groupUnknown } from './group-unknown.ts';
import { localAccount } from './local-account.ts';
import type { Policy } from '../model.ts';
import type { Rule } from './rule.ts';
import { userSubject } from './user-subject.ts';

/** Every rule, in the order their violations are reported. Adding a rule is adding a file and a line here. */
export const RULES: readonly Rule[] = [
  userSubject,
  groupFormat,
  groupUnknown,
  groupNotSecurityEnabled,
  directoryUnavailable,
  clusterAdmin,
  escalation,
  broadGroup,
  localAccount,
];

/** Whether a rule that reads what roles grant is switched on: otherwise no role fact can change a decision. */
export function readsRoles(policy: Policy): boolean {
  return RULES.some((rule) => rule.readsRole && policy.rules[rule.id] !== 'off');
}
