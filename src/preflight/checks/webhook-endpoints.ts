import { fail, pass, warn, type Finding } from '../check.ts';
import type { ServiceTarget } from '../facts.ts';
import { serviceRegistrationCheck, type Registration } from './webhooks.ts';

const ID = 'webhook-endpoints';
const TITLE = 'ready webhook pods behind its Service (2 or more)';
const MIN_READY = 2;

/** Check 4d: ready addresses in the Service's Endpoints. One pod means an outage on every drain or rollout. */
export const checkWebhookEndpoints = serviceRegistrationCheck(ID, TITLE, {
  byUrl: { cannotTell: 'its endpoints cannot be counted', checkByHand: 'check by hand that at least 2 replicas answer at that URL.' },
  finding: endpointsFinding,
});

function endpointsFinding(registration: Registration, target: ServiceTarget, what: string): Finding {
  const { failurePolicy } = registration.webhook;
  const service = `Service ${target.namespace}/${target.name}`;
  if (!target.service) return fail(`${what} points at ${service}, which does not exist: the API server cannot call it`, 'reinstall the chart (helm upgrade --install …), which creates the Service.');
  const ready = target.endpoints?.ready ?? 0;
  const notReady = target.endpoints?.notReady ?? 0;
  const counted = `${service} has ${ready} ready address${ready === 1 ? '' : 'es'}${notReady > 0 ? ` and ${notReady} not ready` : ''}`;
  if (ready >= MIN_READY) return pass(counted);
  const consequence = failurePolicy === 'Ignore' ? 'RBAC writes go unchecked' : 'RBAC writes are refused';
  const detail = ready === 0 ? `${counted}: no pod answers, ${consequence} now` : `${counted}: one node drain or rollout and ${consequence}`;
  const fix = `run at least ${MIN_READY} ready replicas (helm upgrade … --set replicas=2; kubectl -n ${target.namespace} get pods,events to see why pods are not ready).`;
  return failurePolicy === 'Ignore' ? warn(detail, fix) : fail(detail, fix);
}
