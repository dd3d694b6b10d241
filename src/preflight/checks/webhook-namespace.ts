import type { LabelSelector } from '../../admission/types.ts';
import { selectorMatches } from '../../policy/privileges.ts';
import { fail, pass, type Finding } from '../check.ts';
import type { ServiceTarget } from '../facts.ts';
import { serviceRegistrationCheck, type Registration } from './webhooks.ts';

const ID = 'webhook-namespace';
const TITLE = "the webhook's own namespace exempt from it";
const NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * Check 4b: the namespaceSelector leaves the webhook's namespace out, so its own RBAC can be repaired while it is down.
 * Judged on the namespace's real labels: before Kubernetes 1.21 nothing sets kubernetes.io/metadata.name, and the
 * chart's `NotIn` selector then matches the namespace after all.
 */
export const checkWebhookNamespace = serviceRegistrationCheck(ID, TITLE, {
  byUrl: { cannotTell: 'which namespace it runs in cannot be told', checkByHand: 'check by hand that its namespaceSelector leaves out the namespace its pods run in.' },
  finding: namespaceFinding,
});

function namespaceFinding(registration: Registration, target: ServiceTarget, what: string): Finding {
  const { namespaceSelector } = registration.webhook;
  const { namespace, namespaceLabels } = target;
  if (namespaceLabels === undefined) return fail(`${what} points at namespace ${namespace}, which does not exist`, `install the webhook with its chart (helm install … --namespace ${namespace} --create-namespace), or, if this registration is a leftover, delete it (kubectl delete validatingwebhookconfiguration ${registration.configuration.name}).`);
  if (!selectorMatches(namespaceSelector, namespaceLabels)) return pass(`${what} leaves namespace ${namespace} out (namespaceSelector)`);
  if (namesNamespaceWithoutLabel(namespaceSelector, namespace, namespaceLabels)) {
    return fail(
      `${what} means to leave namespace ${namespace} out, but the namespace has no label ${NAME_LABEL} (Kubernetes before 1.21 does not set it): its RBAC goes through the webhook`,
      `kubectl label namespace ${namespace} ${NAME_LABEL}=${namespace}.`,
    );
  }
  return fail(
    `${what} judges RBAC writes in its own namespace ${namespace}: while it is down they fail too, and the webhook's own RBAC cannot be repaired`,
    `add a namespaceSelector that leaves it out (${NAME_LABEL} NotIn [${namespace}]): the chart always renders one; reinstall with it.`,
  );
}

function namesNamespaceWithoutLabel(selector: LabelSelector, namespace: string, labels: Readonly<Record<string, string>>): boolean {
  const named = selector.matchExpressions.some(({ key, operator, values }) => key === NAME_LABEL && operator === 'NotIn' && values.includes(namespace));
  return named && !Object.hasOwn(labels, NAME_LABEL);
}
