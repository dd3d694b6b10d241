import { fail, pass, verdict, type CheckResult } from '../check.ts';
import { CHART_LABEL, isServiceTarget, type PreflightFacts } from '../facts.ts';
import { describeRegistration, registrations } from './webhooks.ts';

const ID = 'webhook-installed';
const TITLE = "the webhook's registration";

/** Check 4a: a ValidatingWebhookConfiguration of ours exists. Without one, the other webhook checks have nothing to read. */
export function checkWebhookInstalled(facts: PreflightFacts): CheckResult {
  const found = registrations(facts);
  if (found.length === 0) {
    return verdict(ID, TITLE, [
      fail(
        `not installed: no ValidatingWebhookConfiguration is labelled ${CHART_LABEL} or named after entra-rbac-guard, so nothing is enforced`,
        'helm install entra-rbac-guard ./charts/entra-rbac-guard --namespace entra-rbac-guard --create-namespace --values values-aks.yaml --wait (docs/install-aks.md, step 4).',
      ),
    ]);
  }
  return verdict(
    ID,
    TITLE,
    found.map((registration) => {
      const { target } = registration.webhook;
      const to = isServiceTarget(target) ? `Service ${target.namespace}/${target.name}` : `URL ${target.url}`;
      const how = registration.configuration.foundBy === 'label' ? `labelled ${CHART_LABEL}` : 'found by its name (not labelled as the chart labels it)';
      return pass(`${describeRegistration(registration)} (${how}) sends RBAC writes to ${to}`);
    }),
  );
}
