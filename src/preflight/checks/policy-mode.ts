import { pass, verdict, warn, type CheckResult } from '../check.ts';
import type { PreflightFacts } from '../facts.ts';

const ID = 'policy-mode';
const TITLE = "the policy's mode: enforce or audit";

/** Check 4f: the policy's mode. In audit mode every violation is only a warning. */
export function checkPolicyMode(facts: PreflightFacts): CheckResult {
  const source = facts.policySource;
  if (facts.policy.mode === 'enforce') return verdict(ID, TITLE, [pass(`the policy (${source}) is in enforce mode: violations are denied`)]);
  return verdict(ID, TITLE, [
    warn(
      `the policy (${source}) is in audit mode: nothing is enforced yet, violations are only warnings`,
      'once this preflight passes otherwise, enforce: with the chart, set dryRun: false (helm upgrade … --values values-aks.yaml, docs/install-aks.md step 7); in a policy file, mode: enforce.',
    ),
  ]);
}
