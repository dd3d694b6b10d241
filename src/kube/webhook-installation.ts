/**
 * The webhook's installation as the cluster holds it, for `preflight`: its ValidatingWebhookConfigurations (the
 * chart's label, else names containing entra-rbac-guard) and, for each webhook registered by Service, the namespace's
 * labels, the Service's selector, the Endpoints' addresses and the namespace's PodDisruptionBudgets (policy/v1, or
 * policy/v1beta1 on clusters before 1.21). Reads only; a failed call is a ClusterAccessError saying what to grant.
 */
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { readSelector } from '../admission/role.ts';
import type { LabelSelector } from '../admission/types.ts';
import { CHART_LABEL_KEY, CHART_NAME, type DisruptionBudget, type RegisteredWebhook, type ServiceTarget, type WebhookConfiguration, type WebhookFindings } from '../preflight/facts.ts';
import { accessError } from './access-error.ts';
import { requestTimeout } from './request-timeout.ts';

/** What preflight needs, as a 403 message says it. */
export const PREFLIGHT_PERMISSION =
  'preflight needs list on roles, clusterroles, rolebindings and clusterrolebindings cluster-wide, list on ' +
  'validatingwebhookconfigurations, get on namespaces, and in the webhook\'s namespace get on services and endpoints and ' +
  'list on poddisruptionbudgets: run it as a member of an admin group (cluster-admin has all of them), or grant them ' +
  'with a ClusterRole bound to your Entra group';

export interface InstallationOptions {
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly timeoutMs: number;
}

export async function readWebhookInstallation(kubeConfig: KubeConfig, options: InstallationOptions): Promise<WebhookFindings> {
  const reader = new InstallationReader(kubeConfig, options);
  const configurations = await reader.configurations();
  const targets = new Map<string, Promise<ServiceTarget>>();
  const withTargets = await Promise.all(
    configurations.map(async ({ configuration, foundBy }): Promise<WebhookConfiguration> => ({
      name: configuration.metadata?.name ?? '',
      foundBy,
      webhooks: await Promise.all(
        (configuration.webhooks ?? []).map(async (webhook): Promise<RegisteredWebhook> => {
          const service = webhook.clientConfig.service;
          const key = service ? `${service.namespace}/${service.name}` : '';
          if (service && !targets.has(key)) targets.set(key, reader.serviceTarget(service.namespace, service.name));
          return {
            name: webhook.name,
            failurePolicy: webhook.failurePolicy ?? 'Fail',
            namespaceSelector: readSelector(webhook.namespaceSelector ?? {}, `${webhook.name}.namespaceSelector`),
            target: service ? await targets.get(key)! : { url: webhook.clientConfig.url ?? '' },
          };
        }),
      ),
    })),
  );
  return { configurations: withTargets };
}

class InstallationReader {
  private readonly admission: AdmissionregistrationV1Api;
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly objects: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: InstallationOptions,
  ) {
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.policy = kubeConfig.makeApiClient(PolicyV1Api);
    this.objects = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** The chart's configurations by label; only when there is none, any whose name or webhooks' names say entra-rbac-guard. */
  async configurations(): Promise<{ configuration: V1ValidatingWebhookConfiguration; foundBy: 'label' | 'name' }[]> {
    const all = await this.call('list validatingwebhookconfigurations', () => this.admission.listValidatingWebhookConfiguration({}, this.timeout()));
    const labelled = all.items.filter((configuration) => configuration.metadata?.labels?.[CHART_LABEL_KEY] === CHART_NAME);
    if (labelled.length > 0) return labelled.map((configuration) => ({ configuration, foundBy: 'label' }));
    return all.items
      .filter((configuration) => [configuration.metadata?.name ?? '', ...(configuration.webhooks ?? []).map((webhook) => webhook.name)].some((name) => name.includes(CHART_NAME)))
      .map((configuration) => ({ configuration, foundBy: 'name' }));
  }

  async serviceTarget(namespace: string, name: string): Promise<ServiceTarget> {
    const [namespaceObject, service, endpoints, disruptionBudgets] = await Promise.all([
      this.optional(`get namespace ${namespace}`, () => this.core.readNamespace({ name: namespace }, this.timeout())),
      this.optional(`get service ${namespace}/${name}`, () => this.core.readNamespacedService({ namespace, name }, this.timeout())),
      this.optional(`get endpoints ${namespace}/${name}`, () => this.core.readNamespacedEndpoints({ namespace, name }, this.timeout())),
      this.disruptionBudgets(namespace),
    ]);
    const subsets = endpoints?.subsets ?? [];
    return {
      namespace,
      name,
      namespaceLabels: namespaceObject ? (namespaceObject.metadata?.labels ?? {}) : undefined,
      service: service ? { selector: service.spec?.selector ?? {} } : undefined,
      endpoints: endpoints
        ? {
            ready: subsets.reduce((sum, subset) => sum + (subset.addresses?.length ?? 0), 0),
            notReady: subsets.reduce((sum, subset) => sum + (subset.notReadyAddresses?.length ?? 0), 0),
          }
        : undefined,
      disruptionBudgets,
    };
  }

  /** policy/v1; a cluster before 1.21 answers 404 for it, and policy/v1beta1 is asked instead. */
  private async disruptionBudgets(namespace: string): Promise<DisruptionBudget[]> {
    const action = `list poddisruptionbudgets in namespace ${namespace}`;
    try {
      const list = await this.policy.listNamespacedPodDisruptionBudget({ namespace }, this.timeout());
      return list.items.map((item) => budget('policy/v1', item));
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw this.failure(action, error);
    }
    const list = (await this.call(action, () =>
      this.objects.listNamespacedCustomObject({ group: 'policy', version: 'v1beta1', namespace, plural: 'poddisruptionbudgets' }, this.timeout()),
    )) as { items?: Array<KubernetesObject & { spec?: unknown }> };
    return (list.items ?? []).map((item) => budget('policy/v1beta1', item));
  }

  /** The object, or undefined when it does not exist (404). */
  private async optional<T>(action: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw this.failure(action, error);
    }
  }

  private async call<T>(action: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw this.failure(action, error);
    }
  }

  private failure(action: string, error: unknown): Error {
    return accessError(error, { action, server: this.options.server, timeoutMs: this.options.timeoutMs, permission: PREFLIGHT_PERMISSION });
  }

  private timeout() {
    return requestTimeout(this.options.timeoutMs);
  }
}

function budget(apiVersion: string, item: KubernetesObject & { spec?: unknown }): DisruptionBudget {
  const name = item.metadata?.name ?? '';
  const spec = (item.spec ?? {}) as { selector?: unknown; minAvailable?: unknown; maxUnavailable?: unknown };
  const selector = spec.selector === undefined || spec.selector === null ? undefined : readSelector(spec.selector, `PodDisruptionBudget ${name}.spec.selector`);
  return {
    name,
    apiVersion,
    // An empty selector selects every pod of the namespace in policy/v1, and none in policy/v1beta1; no selector, none.
    selector: selector && (apiVersion === 'policy/v1' || !isEmpty(selector)) ? selector : undefined,
    minAvailable: spec.minAvailable === undefined ? undefined : String(spec.minAvailable),
    maxUnavailable: spec.maxUnavailable === undefined ? undefined : String(spec.maxUnavailable),
  };
}

function isEmpty(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}
