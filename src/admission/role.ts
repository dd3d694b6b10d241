import { InvalidInputError, describeType, expectRecord, expectString } from './narrow.ts';
import type { AggregationRule, LabelSelector, LabelSelectorRequirement, PolicyRule, RbacRole, RoleKind } from './types.ts';

export const ROLE_KINDS: readonly RoleKind[] = ['Role', 'ClusterRole'];

export function isRoleKind(kind: unknown): kind is RoleKind {
  return kind === 'Role' || kind === 'ClusterRole';
}

/**
 * Narrows a Role or ClusterRole object (as the API server sends it, as a manifest holds it, or as an informer lists
 * it with `kind` given by the caller). Only the fields the policy reads are checked; everything else is ignored.
 */
export function readRole(value: unknown, path: string, kindOverride?: RoleKind): RbacRole {
  const object = expectRecord(value, path);
  const kind = kindOverride ?? object['kind'];
  if (!isRoleKind(kind)) throw new InvalidInputError(`${path}.kind`, 'must be Role or ClusterRole');
  const metadata = expectRecord(object['metadata'] ?? {}, `${path}.metadata`);
  const name = expectString(metadata['name'], `${path}.metadata.name`, { optional: true });
  const namespace = kind === 'ClusterRole' ? '' : expectString(metadata['namespace'], `${path}.metadata.namespace`, { optional: true });
  const aggregationRule =
    kind === 'ClusterRole' && object['aggregationRule'] !== undefined && object['aggregationRule'] !== null
      ? readAggregationRule(object['aggregationRule'], `${path}.aggregationRule`)
      : undefined;
  return {
    kind,
    name,
    namespace,
    labels: readStringMap(metadata['labels'], `${path}.metadata.labels`),
    rules: readList(object['rules'], `${path}.rules`).map((rule, index) => readPolicyRule(rule, `${path}.rules[${index}]`)),
    ...(aggregationRule ? { aggregationRule } : {}),
  };
}

function readPolicyRule(value: unknown, path: string): PolicyRule {
  const rule = expectRecord(value, path);
  return {
    verbs: readStrings(rule['verbs'], `${path}.verbs`),
    apiGroups: readStrings(rule['apiGroups'], `${path}.apiGroups`),
    resources: readStrings(rule['resources'], `${path}.resources`),
    resourceNames: readStrings(rule['resourceNames'], `${path}.resourceNames`),
    nonResourceURLs: readStrings(rule['nonResourceURLs'], `${path}.nonResourceURLs`),
  };
}

function readAggregationRule(value: unknown, path: string): AggregationRule {
  const rule = expectRecord(value, path);
  return {
    clusterRoleSelectors: readList(rule['clusterRoleSelectors'], `${path}.clusterRoleSelectors`).map((selector, index) =>
      readSelector(selector, `${path}.clusterRoleSelectors[${index}]`),
    ),
  };
}

export function readSelector(value: unknown, path: string): LabelSelector {
  const selector = expectRecord(value ?? {}, path);
  return {
    matchLabels: readStringMap(selector['matchLabels'], `${path}.matchLabels`),
    matchExpressions: readList(selector['matchExpressions'], `${path}.matchExpressions`).map((item, index): LabelSelectorRequirement => {
      const at = `${path}.matchExpressions[${index}]`;
      const requirement = expectRecord(item, at);
      return {
        key: expectString(requirement['key'], `${at}.key`),
        operator: expectString(requirement['operator'], `${at}.operator`),
        values: readStrings(requirement['values'], `${at}.values`),
      };
    }),
  };
}

function readList(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidInputError(path, `must be a list, got ${describeType(value)}`);
  return value;
}

function readStrings(value: unknown, path: string): string[] {
  return readList(value, path).map((item, index) => expectString(item, `${path}[${index}]`));
}

function readStringMap(value: unknown, path: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const record = expectRecord(value, path);
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, expectString(item, `${path}.${key}`)]));
}
