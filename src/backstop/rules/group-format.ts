import { GROUP_FORMAT_ADVICE } from '../../policy/rules/group-format.ts';
import { ANY_GUID } from '../../policy/subjects.ts';
import { celString } from '../cel.ts';
import { IS_ALLOW_LISTED, IS_BROAD, IS_ENTRA_OBJECT_ID, IS_ISSUED_SYSTEM_GROUP, IS_NEW, concat, judgedWhere, type BackstopRule } from './rule.ts';

/**
 * src/policy/rules/group-format.ts: a Group that no token carries. The webhook's "did you mean" for a misspelt system:
 * group needs an edit distance, which CEL has not: the backstop gives the general advice instead.
 */
export const groupFormat: BackstopRule = {
  id: 'group-format',
  variable: 'groupFormat',
  violators: judgedWhere(
    `s.kind == "Group" && !${IS_ENTRA_OBJECT_ID} && (!s.name.startsWith("system:") || (!(${IS_BROAD}) && !${IS_ISSUED_SYSTEM_GROUP})) && !${IS_ALLOW_LISTED} && ${IS_NEW}`,
  ),
  message: concat(
    'variables.described',
    { text: ' binds Group "' },
    's.name',
    { text: '" [group-format]: ' },
    `(s.name.startsWith("system:") ? ${celString(GROUP_FORMAT_ADVICE.unissuedSystemGroup + GROUP_FORMAT_ADVICE.unissuedSystemGroupInstead)} : ` +
      `s.name.matches(${celString(ANY_GUID.source)}) ? ${concat(
        { text: `${GROUP_FORMAT_ADVICE.guidSpelling}"` },
        's.name.replace("{", "").replace("}", "").lowerAscii()',
        { text: '"' },
      )} : ${celString(GROUP_FORMAT_ADVICE.displayName)})`,
  ),
};
