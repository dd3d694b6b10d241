import type { Binding, LabelSelector, RbacRole } from '../admission/types.ts';
import type { MemberFact } from '../directory/port.ts';
import type { GroupFact } from '../policy/facts.ts';
import type { Policy } from '../policy/model.ts';

/**
 * Everything `preflight` found out at the edge (the cluster's RBAC objects and webhook installation, the directory's
 * answers about the admin groups), as plain data: the checks are pure functions of it.
 */
export interface PreflightFacts {
  readonly policy: Policy;
  /** `embedded default`, the file, or `ConfigMap NS/NAME (resourceVersion N)`. */
  readonly policySource: string;
  /** Every ClusterRole and Role (aggregated ClusterRoles with their rules filled in) and every binding. */
  readonly rbac: { readonly roles: readonly RbacRole[]; readonly bindings: readonly Binding[] };
  readonly directory: DirectoryFindings;
  readonly webhook: WebhookFindings;
  /** When the cluster was read (ms since the epoch): break-glass entries of the policy are weighed at this time. */
  readonly now: number;
}

export interface DirectoryFindings {
  /** Where group facts came from (`Microsoft Graph`, `snapshot groups.yaml`); undefined when there is no directory. */
  readonly source: string | undefined;
  /** With no directory: why, naming what to configure. */
  readonly missing?: string | undefined;
  /** The admin groups, and the other Entra groups of the bindings that grant cluster-admin to one. */
  readonly groups: ReadonlyMap<string, GroupFact>;
  /** The admin groups' members; undefined when the directory cannot tell (a snapshot holds no members). */
  readonly members: ReadonlyMap<string, MemberFact> | undefined;
}

export interface WebhookFindings {
  /** The webhook's ValidatingWebhookConfigurations: the chart's label, else a name; none when it is not installed. */
  readonly configurations: readonly WebhookConfiguration[];
}

export interface WebhookConfiguration {
  readonly name: string;
  /** `label`: app.kubernetes.io/name=entra-rbac-guard, as the chart labels it; `name`: the fallback on names. */
  readonly foundBy: 'label' | 'name';
  readonly webhooks: readonly RegisteredWebhook[];
}

export interface RegisteredWebhook {
  readonly name: string;
  /** `Fail` or `Ignore` (the API server defaults it to Fail in admissionregistration.k8s.io/v1). */
  readonly failurePolicy: string;
  /** Empty when the configuration has none: every namespace is sent. */
  readonly namespaceSelector: LabelSelector;
  readonly target: ServiceTarget | UrlTarget;
}

export interface UrlTarget {
  readonly url: string;
}

/** A webhook registered by Service, with what the cluster holds behind it. */
export interface ServiceTarget {
  readonly namespace: string;
  readonly name: string;
  /** The labels of the Service's namespace; undefined when the namespace does not exist. */
  readonly namespaceLabels: Readonly<Record<string, string>> | undefined;
  /** undefined when the Service does not exist. */
  readonly service: { readonly selector: Readonly<Record<string, string>> } | undefined;
  /** Addresses of the Service's Endpoints, ready and not; undefined when there is no Endpoints object. */
  readonly endpoints: { readonly ready: number; readonly notReady: number } | undefined;
  /** Every PodDisruptionBudget of the namespace. */
  readonly disruptionBudgets: readonly DisruptionBudget[];
}

export interface DisruptionBudget {
  readonly name: string;
  /** `policy/v1`, or `policy/v1beta1` on clusters before 1.21. */
  readonly apiVersion: string;
  /** undefined: it selects no pod (no selector; or an empty one in policy/v1beta1). */
  readonly selector: LabelSelector | undefined;
  /** As written: a number or a percentage. */
  readonly minAvailable?: string | undefined;
  readonly maxUnavailable?: string | undefined;
}

export function isServiceTarget(target: ServiceTarget | UrlTarget): target is ServiceTarget {
  return 'namespace' in target;
}

/** The label the chart puts on the webhook configuration it renders: how preflight finds the webhook's installation. */
export const CHART_LABEL_KEY = 'app.kubernetes.io/name';
export const CHART_NAME = 'entra-rbac-guard';
export const CHART_LABEL = `${CHART_LABEL_KEY}=${CHART_NAME}`;
