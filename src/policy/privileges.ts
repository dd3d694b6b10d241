import type { LabelSelector, PolicyRule, RbacRole } from '../admission/types.ts';

/**
 * What a role's rules grant, read the way the API server's RBAC authorizer reads them (rbac/v1 `VerbMatches`,
 * `APIGroupMatches`, `ResourceMatches`): `*` matches every verb, group or resource (subresources included) and
 * `*\/sub` every resource's subresource `sub`. Matching is exact and case-sensitive, as in the API server.
 *
 * Conservative on purpose, in both directions:
 * - a role is cluster-admin-equivalent only when that is certain from its rules (all API groups and all resources by
 *   `*`, all verbs by `*` or by every standard verb), so no role is ever called cluster-admin that is not;
 * - a permission counts as escalating even when the rule limits it to some `resourceNames` (bind on one role, if that
 *   role is cluster-admin, is all it takes), so no escalation hides behind a name list.
 * `nonResourceURLs` grant nothing on resources and are not read.
 */

/** The verbs every resource of the API server supports. A rule that grants all of them on everything is cluster-admin. */
export const STANDARD_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;

/** Verbs that change an object: what matters on webhook configurations. */
export const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;

const RBAC = 'rbac.authorization.k8s.io';
const CORE = '';
const ADMISSION_REGISTRATION = 'admissionregistration.k8s.io';
const AUTHENTICATION = 'authentication.k8s.io';

export type EscalationKind = 'escalate' | 'bind' | 'impersonate' | 'nodes/proxy' | 'webhook-configurations';

/** One escalating permission a role grants, as messages name it. */
export interface EscalatingPermission {
  readonly kind: EscalationKind;
  /** What the rules grant, e.g. `escalate on clusterroles`, `impersonate on users, groups`, `* on nodes/proxy`. */
  readonly permission: string;
  /** What that lets its holder do. */
  readonly consequence: string;
}

const CONSEQUENCES: Readonly<Record<EscalationKind, string>> = {
  escalate: 'its holders can write roles with permissions they do not hold',
  bind: 'its holders can bind any role, cluster-admin included, without holding its permissions',
  impersonate: 'its holders can act as other identities and get their permissions',
  'nodes/proxy': 'its holders reach the kubelet API: exec into every pod on the nodes, past admission and audit',
  'webhook-configurations': 'its holders can switch admission webhooks (this one included) off or redirect them',
};

/**
 * What a role's rules grant is read for every review of a binding of it: kept per rules list (a role from the role
 * cache keeps its list until it changes, and a changed role comes with a new one).
 */
const everythingOf = new WeakMap<readonly PolicyRule[], boolean>();
const escalatingOf = new WeakMap<readonly PolicyRule[], readonly EscalatingPermission[]>();

/** True when the rules grant every verb on every resource in every API group: cluster-admin under another name. */
export function grantsEverything(rules: readonly PolicyRule[]): boolean {
  let everything = everythingOf.get(rules);
  if (everything === undefined) {
    everything = computeGrantsEverything(rules);
    everythingOf.set(rules, everything);
  }
  return everything;
}

function computeGrantsEverything(rules: readonly PolicyRule[]): boolean {
  const verbs = new Set(
    rules
      .filter((rule) => rule.apiGroups.includes('*') && rule.resources.includes('*') && rule.resourceNames.length === 0)
      .flatMap((rule) => rule.verbs),
  );
  return verbs.has('*') || STANDARD_VERBS.every((verb) => verbs.has(verb));
}

/** The escalating permissions the rules grant, in a fixed order; empty when there are none. */
export function escalatingPermissions(rules: readonly PolicyRule[]): readonly EscalatingPermission[] {
  let permissions = escalatingOf.get(rules);
  if (permissions === undefined) {
    permissions = Object.freeze(computeEscalatingPermissions(rules));
    escalatingOf.set(rules, permissions);
  }
  return permissions;
}

function computeEscalatingPermissions(rules: readonly PolicyRule[]): EscalatingPermission[] {
  const found: EscalatingPermission[] = [];
  const add = (kind: EscalationKind, permission: string | undefined) => {
    if (permission) found.push({ kind, permission, consequence: CONSEQUENCES[kind] });
  };
  for (const verb of ['escalate', 'bind'] as const) {
    add(verb, describe([verb], granted(rules, [verb], RBAC, ['roles', 'clusterroles'])));
  }
  add('impersonate', describe(['impersonate'], impersonated(rules)));
  add('nodes/proxy', describe(nodesProxyVerbs(rules), ['nodes/proxy']));
  add(
    'webhook-configurations',
    describeVerbs(
      rules,
      WRITE_VERBS,
      ADMISSION_REGISTRATION,
      ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
    ),
  );
  return found;
}

/** Whether some rule grants `verb` on `group`/`resource` (with `subresource`). */
export function allows(rules: readonly PolicyRule[], verb: string, group: string, resource: string, subresource?: string): boolean {
  return rules.some((rule) => ruleAllows(rule, verb, group, resource, subresource));
}

function ruleAllows(rule: PolicyRule, verb: string | undefined, group: string, resource: string, subresource?: string): boolean {
  if (verb !== undefined && !rule.verbs.includes('*') && !rule.verbs.includes(verb)) return false;
  if (!rule.apiGroups.includes('*') && !rule.apiGroups.includes(group)) return false;
  const combined = subresource === undefined ? resource : `${resource}/${subresource}`;
  return rule.resources.some(
    (entry) => entry === '*' || entry === combined || (subresource !== undefined && entry === `*/${subresource}`),
  );
}

