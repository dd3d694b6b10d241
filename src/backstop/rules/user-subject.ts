import { USER_SUBJECT_ADVICE } from '../../policy/rules/user-subject.ts';
import { DESCRIBED_SUBJECT, IS_ALLOW_LISTED, IS_BROAD, IS_LOCAL_ACCOUNT, IS_NEW, IS_SYSTEM_NAME, concat, judgedWhere, type BackstopRule } from './rule.ts';

/** src/policy/rules/user-subject.ts: a User not allow-listed, not a Kubernetes component, broad identity or local account. */
export const userSubject: BackstopRule = {
  id: 'user-subject',
  variable: 'userSubject',
  violators: judgedWhere(`s.kind == "User" && !${IS_ALLOW_LISTED} && !${IS_SYSTEM_NAME} && !(${IS_BROAD}) && !(${IS_LOCAL_ACCOUNT}) && ${IS_NEW}`),
  message: concat(
    'variables.described',
    { text: ' binds ' },
    DESCRIBED_SUBJECT,
    { text: ` directly [user-subject]: ${USER_SUBJECT_ADVICE}` },
  ),
};
