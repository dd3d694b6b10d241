import { pass, warn, type Finding } from '../check.ts';
import { describeRegistration, registrationCheck, type Registration } from './webhooks.ts';

const ID = 'webhook-failure-policy';
const TITLE = 'failurePolicy: RBAC writes while the webhook is down';

/** Check 4c: the failurePolicy, with the recovery step that goes with Fail or the risk that goes with Ignore. */
export const checkWebhookFailurePolicy = registrationCheck(ID, TITLE, failurePolicyFinding);

function failurePolicyFinding(registration: Registration): Finding {
  const what = describeRegistration(registration);
  if (registration.webhook.failurePolicy === 'Ignore') {
    return warn(
      `${what} has failurePolicy Ignore: while it is down, RBAC writes are admitted unchecked, and anyone who can take it down can write any binding`,
      `once the endpoints and the PodDisruptionBudget pass, fail closed: helm upgrade … --set webhook.failurePolicy=Fail.`,
    );
  }
  return pass(
    `${what} has failurePolicy Fail: while no webhook pod answers, RBAC writes outside its exempt namespaces are refused. ` +
      `Recovery, as a member of an admin group: kubectl delete validatingwebhookconfiguration ${registration.configuration.name} (then helm upgrade puts it back)`,
  );
}
