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
  /** Roles judged through this binding that showed the same problem (`ClusterRole cluster-admin`). */
  readonly alsoOn: readonly string[];
}

export interface RuleFindings {
  readonly rule: RuleId;
  /** By binding, in name order. */
  readonly bindings: ReadonlyMap<string, readonly Finding[]>;
  readonly count: number;
}

/**
 * The violations of an audit as people read them: by rule, then by binding. A role's violation is judged through a
 * binding that references it (`via`), and in a whole cluster that binding shows the same problem itself: the two are
 * one finding, the role noted on it, not counted twice.
 */
export function findingsByRule(checked: readonly CheckedObject[]): RuleFindings[] {
  const findings = new Map<string, Finding>();
  const keyOf = (rule: string, binding: string, subject: SubjectRef) => `${rule}\u0000${binding}\u0000${subjectKey(subject)}`;
  // Bindings first, so a role's violation finds its binding's finding already there.
  const ordered = [...checked.filter((entry) => entry.binding), ...checked.filter((entry) => !entry.binding)];
  for (const { object, binding, decision } of ordered) {
    for (const violation of decision.violations) {
      const bindingLabel = binding ? describeObject(object) : (violation.via ?? describeObject(object));
      const key = keyOf(violation.rule, bindingLabel, violation.subject);
      const existing = findings.get(key);
      if (existing) {
        if (!binding) findings.set(key, { ...existing, alsoOn: [...existing.alsoOn, describeObject(object)] });
        continue;
      }
      findings.set(key, {
        rule: violation.rule,
        binding: bindingLabel,
        subject: violation.subject,
        action: enforcedAction(violation),
        downgradedBecause: violation.downgradedBecause,
        message: violation.message,
        alsoOn: binding ? [] : [describeObject(object)],
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
