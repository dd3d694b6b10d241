import type { AllowList, Policy, SubjectRef } from '../policy/model.ts';
import { bootstrapGrantsByBinding } from '../policy/bootstrap.ts';
import { BROAD_IDENTITIES, ISSUED_SYSTEM_GROUPS, LOCAL_ACCOUNTS } from '../policy/identities.ts';
import { subjectKey } from '../policy/subjects.ts';
import { CLOCK, allowListExpression, celList, celString, type TimeBoxedValue } from './cel.ts';

/** One of a ValidatingAdmissionPolicy's spec.variables: later ones may read earlier ones as `variables.<name>`. */
export interface Variable {
  readonly name: string;
  readonly expression: string;
}

/**
 * Bindings with more subjects than this are left to the webhook: the backstop's comparison of old and new subjects
 * on UPDATE grows with both lists, and the API server's runtime cost limit (1,000,000 per expression) must never be
 * what decides. Kubernetes' own bindings have a handful of subjects.
 */
export const MAX_SUBJECTS = 256;

/** The CEL key of a subject `s` (a map with kind, name and maybe namespace): subjectKey() of the engine. */
const SUBJECT_KEY = 's.kind + "/" + (has(s.namespace) ? s.namespace : "") + "/" + s.name';

/** `BindingKind/namespace/name/RoleKind/role` of `object` or `oldObject`, as bootstrapGrantsByBinding() keys it. */
function bindingKey(object: string): string {
  return (
    `${object}.kind + "/" + (${object}.kind == "RoleBinding" && has(${object}.metadata.namespace) ? ${object}.metadata.namespace : "") + "/" + ` +
    `(has(${object}.metadata.name) ? ${object}.metadata.name : "") + "/" + ${object}.roleRef.kind + "/" + ${object}.roleRef.name`
  );
}

function celMap(entries: Iterable<readonly [string, string]>): string {
  return `{${[...entries].map(([key, value]) => `${celString(key)}: ${value}`).join(', ')}}`;
}

/** Before the policy's lists, which read it: the time of the request, as far as CEL knows it. */
export const LEADING_VARIABLES: readonly Variable[] = [{ name: 'createdAt', expression: CLOCK }];

/** The policy's lists; a time-boxed entry is in its list while variables.createdAt is before its expiry. */
export function policyVariables(policy: Policy): Variable[] {
  const list = (name: string, allowList: AllowList | undefined, values: readonly string[]) => ({
    name,
    expression: allowListExpression(...splitTimeBoxed(policy, allowList, values), 'variables.createdAt'),
  });
  return [
    list('allowUsers', 'allow.users', policy.allow.users),
    list('allowGroups', 'allow.groups', policy.allow.groups),
    list('adminGroups', undefined, policy.adminGroups),
    list('clusterAdminSubjects', 'allow.clusterAdminSubjects', policy.allow.clusterAdminSubjects.map((subject: SubjectRef) => subjectKey(subject))),
    list('clusterAdminRoles', undefined, policy.clusterAdminRoles),
  ];
}

/** An allow-list's values: the permanent ones, and the time-boxed ones with their expiry, each in document order. */
export function splitTimeBoxed(policy: Policy, list: AllowList | undefined, values: readonly string[]): [string[], TimeBoxedValue[]] {
  const entries = policy.timeBoxed.filter((entry) => entry.list === list);
  const permanent = values.filter((_, index) => !entries.some((entry) => entry.index === index));
  return [permanent, entries.map((entry) => ({ value: values[entry.index]!, expires: entry.expires }))];
}

/** The same for every policy: Kubernetes' identities, its bootstrap grants, and the binding's subjects as judged. */
export const SHARED_VARIABLES: readonly Variable[] = [
  { name: 'broadIdentities', expression: celMap(Object.entries(BROAD_IDENTITIES).map(([key, meaning]) => [key, celString(meaning)])) },
  { name: 'localAccounts', expression: celMap(Object.entries(LOCAL_ACCOUNTS).map(([key, reason]) => [key, celString(reason)])) },
  { name: 'issuedSystemGroups', expression: celList(ISSUED_SYSTEM_GROUPS) },
  { name: 'bootstrapGrants', expression: celMap([...bootstrapGrantsByBinding()].map(([key, subjects]) => [key, celList(subjects)])) },
  // The subject keys of the binding's bootstrap grant (Kubernetes' own), which the rules do not judge; old and new.
  { name: 'bindingKey', expression: bindingKey('object') },
  { name: 'bootstrap', expression: 'variables.bindingKey in variables.bootstrapGrants ? variables.bootstrapGrants[variables.bindingKey] : []' },
  { name: 'oldBindingKey', expression: `request.operation == "UPDATE" && oldObject != null ? ${bindingKey('oldObject')} : ""` },
  { name: 'oldBootstrap', expression: 'variables.oldBindingKey in variables.bootstrapGrants ? variables.bootstrapGrants[variables.oldBindingKey] : []' },
  {
    name: 'withinBounds',
    expression:
      `(!has(object.subjects) || size(object.subjects) <= ${MAX_SUBJECTS}) && ` +
      `(request.operation != "UPDATE" || oldObject == null || !has(oldObject.subjects) || size(oldObject.subjects) <= ${MAX_SUBJECTS})`,
  },
  {
    name: 'judged',
    expression:
      'variables.withinBounds && has(object.subjects) ? object.subjects.map(s, {"kind": s.kind, "name": s.name, ' +
      `"namespace": has(s.namespace) ? s.namespace : "", "key": ${SUBJECT_KEY}}).filter(s, !(s.key in variables.bootstrap)) : []`,
  },
  {
    name: 'oldKeys',
    expression:
      'variables.withinBounds && request.operation == "UPDATE" && oldObject != null && has(oldObject.subjects) ? ' +
      `oldObject.subjects.map(s, ${SUBJECT_KEY}).filter(k, !(k in variables.oldBootstrap)) : []`,
  },
  { name: 'grantsClusterAdmin', expression: 'object.roleRef.kind == "ClusterRole" && object.roleRef.name in variables.clusterAdminRoles' },
  {
    name: 'oldGrantsClusterAdmin',
    expression:
      'request.operation == "UPDATE" && oldObject != null && oldObject.roleRef.kind == "ClusterRole" && oldObject.roleRef.name in variables.clusterAdminRoles',
  },
  {
    name: 'described',
    expression:
      '(object.kind == "RoleBinding" ? "RoleBinding " + (has(object.metadata.namespace) ? object.metadata.namespace : "") + "/" : "ClusterRoleBinding ") + ' +
      '(has(object.metadata.name) && object.metadata.name != "" ? object.metadata.name : "(generated name)")',
  },
];