/** The resources among `resources` on which the rules grant `verbs` (any of them). */
function granted(rules: readonly PolicyRule[], verbs: readonly string[], group: string, resources: readonly string[]): string[] {
  return resources.filter((resource) => verbs.some((verb) => allows(rules, verb, group, resource)));
}

/**
 * Impersonation (`impersonate` on users, groups, serviceaccounts in the core group; userextras/<key> and uids in
 * authentication.k8s.io). Impersonating service accounts is not reported when the same rules let their holder create
 * pods: a pod can run as any service account of its namespace, so impersonating one adds nothing (the built-in
 * admin and edit roles grant both).
 */
function impersonated(rules: readonly PolicyRule[]): string[] {
  const targets = granted(rules, ['impersonate'], CORE, ['users', 'groups']);
  if (allows(rules, 'impersonate', CORE, 'serviceaccounts') && !allows(rules, 'create', CORE, 'pods')) targets.push('serviceaccounts');
  const extras = rules.some(
    (rule) =>
      (rule.verbs.includes('*') || rule.verbs.includes('impersonate')) &&
      (rule.apiGroups.includes('*') || rule.apiGroups.includes(AUTHENTICATION)) &&
      rule.resources.some((entry) => entry === '*' || entry === 'userextras' || entry.startsWith('userextras/') || entry.startsWith('*/')),
  );
  if (extras) targets.push('userextras');
  if (allows(rules, 'impersonate', AUTHENTICATION, 'uids')) targets.push('uids');
  return targets;
}

/** Any verb on nodes/proxy reaches the kubelet (get alone opens exec through its websocket endpoints). */
function nodesProxyVerbs(rules: readonly PolicyRule[]): string[] {
  const verbs = new Set(rules.filter((rule) => ruleAllows(rule, undefined, CORE, 'nodes', 'proxy')).flatMap((rule) => rule.verbs));
  return verbs.has('*') ? ['*'] : [...verbs];
}

/** `create, patch on validatingwebhookconfigurations`, or `* on …` when a rule grants every verb. */
function describeVerbs(
  rules: readonly PolicyRule[],
  verbs: readonly string[],
  group: string,
  resources: readonly string[],
): string | undefined {
  const hit = resources.filter((resource) => verbs.some((verb) => allows(rules, verb, group, resource)));
  if (hit.length === 0) return undefined;
  const all = hit.every((resource) => rules.some((rule) => rule.verbs.includes('*') && ruleAllows(rule, undefined, group, resource)));
  const named = all ? ['*'] : verbs.filter((verb) => hit.some((resource) => allows(rules, verb, group, resource)));
  return describe(named, hit);
}

function describe(verbs: readonly string[], resources: readonly string[]): string | undefined {
  return resources.length === 0 || verbs.length === 0 ? undefined : `${verbs.join(', ')} on ${resources.join(', ')}`;
}

// ---------------------------------------------------------------- aggregated ClusterRoles

/** Whether `labels` satisfy a Kubernetes label selector (matchLabels and matchExpressions ANDed; empty selects all). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const labelsMatch = Object.entries(selector.matchLabels).every(([key, value]) => labels[key] === value);
  return (
    labelsMatch &&
    selector.matchExpressions.every(({ key, operator, values }) => {
      const has = Object.hasOwn(labels, key);
      switch (operator) {
        case 'In':
          return has && values.includes(labels[key]!);
        case 'NotIn':
          return !has || !values.includes(labels[key]!);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
        default:
          // The API server rejects any other operator; a selector it would reject selects nothing.
          return false;
      }
    })
  );
}

/**
 * The roles with every aggregated ClusterRole's rules filled in, as the controller manager's aggregation controller
 * would fill them from the other ClusterRoles given (transitively: `admin` aggregates `edit`, which aggregates its own).
 * The rules a manifest already holds are kept too: until the controller replaces them, the authorizer uses them.
 */
export function withAggregatedRules(roles: readonly RbacRole[]): RbacRole[] {
  const clusterRoles = roles.filter((role) => role.kind === 'ClusterRole');
  const resolved = new Map<string, readonly PolicyRule[]>();
  const rulesOf = (role: RbacRole, visiting: ReadonlySet<string>): readonly PolicyRule[] => {
    const done = resolved.get(role.name);
    if (done) return done;
    if (!role.aggregationRule || visiting.has(role.name)) return role.rules;
    const next = new Set([...visiting, role.name]);
    const selected = clusterRoles.filter(
      (other) => other.name !== role.name && role.aggregationRule!.clusterRoleSelectors.some((selector) => selectorMatches(selector, other.labels)),
    );
    const rules = dedupe([...role.rules, ...selected.flatMap((other) => rulesOf(other, next))]);
    if (visiting.size === 0) resolved.set(role.name, rules);
    return rules;
  };
  return roles.map((role) => (role.kind === 'ClusterRole' && role.aggregationRule ? { ...role, rules: rulesOf(role, new Set()) } : role));
}

/** `aggregator` as the controller manager makes it once `role`'s rules are copied in. */
export function withRulesOf(aggregator: RbacRole, role: RbacRole): RbacRole {
  return { ...aggregator, rules: dedupe([...aggregator.rules, ...role.rules]) };
}

function dedupe(rules: readonly PolicyRule[]): PolicyRule[] {
  const seen = new Set<string>();
  return rules.filter((rule) => {
    const key = JSON.stringify([rule.verbs, rule.apiGroups, rule.resources, rule.resourceNames, rule.nonResourceURLs]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
