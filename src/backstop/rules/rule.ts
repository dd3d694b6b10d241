import type { RuleId } from '../../policy/model.ts';
import { ISSUED_SYSTEM_GROUP_PREFIXES } from '../../policy/identities.ts';
import { CANONICAL_GUID } from '../../policy/subjects.ts';
import { celString } from '../cel.ts';

/**
 * A rule of the engine as CEL. Over `variables.judged` (the binding's subjects less Kubernetes' bootstrap grants, each
 * a map of kind, name, namespace and key), `violators` lists the subjects the rule flags that the old object did not
 * already have, and `message` words one of them (`s`) as the webhook does.
 */
export interface BackstopRule {
  readonly id: RuleId;
  /** The name of the policy variable that holds the violators. */
  readonly variable: string;
  readonly violators: string;
  readonly message: string;
}

/** Predicates on one judged subject `s`, as the engine's subject traits (src/policy/subject-traits.ts). */
export const IS_ENTRA_OBJECT_ID = `(s.kind == "Group" && s.name.matches(${celString(CANONICAL_GUID.source)}))`;
export const IS_SYSTEM_NAME = `(!${IS_ENTRA_OBJECT_ID} && s.name.startsWith("system:"))`;
export const IDENTITY = '(s.kind + "/" + s.name)';
export const IS_BROAD = `${IDENTITY} in variables.broadIdentities`;
export const IS_LOCAL_ACCOUNT = `${IDENTITY} in variables.localAccounts`;
export const IS_ALLOW_LISTED = '((s.kind == "User" && s.name in variables.allowUsers) || (s.kind == "Group" && s.name in variables.allowGroups))';
export const IS_ISSUED_SYSTEM_GROUP =
  '(s.name in variables.issuedSystemGroups || ' +
  ISSUED_SYSTEM_GROUP_PREFIXES.map((prefix) => `(s.name.startsWith(${celString(prefix)}) && size(s.name) > ${prefix.length})`).join(' || ') +
  ')';
/** On UPDATE, a subject the old object already had (with the same kind, namespace and name) is not this change's doing. */
export const IS_NEW = '!(s.key in variables.oldKeys)';

/** `Kind "name"`, or `ServiceAccount "namespace/name"`: describeSubject() of the engine. */
export const DESCRIBED_SUBJECT = '(s.kind == "ServiceAccount" ? "ServiceAccount \\"" + s.namespace + "/" + s.name + "\\"" : s.kind + " \\"" + s.name + "\\"")';

/** The subjects `predicate` (CEL over `s`) holds for, among those the rules judge. */
export function judgedWhere(predicate: string): string {
  return `variables.judged.filter(s, ${predicate})`;
}

/** CEL string concatenation of the parts: CEL expressions, and plain text (given as `{text}`). */
export function concat(...parts: ReadonlyArray<string | { readonly text: string }>): string {
  return parts.map((part) => (typeof part === 'string' ? part : celString(part.text))).join(' + ');
}

/**
 * A rule about the identities one of Kubernetes' tables holds (`broadIdentities`, `localAccounts`: identity → what it
 * means), flagged unless allow-listed; the message gives the table's text between `lead` and `advice`.
 */
export function identityTableRule(id: RuleId, variable: string, table: 'broadIdentities' | 'localAccounts', lead: string, advice: string): BackstopRule {
  // The engine's message: `<binding> binds <subject> [<rule>]: <lead><what the table says>; <advice>`.
  return {
    id,
    variable,
    violators: judgedWhere(`${IDENTITY} in variables.${table} && !${IS_ALLOW_LISTED} && ${IS_NEW}`),
    message: concat('variables.described', { text: ' binds ' }, DESCRIBED_SUBJECT, { text: ` [${id}]: ${lead}` }, `variables.${table}[${IDENTITY}]`, { text: `; ${advice}` }),
  };
}
