import type { Binding, Subject } from '../../admission/types.ts';
import type { DirectoryFacts } from '../facts.ts';
import type { Policy, RuleAction, RuleId } from '../model.ts';

export interface RuleContext {
  /** The binding under review, without the subjects that are Kubernetes' own bootstrap grants. */
  readonly binding: Binding;
  readonly policy: Policy;
  readonly facts: DirectoryFacts;
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
  readonly check: (context: RuleContext) => readonly Finding[];
}
