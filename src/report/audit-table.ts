import { allowListedSubjects } from '../audit/allow-listed.ts';
import { findingsByRule, type Finding, type RuleFindings } from '../audit/findings.ts';
import type { AuditOutcome } from '../audit/run-audit.ts';
import { INVENTORY_KINDS } from '../kube/inventory.ts';
import type { Policy } from '../policy/model.ts';
import { describeObject, describeSubject } from '../policy/subjects.ts';
import { ruleHelp } from './rule-help.ts';

export interface AuditTableContext {
  /** Which cluster, as connectCluster describes it (never a credential). */
  readonly cluster: string;
  readonly policySource: string;
  readonly policy: Policy;
  /** Where group facts came from. */
  readonly directory: string;
}

/** Exempt objects and notes listed per group before "… and N more" (`--output json` lists every one). */
const LIST_LIMIT = 100;

/**
 * The audit for people: violations by rule (what the rule protects, the fix), then by binding with each subject;
 * exempt objects by why they are exempt; notes; and a summary of what was scanned and found.
 */
export function auditTable(outcome: AuditOutcome, context: AuditTableContext): string {
  const byRule = findingsByRule(outcome.checked);
  const lines = [
    `entra-rbac-guard audit of ${context.cluster}`,
    `policy: ${context.policySource} (mode ${context.policy.mode}); directory: ${context.directory}`,
    '',
    ...(byRule.length > 0 ? byRule.flatMap(ruleSection) : ['No violations.', '']),
    ...exemptSection(outcome, context.policy),
    ...notesSection(outcome),
    ...summary(outcome, byRule),
  ];
  return `${lines.join('\n')}\n`;
}

function ruleSection({ rule, bindings, count }: RuleFindings): string[] {
  const help = ruleHelp(rule);
  const lines = [`${rule}: ${help.summary} ${count} finding${count === 1 ? '' : 's'} in ${plural(bindings.size, 'binding')}.`, `  fix: ${help.fix}`];
  for (const [binding, findings] of bindings) {
    lines.push(`  ${binding}`);
    for (const finding of findings) lines.push(...findingLines(finding));
  }
  return [...lines, ''];
}

function findingLines(finding: Finding): string[] {
  const now = finding.downgradedBecause ? ` (warned, not denied: ${finding.downgradedBecause})` : '';
  return [
    `    ${finding.action.padEnd(6)}${describeSubject(finding.subject)}${now}`,
    `         ${finding.message}`,
  ];
}

function exemptSection(outcome: AuditOutcome, policy: Policy): string[] {
  const byReason = new Map<string, string[]>();
  for (const { object, decision } of outcome.checked) {
    if (decision.exemption) byReason.set(decision.exemption, [...(byReason.get(decision.exemption) ?? []), describeObject(object)]);
  }
  const allowListed = outcome.checked.flatMap(({ object, binding, decision }) => {
    const subjects = binding && !decision.exemption ? allowListedSubjects(binding, policy, decision) : [];
    return subjects.length > 0 ? [`${describeObject(object)}: ${subjects.join(', ')}`] : [];
  });
  if (byReason.size === 0 && allowListed.length === 0) return [];
  const withAllowListed = allowListed.length > 0 ? `, and ${plural(allowListed.length, 'binding')} with allow-listed subjects` : '';
  const lines = [`Exempt: ${plural(exemptCount(outcome), 'object')} not judged${withAllowListed}.`];
  for (const [reason, objects] of byReason) lines.push(`  ${reason}: ${objects.length}`, ...limited(objects.sort(), '    '));
  if (allowListed.length > 0) lines.push(`  subjects the policy's allow lists permit: ${allowListed.length}`, ...limited(allowListed.sort(), '    '));
  return [...lines, ''];
}

function notesSection(outcome: AuditOutcome): string[] {
  const notes = outcome.checked.flatMap(({ object, decision }) => decision.notes.map((note) => `${describeObject(object)}: ${note}`));
  return notes.length === 0 ? [] : [`Notes: ${notes.length}`, ...limited(notes, '  '), ''];
}

function summary(outcome: AuditOutcome, byRule: readonly RuleFindings[]): string[] {
  const scanned = INVENTORY_KINDS.map((kind) => plural(outcome.counts[kind], kind));
  const findings = byRule.flatMap((rule) => [...rule.bindings.values()].flat());
  const deny = findings.filter((finding) => finding.action === 'deny').length;
  const rules = byRule.map(({ rule, count }) => `${rule} ${count}`);
  const violating = outcome.checked.filter(({ decision }) => decision.violations.length > 0).length;
  const exemptReasons = new Map<string, number>();
  for (const { decision } of outcome.checked) if (decision.exemption) exemptReasons.set(decision.exemption, (exemptReasons.get(decision.exemption) ?? 0) + 1);
  return [
    `Scanned ${plural(outcome.checked.length, 'object')} (${scanned.join(', ')}) in ${plural(outcome.pages, 'list request')}; ` +
      `${plural(outcome.groups, 'Entra group')} looked up.`,
    `Objects: ${violating} with violations, ${exemptCount(outcome)} exempt, ${outcome.checked.length - violating - exemptCount(outcome)} compliant.`,
    findings.length === 0
      ? 'Violations: none.'
      : `Violations: ${findings.length} (${deny} deny, ${findings.length - deny} warn) — ${rules.join(', ')}.`,
    `Exempt: ${exemptCount(outcome)}${exemptReasons.size > 0 ? ` — ${[...exemptReasons].map(([reason, count]) => `${count} ${reason}`).join('; ')}` : ''}.`,
  ];
}

function exemptCount(outcome: AuditOutcome): number {
  return outcome.checked.filter(({ decision }) => decision.exemption).length;
}

function limited(items: readonly string[], indent: string): string[] {
  const shown = items.slice(0, LIST_LIMIT).map((item) => `${indent}${item}`);
  return items.length > LIST_LIMIT ? [...shown, `${indent}… and ${items.length - LIST_LIMIT} more (--output json lists every one)`] : shown;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
