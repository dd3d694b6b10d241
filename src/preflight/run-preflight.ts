import type { CheckResult, CheckStatus } from './check.ts';
import { checkAdminBinding } from './checks/admin-binding.ts';
import { checkAdminGroups } from './checks/admin-groups.ts';
import { checkLocalAccounts } from './checks/local-accounts.ts';
import { checkPolicyMode } from './checks/policy-mode.ts';
import { checkWebhookEndpoints } from './checks/webhook-endpoints.ts';
import { checkWebhookFailurePolicy } from './checks/webhook-failure-policy.ts';
import { checkWebhookInstalled } from './checks/webhook-installed.ts';
import { checkWebhookNamespace } from './checks/webhook-namespace.ts';
import { checkWebhookDisruptionBudget } from './checks/webhook-pdb.ts';
import { registrations } from './checks/webhooks.ts';
import type { PreflightFacts } from './facts.ts';

export interface PreflightReport {
  readonly checks: readonly CheckResult[];
  readonly summary: Readonly<Record<CheckStatus, number>>;
}

/** Checks that read the webhook's registration: left out when it is not installed (webhook-installed fails then). */
const INSTALLATION_CHECKS = [checkWebhookNamespace, checkWebhookFailurePolicy, checkWebhookEndpoints, checkWebhookDisruptionBudget];

/** Every check, in the order a platform engineer would fix them: pure, from the facts gathered at the edge. */
export function runPreflight(facts: PreflightFacts): PreflightReport {
  const installed = registrations(facts).length > 0;
  const checks = [
    checkAdminGroups(facts),
    checkAdminBinding(facts),
    checkLocalAccounts(facts),
    checkWebhookInstalled(facts),
    ...(installed ? INSTALLATION_CHECKS.map((check) => check(facts)) : []),
    checkPolicyMode(facts),
  ];
  const count = (status: CheckStatus) => checks.filter((check) => check.status === status).length;
  return { checks, summary: { pass: count('pass'), warn: count('warn'), fail: count('fail') } };
}
