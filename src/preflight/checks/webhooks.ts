import { verdict, warn, type CheckResult, type Finding } from '../check.ts';
import { isServiceTarget, type PreflightFacts, type RegisteredWebhook, type ServiceTarget, type WebhookConfiguration } from '../facts.ts';

/** One webhook of one of the webhook's configurations: what the installation checks go through. */
export interface Registration {
  readonly configuration: WebhookConfiguration;
  readonly webhook: RegisteredWebhook;
}

export function registrations(facts: PreflightFacts): Registration[] {
  return facts.webhook.configurations.flatMap((configuration) => configuration.webhooks.map((webhook) => ({ configuration, webhook })));
}

/** `webhook bindings.entra-rbac-guard.io of ValidatingWebhookConfiguration entra-rbac-guard`. */
export function describeRegistration({ configuration, webhook }: Registration): string {
  return `webhook ${webhook.name} of ValidatingWebhookConfiguration ${configuration.name}`;
}

/** A check made of one finding for each of the webhook's registrations. */
export function registrationCheck(id: string, title: string, finding: (registration: Registration) => Finding): (facts: PreflightFacts) => CheckResult {
  return (facts) => verdict(id, title, registrations(facts).map(finding));
}

/** A check that reads what the cluster holds behind a webhook's Service, which a webhook registered by URL has not. */
export interface ServiceCheck {
  /** What cannot be told of a webhook registered by URL, and what to check by hand instead. */
  readonly byUrl: { readonly cannotTell: string; readonly checkByHand: string };
  readonly finding: (registration: Registration, target: ServiceTarget, what: string) => Finding;
}

export function serviceRegistrationCheck(id: string, title: string, check: ServiceCheck): (facts: PreflightFacts) => CheckResult {
  return registrationCheck(id, title, (registration) => {
    const what = describeRegistration(registration);
    const { target } = registration.webhook;
    if (isServiceTarget(target)) return check.finding(registration, target, what);
    return warn(`${what} is registered by URL (${target.url}): ${check.byUrl.cannotTell}`, check.byUrl.checkByHand);
  });
}
