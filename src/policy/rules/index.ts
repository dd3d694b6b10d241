import { broadGroup } from './broad-group.ts';
import { clusterAdmin } from './cluster-admin.ts';
import { directoryUnavailable } from './directory-unavailable.ts';
import { groupFormat } from './group-format.ts';
import { groupNotSecurityEnabled } from './group-not-security-enabled.ts';
import { groupUnknown } from './group-unknown.ts';
import { localAccount } from './local-account.ts';
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
  broadGroup,
  localAccount,
];
