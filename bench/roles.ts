import type { RoleSource } from '../src/kube/role-cache.ts';
import { RoleIndex } from '../src/policy/role-index.ts';
import { bootstrapRoles } from '../test/policy/role-helpers.ts';

/**
 * What `serve` answers role questions from once its role cache has synced: the Roles and ClusterRoles of a fresh
 * kube-apiserver 1.20 (aggregated ClusterRoles filled in, as the controller manager fills them), so the bench's
 * bindings of ClusterRole `view` are judged on what view really grants.
 */
export function benchRoleSource(): RoleSource {
  const index = new RoleIndex();
  for (const role of bootstrapRoles()) index.setRole(role);
  // role-cache.ts's ROLE_CACHE_SOURCE, not imported: that module loads @kubernetes/client-node (+30 MiB of heap).
  return { factsFor: (needs) => index.factsFor(needs, 'the role cache', true) };
}
