import type { Binding, RbacRole } from '../admission/types.ts';
import { roleIdOf, roleKey, type RoleFacts, type RoleId } from './facts.ts';
import type { FactsNeeded } from './needs.ts';
import { selectorMatches } from './privileges.ts';

/**
 * Roles and bindings by role, answering exactly the role facts a review needs with map lookups only. The role cache
 * keeps one up to date from informers; `check` fills one from its input. No I/O: it is only a data structure.
 */
export class RoleIndex {
  private readonly roles = new Map<string, RbacRole>();
  /** roleKey → (bindingKey → binding): every binding whose roleRef names the role, existing or not. */
  private readonly bindingsByRole = new Map<string, Map<string, Binding>>();
  /** bindingKey → the roleKey it is filed under, to unfile it on update or delete. */
  private readonly roleOfBinding = new Map<string, string>();
  /** roleKey → the ClusterRoles with an aggregationRule: a few among thousands of roles, all a labelled write asks about. */
  private readonly aggregating = new Map<string, RbacRole>();

  setRole(role: RbacRole): void {
    const key = roleKey(role);
    this.roles.set(key, role);
    if (role.kind === 'ClusterRole' && role.aggregationRule) this.aggregating.set(key, role);
    else this.aggregating.delete(key);
  }

  deleteRole(role: RoleId): void {
    this.roles.delete(roleKey(role));
    this.aggregating.delete(roleKey(role));
  }

  setBinding(binding: Binding): void {
    this.deleteBinding(binding);
    const id = roleIdOf(binding);
    if (!id) return;
    const key = bindingKey(binding);
    const role = roleKey(id);
    let filed = this.bindingsByRole.get(role);
    if (!filed) this.bindingsByRole.set(role, (filed = new Map()));
    filed.set(key, binding);
    this.roleOfBinding.set(key, role);
  }

  deleteBinding(binding: Pick<Binding, 'kind' | 'namespace' | 'name'>): void {
    const key = bindingKey(binding);
    const role = this.roleOfBinding.get(key);
    if (role === undefined) return;
    this.roleOfBinding.delete(key);
    const filed = this.bindingsByRole.get(role);
    filed?.delete(key);
    if (filed?.size === 0) this.bindingsByRole.delete(role);
  }

  /** Empties the index (before a relist replaces it). */
  clear(): void {
    this.roles.clear();
    this.bindingsByRole.clear();
    this.roleOfBinding.clear();
    this.aggregating.clear();
  }

  get size(): { roles: number; bindings: number } {
    return { roles: this.roles.size, bindings: this.roleOfBinding.size };
  }

  /** Every role and binding held (the continuous audit judges them all). Fresh arrays: later changes do not show. */
  all(): { roles: RbacRole[]; bindings: Binding[] } {
    const bindings: Binding[] = [];
    for (const filed of this.bindingsByRole.values()) bindings.push(...filed.values());
    return { roles: [...this.roles.values()], bindings };
  }

  /** The facts for `needs`, from this index: `source` names it in notes, `complete` says whether a missing role does not exist. */
  factsFor(needs: FactsNeeded, source: string, complete: boolean): RoleFacts {
    const roles = new Map<string, RbacRole>();
    for (const id of needs.roles ?? []) {
      const role = this.roles.get(roleKey(id));
      if (role) roles.set(roleKey(id), role);
    }
    const bindings = new Map<string, readonly Binding[]>();
    const bindingsOf = (id: RoleId) => bindings.set(roleKey(id), [...(this.bindingsByRole.get(roleKey(id))?.values() ?? [])]);
    for (const id of needs.bindingsOf ?? []) bindingsOf(id);
    if (!needs.aggregatorsOf) return { source, complete, roles, bindings };
    const aggregators = this.aggregatorsOf(needs.aggregatorsOf.name, needs.aggregatorsOf.labels);
    for (const aggregator of aggregators) bindingsOf(aggregator);
    return { source, complete, roles, bindings, aggregators };
  }

  /** The ClusterRoles (other than `name`) whose aggregationRule selects `labels`. */
  private aggregatorsOf(name: string, labels: Readonly<Record<string, string>>): RbacRole[] {
    return [...this.aggregating.values()].filter(
      (role) => role.name !== name && (role.aggregationRule?.clusterRoleSelectors.some((selector) => selectorMatches(selector, labels)) ?? false),
    );
  }
}

function bindingKey(binding: Pick<Binding, 'kind' | 'namespace' | 'name'>): string {
  return `${binding.kind}/${binding.kind === 'ClusterRoleBinding' ? '' : binding.namespace}/${binding.name}`;
}
