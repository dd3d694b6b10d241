import type { Binding, Subject } from '../../admission/types.ts';
import { escalatingPermissions, type EscalatingPermission } from '../privileges.ts';
import { describeBinding, describeSubject } from '../subjects.ts';
import { clusterAdminBecause, mayHoldClusterAdmin } from './cluster-admin.ts';
import { boundRole, describeRole, type Rule, type RuleContext } from './rule.ts';

/**
 * A role that lets its holders give themselves more than it grants: escalate or bind on roles, impersonation,
 * nodes/proxy, or writes to admission webhook configurations. Only the holders of cluster-admin may have it.
 * A role that grants everything (or that the policy lists as cluster-admin) is the cluster-admin rule's: this rule does
 * not repeat it. A role that is not known (no role facts, or not created yet) grants nothing here.
 */
export const escalation: Rule = {
  id: 'escalation',
  defaultAction: 'deny',
  readsRole: true,
  check: (context) => {
    const resolved = boundRole(context);
    if (resolved.state !== 'found' || clusterAdminBecause(context)) return [];
    const permissions = escalatingPermissions(resolved.role.rules);
    if (permissions.length === 0) return [];
    const { binding, policy } = context;
    return binding.subjects
      .filter((subject) => !mayHoldClusterAdmin(subject, policy))
      .map((subject) => ({
        subject,
        message: context.changedRole ? roleMessage(context, subject, permissions) : bindingMessage(binding, subject, permissions),
      }));
  },
};

function bindingMessage(binding: Binding, subject: Subject, permissions: readonly EscalatingPermission[]): string {
  const role = describeRole({ kind: binding.roleRef.kind, namespace: binding.namespace, name: binding.roleRef.name });
  return (
    `${describeBinding(binding)} grants ${role} to ${describeSubject(subject)} [escalation]: the role grants ${granted(permissions)}; ` +
    `${consequences(permissions)}. Bind a role without these permissions, or bind this one to the policy's adminGroups only`
  );
}

function roleMessage(context: RuleContext, subject: Subject, permissions: readonly EscalatingPermission[]): string {
  const role = describeRole(context.changedRole!);
  const binding = describeBinding(context.binding);
  return (
    `${role} would grant ${granted(permissions)} to ${describeSubject(subject)} through ${binding} [escalation]: ` +
    `${consequences(permissions)}. Leave these permissions out of the role, or first delete ${binding} ` +
    "(or bind the role to the policy's adminGroups only)"
  );
}

function granted(permissions: readonly EscalatingPermission[]): string {
  return permissions.map((permission) => permission.permission).join('; ');
}

function consequences(permissions: readonly EscalatingPermission[]): string {
  return permissions.map((permission) => permission.consequence).join('; ');
}
