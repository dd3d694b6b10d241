import type { Binding, RbacRole, Subject } from '../../admission/types.ts';
import type { Facts, RoleResolution } from '../facts.ts';
import type { Policy, RuleAction, RuleId } from '../model.ts';
import type { BindingSubjects } from '../subject-traits.ts';

export interface RuleContext {
  /** The binding under review, without the subjects that are Kubernetes' own bootstrap grants. */
  readonly binding: Binding;
  /** What each of the binding's subjects is (allow-listed, an Entra object ID, a system: name…), worked out once. */
  readonly subjects: BindingSubjects;
  readonly policy: Policy;
  readonly facts: Facts;
  /**
   * Set when a Role or ClusterRole is under review: `binding` is an existing binding that references it, judged with
   * the role as the change would make it. Only rules with `readsRole` run then.
   */
  readonly changedRole?: RbacRole;
  /** The role the binding grants (the role under review, or what the facts resolve its roleRef to), resolved once. */
  readonly role: RoleResolution;
}

/** One problem with one subject. The engine adds the rule ID and the action. */
export interface Finding {
  readonly subject: Subject;
  /** The whole message a user reads: binding, subject, rule ID in brackets, and what to do instead. */
  readonly message: string;
}

export interface Rule {
  readonly id: RuleId;
  readonly defaultAction: Exclude<RuleAction, 'off'>;
  /**
   * The verdict depends on what the bound role grants, not only on the binding: the rule also runs for every binding
   * of a Role or ClusterRole under review, so widening a role cannot walk around it.
   */
  readonly readsRole?: true;
  readonly check: (context: RuleContext) => readonly Finding[];
}

/** The role the binding grants: the role under review, or what the facts resolve its roleRef to. */
export function boundRole(context: RuleContext): RoleResolution {
  return context.role;
}

/** `ClusterRole edit`, `Role payments/deployer`. */
export function describeRole(role: { readonly kind: string; readonly namespace: string; readonly name: string }): string {
  return role.kind === 'Role' ? `Role ${role.namespace}/${role.name}` : `ClusterRole ${role.name}`;
}
