import type { CheckedObject } from '../check/judge.ts';
import type { RuleId, SubjectRef } from '../policy/model.ts';
import { RULE_IDS } from '../policy/model.ts';
import { describeObject, subjectKey } from '../policy/subjects.ts';
import { enforcedAction } from './fail-on.ts';

/** One problem in the cluster: a rule, a binding, a subject. */
export interface Finding {
  readonly rule: RuleId;
  /** `RoleBinding payments/carol-admin`: the binding that grants the subject its access. */
  readonly binding: string;
  readonly subject: SubjectRef;
  /** What it would do with the policy enforced (see enforcedAction). */
  readonly action: 'deny' | 'warn';
  /** Why it is not denied now (audit mode). */
  readonly downgradedBecause?: string | undefined;
  readonly message: string;
}

export interface RuleFindings {
  readonly rule: RuleId;
  /** By binding, in name order. */
  readonly bindings: ReadonlyMap<string, readonly Finding[]>;
  readonly count: number;
}

/**
 * The violations of an audit as people read them: by rule, then by binding. In an audit every violation is a
 * binding's (judgeRbac does not judge a role again through the bindings of a whole cluster); a role's, from other
 * input, is filed under the binding it was judged through (`via`). One finding per rule, binding and subject.
 */
export function findingsByRule(checked: readonly CheckedObject[]): RuleFindings[] {
  const findings = new Map<string, Finding>();
  for (const { object, binding, decision } of checked) {
    for (const violation of decision.violations) {
      const bindingLabel = binding ? describeObject(object) : (violation.via ?? describeObject(object));
      const key = `${violation.rule}\u0000${bindingLabel}\u0000${subjectKey(violation.subject)}`;
      if (findings.has(key)) continue;
      findings.set(key, {
        rule: violation.rule,
        binding: bindingLabel,
        subject: violation.subject,
        action: enforcedAction(violation),
        downgradedBecause: violation.downgradedBecause,
        message: violation.message,
      });
    }
  }
  return RULE_IDS.flatMap((rule) => {
    const ofRule = [...findings.values()].filter((finding) => finding.rule === rule);
    if (ofRule.length === 0) return [];
    const bindings = new Map<string, Finding[]>();
    for (const finding of ofRule.sort((a, b) => a.binding.localeCompare(b.binding))) {
      bindings.set(finding.binding, [...(bindings.get(finding.binding) ?? []), finding]);
    }
    return [{ rule, bindings, count: ofRule.length }];
  });
}
