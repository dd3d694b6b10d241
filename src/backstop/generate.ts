import { stringify } from 'yaml';
import type { Policy } from '../policy/model.ts';
import { CLOCK, EXPIRY_GRACE, allowListExpression, celList } from './cel.ts';
import { BACKSTOP_RULES, WEBHOOK_ONLY } from './rules/index.ts';
import type { BackstopRule } from './rules/rule.ts';
import { LEADING_VARIABLES, SHARED_VARIABLES, policyVariables, splitTimeBoxed, type Variable } from './variables.ts';

/**
 * The backstop: the rules that need no directory and no role facts, as ValidatingAdmissionPolicies that the API
 * server evaluates itself (Kubernetes 1.30+), so they hold while the webhook is down. validationActions belong to a
 * binding, so there is one policy and one binding per action: `<prefix>-deny` holds the rules set to deny,
 * `<prefix>-warn` those set to warn; a pair with no rule is not printed. In audit mode both bindings warn and audit.
 */

export interface BackstopOptions {
  /** Names are `<prefix>-deny` and `<prefix>-warn`. */
  readonly namePrefix: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Namespaces whose RoleBindings never reach the webhook (its namespaceSelector): the backstop skips them too. */
  readonly excludeNamespaces: readonly string[];
  /** AKS's Admissions Enforcer keeps kube-system (and namespaces labelled control-plane) from the webhook: skip them too. */
  readonly skipAksManagedNamespaces: boolean;
  /** Requesters the webhook's own matchConditions skip: the backstop skips them too. */
  readonly skipUsernames: readonly string[];
  readonly skipGroups: readonly string[];
}

export const DEFAULT_BACKSTOP_OPTIONS: BackstopOptions = {
  namePrefix: 'entra-rbac-guard-backstop',
  labels: { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/component': 'backstop', 'app.kubernetes.io/part-of': 'entra-rbac-guard' },
  excludeNamespaces: [],
  skipAksManagedNamespaces: false,
  skipUsernames: [],
  skipGroups: [],
};

const API_VERSION = 'admissionregistration.k8s.io/v1';

/** What the API server sends the backstop: the writes of bindings the webhook judges. */
export const MATCH_RESOURCE_RULES = [
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    apiVersions: ['v1'],
    operations: ['CREATE', 'UPDATE'],
    resources: ['rolebindings', 'clusterrolebindings'],
    scope: '*',
  },
];

export type KubeObject = Record<string, unknown> & { readonly kind: string; readonly metadata: { readonly name: string } };

/** The policies and their bindings, deny pair first. */
export function backstopObjects(policy: Policy, options: BackstopOptions = DEFAULT_BACKSTOP_OPTIONS): KubeObject[] {
  return (['deny', 'warn'] as const).flatMap((action) => {
    const rules = BACKSTOP_RULES.filter((rule) => policy.rules[rule.id] === action);
    if (rules.length === 0) return [];
    const name = `${options.namePrefix}-${action}`;
    const metadata = { name, labels: { ...options.labels } };
    const validationActions = policy.mode === 'audit' ? ['Warn', 'Audit'] : action === 'deny' ? ['Deny'] : ['Warn'];
    return [
      { apiVersion: API_VERSION, kind: 'ValidatingAdmissionPolicy', metadata, spec: policySpec(policy, rules, options) },
      { apiVersion: API_VERSION, kind: 'ValidatingAdmissionPolicyBinding', metadata, spec: { policyName: name, validationActions } },
    ];
  });
}

function policySpec(policy: Policy, rules: readonly BackstopRule[], options: BackstopOptions) {
  const namespaceSelector = namespaceSelectorOf(options);
  return {
    // An expression that errs or runs out of cost budget must not deny what the webhook would allow.
    failurePolicy: 'Ignore',
    matchConstraints: { matchPolicy: 'Equivalent', ...(namespaceSelector ? { namespaceSelector } : {}), resourceRules: MATCH_RESOURCE_RULES },
    matchConditions: matchConditions(policy, options),
    variables: [...LEADING_VARIABLES, ...policyVariables(policy), ...SHARED_VARIABLES, ...rules.map(ruleVariable)],
    validations: rules.map(ruleValidation),
  };
}

