import { partitionBootstrapSubjects } from '../../policy/bootstrap.ts';
import { localAccountReason } from '../../policy/identities.ts';
import { describeBinding, describeSubject, subjectRef } from '../../policy/subjects.ts';
import { pass, verdict, warn, type CheckResult } from '../check.ts';
import type { PreflightFacts } from '../facts.ts';

const ID = 'local-accounts';
const TITLE = 'bindings that only local accounts use';

/** Said every time: the group no RBAC object needs, and the one binding of it that is not a finding. */
export const SYSTEM_MASTERS_NOTE =
  'system:masters needs no binding: the API server lets its members through before RBAC (hard-wired), and its own ' +
  'bootstrap ClusterRoleBinding cluster-admin names it too (recreated on every start, so not listed). Only client ' +
  'certificates carry it: after --disable-local-accounts AKS issues none (az aks get-credentials --admin stops working), ' +
  'so the admin groups above are the way in';

/**
 * Check 3: bindings whose subjects are local accounts (AKS clusterAdmin and clusterUser, system:masters): they stop
 * working when local accounts are disabled, so whoever relies on them needs an Entra group first.
 */
export function checkLocalAccounts(facts: PreflightFacts): CheckResult {
  const findings = facts.rbac.bindings.flatMap((binding) =>
    partitionBootstrapSubjects(binding)
      .others.filter((subject) => localAccountReason(subject) !== undefined)
      .map((subject) =>
        warn(
          `${describeBinding(binding)} binds ${describeSubject(subjectRef(subject))} (${localAccountReason(subject)}): it stops working with --disable-local-accounts`,
          'before disabling local accounts, give whoever uses these an Entra group bound to the same role, then remove the local-account subjects.',
        ),
      ),
  );
  return verdict(ID, TITLE, findings.length > 0 ? findings : [pass('no binding names clusterAdmin, clusterUser or system:masters')], [SYSTEM_MASTERS_NOTE]);
}
