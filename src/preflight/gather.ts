import type { KubeConfig } from '@kubernetes/client-node';
import type { Directory, MemberFact } from '../directory/port.ts';
import { listInventory, rbacPageLister } from '../kube/inventory.ts';
import type { RbacKind } from '../kube/role-cache.ts';
import { PREFLIGHT_PERMISSION, readWebhookInstallation } from '../kube/webhook-installation.ts';
import type { GroupFact } from '../policy/facts.ts';
import type { Policy } from '../policy/model.ts';
import { withAggregatedRules } from '../policy/privileges.ts';
import { groupIdsOf } from '../policy/needs.ts';
import { adminGroupBindings } from './checks/admin-binding.ts';
import type { DirectoryFindings, PreflightFacts } from './facts.ts';

export interface GatherInput {
  readonly kubeConfig: KubeConfig;
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly timeoutMs: number;
  readonly policy: Policy;
  readonly policySource: string;
  readonly directory: Directory | undefined;
  /** With no directory: why, naming what to configure. */
  readonly directoryMissing?: string | undefined;
  readonly onInvalid?: ((kind: RbacKind, error: Error) => void) | undefined;
}

/**
 * The edge of `preflight`: lists every RBAC object, reads the webhook's installation, and asks the directory about
 * the admin groups (and the other groups of the bindings that make them admins) and whether the admin groups have
 * members. Cluster failures throw ClusterAccessErrors; the directory never throws (its failures are facts).
 */
export async function gatherPreflightFacts(input: GatherInput): Promise<PreflightFacts> {
  const { server, timeoutMs } = input;
  const inventory = await listInventory(rbacPageLister(input.kubeConfig, timeoutMs), { server, timeoutMs, onInvalid: input.onInvalid, permission: PREFLIGHT_PERMISSION });
  const rbac = { roles: withAggregatedRules(inventory.roles), bindings: inventory.bindings };
  const [webhook, directory] = await Promise.all([readWebhookInstallation(input.kubeConfig, { server, timeoutMs }), askDirectory(input, rbac)]);
  return { policy: input.policy, policySource: input.policySource, rbac, directory, webhook, now: Date.now() };
}

async function askDirectory(input: GatherInput, rbac: PreflightFacts['rbac']): Promise<DirectoryFindings> {
  const { directory, policy } = input;
  if (!directory) return { source: undefined, missing: input.directoryMissing, groups: new Map(), members: undefined };
  const bindingGroups = adminGroupBindings(rbac.bindings, rbac.roles, policy).flatMap((binding) => groupIdsOf(binding, policy));
  const ids = [...new Set([...policy.adminGroups, ...bindingGroups])];
  const groups = ids.length > 0 ? await directory.lookupGroups(ids) : new Map<string, GroupFact>();
  if (!directory.probeMembers) return { source: directory.source, groups, members: undefined };
  const probe = directory.probeMembers.bind(directory);
  const securityGroups = policy.adminGroups.filter((id) => {
    const fact = groups.get(id);
    return fact?.state === 'found' && fact.securityEnabled;
  });
  const members = await Promise.all(securityGroups.map(async (id): Promise<[string, MemberFact]> => [id, await probe(id)]));
  return { source: directory.source, groups, members: new Map(members) };
}