export function ruleVariable(rule: BackstopRule): Variable {
  return { name: rule.variable, expression: rule.violators };
}

export function ruleValidation(rule: BackstopRule) {
  return {
    expression: `size(variables.${rule.variable}) == 0`,
    messageExpression: `variables.${rule.variable}.map(s, ${rule.message}).join("; ")`,
    reason: 'Forbidden',
  };
}

function namespaceSelectorOf(options: BackstopOptions) {
  const names = [...options.excludeNamespaces, ...(options.skipAksManagedNamespaces ? ['kube-system'] : [])];
  const matchExpressions = [
    ...(names.length > 0 ? [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set(names)] }] : []),
    ...(options.skipAksManagedNamespaces ? [{ key: 'control-plane', operator: 'DoesNotExist' }] : []),
  ];
  return matchExpressions.length > 0 ? { matchExpressions } : undefined;
}

/** Requests the webhook allows whoever wrote them, and namespaces it does not judge: the policy does not look. */
function matchConditions(policy: Policy, options: BackstopOptions) {
  const { usernames, groups } = policy.allow.requesters;
  const namespaces = policy.allow.namespaces;
  return [
    { name: 'exclude-api-server', expression: 'request.userInfo.username != "system:apiserver"' },
    ...(usernames.length + groups.length > 0
      ? [
          {
            name: 'exclude-exempt-requesters',
            expression: requesterNotIn(
              allowListExpression(...splitTimeBoxed(policy, 'allow.requesters.usernames', usernames), CLOCK),
              allowListExpression(...splitTimeBoxed(policy, 'allow.requesters.groups', groups), CLOCK),
            ),
          },
        ]
      : []),
    ...(options.skipUsernames.length + options.skipGroups.length > 0
      ? [{ name: 'exclude-webhook-skipped-requesters', expression: requesterNotIn(celList(options.skipUsernames), celList(options.skipGroups)) }]
      : []),
    ...(namespaces.length > 0
      ? [
          {
            name: 'exclude-allowed-namespaces',
            expression: `!(request.kind.kind == "RoleBinding" && request.namespace in (${allowListExpression(...splitTimeBoxed(policy, 'allow.namespaces', namespaces), CLOCK)}))`,
          },
        ]
      : []),
  ];
}

function requesterNotIn(usernames: string, groups: string): string {
  return `!(request.userInfo.username in (${usernames}) || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in (${groups}))))`;
}

/** `policy vap`'s output: what the backstop leaves to the webhook, then the objects as multi-document YAML. */
export function backstopYaml(policy: Policy, options: BackstopOptions = DEFAULT_BACKSTOP_OPTIONS): string {
  const objects = backstopObjects(policy, options);
  const header = [
    '# entra-rbac-guard backstop: ValidatingAdmissionPolicies (Kubernetes 1.30+) that the API server evaluates itself, so',
    `# these rules hold while the webhook is down: ${BACKSTOP_RULES.map((rule) => rule.id).join(', ')} (cluster-admin by role name).`,
    '# They judge RoleBindings and ClusterRoleBindings only, and never deny what the webhook would allow.',
    '# CEL cannot know, so the webhook alone judges:',
    ...WEBHOOK_ONLY.map(({ what, why }) => `#   - ${what}: ${why}`),
    `# Time-boxed allow entries exempt until their expiry (plus ${EXPIRY_GRACE} for clock skew) on CREATE, read from the`,
    "# object's creationTimestamp, which the API server sets; on UPDATE CEL has no clock, and they still exempt.",
    "# The policy's lists are copied into these objects: print and apply them again after every policy change, and",
    '# delete what is no longer printed: kubectl delete validatingadmissionpolicies,validatingadmissionpolicybindings \\',
    '#   -l app.kubernetes.io/component=backstop  (then apply again). With the chart, backstop.enabled does both.',
    ...(objects.length === 0 ? ['# Every rule the backstop could hold is off in this policy: nothing to apply.'] : []),
  ];
  return `${header.join('\n')}\n${objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join('')}`;
}
