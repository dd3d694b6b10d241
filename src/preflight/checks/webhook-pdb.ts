import { selectorMatches } from '../../policy/privileges.ts';
import { fail, pass, warn, type Finding } from '../check.ts';
import type { DisruptionBudget, ServiceTarget } from '../facts.ts';
import { serviceRegistrationCheck, type Registration } from './webhooks.ts';

const ID = 'webhook-pdb';
const TITLE = "a PodDisruptionBudget for the webhook's pods";

/**
 * Check 4e: a PodDisruptionBudget (policy/v1, or policy/v1beta1 before Kubernetes 1.21) whose selector selects the
 * webhook's pods, told by the labels the Service selects them by (no pod needs to be listed).
 */
export const checkWebhookDisruptionBudget = serviceRegistrationCheck(ID, TITLE, {
  byUrl: { cannotTell: 'which pods serve it cannot be told', checkByHand: 'check by hand that a PodDisruptionBudget covers them.' },
  finding: budgetFinding,
});

function budgetFinding(registration: Registration, target: ServiceTarget): Finding {
  const { failurePolicy } = registration.webhook;
  const selector = target.service?.selector;
  if (!selector || Object.keys(selector).length === 0) {
    return fail(`Service ${target.namespace}/${target.name} ${target.service ? 'selects no pods' : 'does not exist'}: no PodDisruptionBudget can be matched to its pods`, 'reinstall the chart, which creates the Service and the PodDisruptionBudget.');
  }
  const budgets = target.disruptionBudgets.filter((budget) => budget.selector !== undefined && selectorMatches(budget.selector, selector));
  if (budgets.length > 0) return pass(budgets.map((budget) => `PodDisruptionBudget ${target.namespace}/${budget.name} (${budget.apiVersion}, ${limit(budget)}) covers the webhook's pods`).join('; '));
  const detail = `no PodDisruptionBudget in namespace ${target.namespace} selects the webhook's pods (${Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(',')}): a node drain may evict every one at once`;
  const fix = 'helm upgrade … --set podDisruptionBudget.enabled=true with replicas of 2 or more (the chart renders it then).';
  return failurePolicy === 'Ignore' ? warn(detail, fix) : fail(detail, fix);
}

function limit(budget: DisruptionBudget): string {
  if (budget.minAvailable !== undefined) return `minAvailable ${budget.minAvailable}`;
  if (budget.maxUnavailable !== undefined) return `maxUnavailable ${budget.maxUnavailable}`;
  return 'no limit set';
}
