/** Builders for preflight facts: a cluster that passes every check, and the pieces to break it (test/preflight). */
import type { Binding, LabelSelector } from '../../src/admission/types.ts';
import type { MemberFact } from '../../src/directory/port.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import type { DisruptionBudget, PreflightFacts, RegisteredWebhook, ServiceTarget, WebhookConfiguration } from '../../src/preflight/facts.ts';
import { ADMIN_GROUP_ID, clusterRoleBinding, group, policyWith } from '../helpers.ts';
import { clusterRole, WILDCARD } from '../policy/role-helpers.ts';

export const NAMESPACE = 'entra-rbac-guard';
export const SELECTOR = { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/instance': 'entra-rbac-guard' };
export const ADMINS: GroupFact = { state: 'found', displayName: 'AKS Platform Admins', securityEnabled: true };

/** The binding AKS makes from --aad-admin-group-object-ids. */
export const AKS_ADMIN_BINDING: Binding = clusterRoleBinding([group(ADMIN_GROUP_ID)], 'cluster-admin', { name: 'aks-cluster-admin-binding-aad' });

export const NOT_IN_OWN_NAMESPACE: LabelSelector = {
  matchLabels: {},
  matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE] }],
};

export const PDB: DisruptionBudget = { name: 'entra-rbac-guard', apiVersion: 'policy/v1', selector: { matchLabels: SELECTOR, matchExpressions: [] }, minAvailable: '1' };

export function serviceTarget(overrides: Partial<ServiceTarget> = {}): ServiceTarget {
  return {
    namespace: NAMESPACE,
    name: 'entra-rbac-guard',
    namespaceLabels: { 'kubernetes.io/metadata.name': NAMESPACE },
    service: { selector: SELECTOR },
    endpoints: { ready: 2, notReady: 0 },
    disruptionBudgets: [PDB],
    ...overrides,
  };
}

export function webhook(overrides: Partial<RegisteredWebhook> = {}): RegisteredWebhook {
  return { name: 'bindings.entra-rbac-guard.io', failurePolicy: 'Fail', namespaceSelector: NOT_IN_OWN_NAMESPACE, target: serviceTarget(), ...overrides };
}

export function configuration(webhooks: readonly RegisteredWebhook[] = [webhook()], overrides: Partial<WebhookConfiguration> = {}): WebhookConfiguration {
  return { name: 'entra-rbac-guard', foundBy: 'label', webhooks, ...overrides };
}

export interface FactsOverrides {
  readonly policy?: Partial<PreflightFacts['policy']>;
  readonly bindings?: readonly Binding[];
  readonly groups?: Record<string, GroupFact>;
  /** null: the directory cannot tell members (a snapshot). */
  readonly members?: Record<string, MemberFact> | null;
  /** A directory source; undefined for none. */
  readonly source?: string | undefined;
  readonly configurations?: readonly WebhookConfiguration[];
}

/** A cluster that passes every check, with the overrides applied. */
export function preflightFacts(overrides: FactsOverrides = {}): PreflightFacts {
  const source = 'source' in overrides ? overrides.source : 'Microsoft Graph';
  const members = overrides.members === null ? undefined : new Map(Object.entries(overrides.members ?? { [ADMIN_GROUP_ID]: { state: 'has-members' } }));
  return {
    policy: policyWith(overrides.policy),
    policySource: 'ConfigMap entra-rbac-guard/entra-rbac-guard-policy',
    now: Date.parse('2026-12-08T12:00:00Z'),
    rbac: { roles: [clusterRole('cluster-admin', [WILDCARD])], bindings: overrides.bindings ?? [AKS_ADMIN_BINDING] },
    directory:
      source === undefined
        ? { source: undefined, missing: 'neither --directory FILE nor Azure credentials are given', groups: new Map(), members: undefined }
        : { source, groups: new Map(Object.entries(overrides.groups ?? { [ADMIN_GROUP_ID]: ADMINS })), members },
    webhook: { configurations: overrides.configurations ?? [configuration()] },
  };
}
