/**
 * One input judged by both: the generated backstop (CEL) and the engine without directory or role facts (the
 * webhook's verdict on what needs no facts). The backstop must never deny what the engine allows, and must match it
 * except where its documented leniency applies.
 */
import { backstopObjects, DEFAULT_BACKSTOP_OPTIONS, type BackstopOptions } from '../../src/backstop/generate.ts';
import { EXPIRY_GRACE_SECONDS } from '../../src/backstop/cel.ts';
import { BACKSTOP_RULES } from '../../src/backstop/rules/index.ts';
import { MAX_SUBJECTS } from '../../src/backstop/variables.ts';
import type { Violation } from '../../src/policy/decision.ts';
import { GROUP_FORMAT_ADVICE } from '../../src/policy/rules/group-format.ts';
import type { Policy, RuleId } from '../../src/policy/model.ts';
import { runBackstop, runEngine, stampedAt, type AdmissionRequest } from './harness.ts';

const BACKSTOP_RULE_IDS = new Set<RuleId>(BACKSTOP_RULES.map((rule) => rule.id));
const GRACE_MS = EXPIRY_GRACE_SECONDS * 1000;

export type Leniency = 'time-boxed entry on UPDATE' | 'time-boxed entry within the expiry grace' | `more than ${typeof MAX_SUBJECTS} subjects`;

export interface Comparison {
  /** The same verdict: denied or not, by the same rules. */
  readonly agree: boolean;
  /** Why the backstop allowed what the engine denies, when that is by design. */
  readonly lenient?: Leniency;
  /** The engine denies by a rule the backstop holds. */
  readonly denied: boolean;
  readonly operation: string;
  /** What must not happen: the backstop stricter, a CEL error, a wrong message, an unexplained difference. */
  readonly problems: readonly string[];
}

export function compare(policy: Policy, request: AdmissionRequest, nowMs: number, options: BackstopOptions = DEFAULT_BACKSTOP_OPTIONS): Comparison {
  const stamped = stampedAt(request, nowMs);
  const verdict = runBackstop(backstopObjects(policy, options), stamped);
  const decision = runEngine(stamped, policy, nowMs);
  const mine = decision.violations.filter((violation) => BACKSTOP_RULE_IDS.has(violation.rule));
  const engineDenied = rulesOf(mine.filter((violation) => violation.action === 'deny'));
  const backstopDenied = [...new Set(verdict.denied.map((finding) => finding.rule))];
  const problems = [...verdict.errors.map((error) => `CEL error: ${error}`)];
  if (backstopDenied.length > 0 && !decision.allowed) {
    // Denied by both: fine whatever the rules.
  } else if (backstopDenied.length > 0) {
    problems.push(`stricter than the webhook: the backstop denies (${backstopDenied.join(', ')}) what the engine allows`);
  }
  const lenient = leniencyOf(policy, stamped, nowMs);
  for (const finding of [...verdict.denied, ...verdict.warned]) {
    // The API server refuses a messageExpression result with a line break.
    if (/[\r\n]/.test(finding.message)) problems.push(`a line break in the message of ${finding.rule}: ${finding.message}`);
    const ofRule = mine.filter((violation) => violation.rule === finding.rule);
    if (ofRule.length === 0) problems.push(`the backstop flags ${finding.rule}, the engine does not: ${finding.message}`);
    const expected = (verdict.denied.includes(finding) ? ofRule.filter((violation) => violation.action === 'deny') : ofRule).map((violation) => violation.message);
    // Where a leniency applies, the backstop may name fewer subjects than the webhook.
    if (request.operation === 'CREATE' && !lenient && !sameMessages(finding.message, expected)) {
      problems.push(`message of ${finding.rule}:\n  backstop: ${finding.message}\n  webhook:  ${expected.join('; ')}`);
    }
  }
  // The verdict: denied or not, by the same rules. Warnings are a subset (above): on UPDATE the webhook also warns
  // about what the old object had, and about exempt requesters, whom the backstop does not judge at all.
  const agree = sameSet(engineDenied, backstopDenied);
  const facts = { denied: engineDenied.length > 0, operation: request.operation };
  if (agree) return { agree, ...facts, problems };
  if (!lenient) problems.push(`differs from the webhook without a documented reason: engine ${JSON.stringify(mine.map(brief))}, backstop ${JSON.stringify(verdict)}`);
  return { agree, ...facts, ...(lenient ? { lenient } : {}), problems };
}

function brief(violation: Violation): string {
  return `${violation.rule} ${violation.action} ${violation.subject.kind}/${violation.subject.name}`;
}

function rulesOf(violations: readonly Violation[]): RuleId[] {
  return [...new Set(violations.map((violation) => violation.rule))];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

/**
 * The webhook's messages for the rule, joined as the backstop joins them. A misspelt system: group gets a "did you
 * mean" from the webhook, which needs an edit distance CEL has not: there the backstop's general advice is expected.
 */
function sameMessages(actual: string, expected: readonly string[]): boolean {
  if (actual === expected.join('; ')) return true;
  const general = expected.map((message) =>
    message
      // The webhook names a lapsed break-glass entry; CEL does not know which entry it would have been.
      .replace(/ \(the break-glass entry .* expired at \S+: [^()]*\)$/, '')
      .replace(/did you mean "[^"]+"\?$/, GROUP_FORMAT_ADVICE.unissuedSystemGroupInstead),
  );
  return actual === general.join('; ');
}

/**
 * Where the backstop is more lenient by design: on UPDATE CEL has no clock, so a time-boxed entry still exempts after
 * its expiry; on CREATE it exempts for EXPIRY_GRACE past it (clock skew); bindings above MAX_SUBJECTS are the webhook's.
 */
function leniencyOf(policy: Policy, request: AdmissionRequest, nowMs: number): Leniency | undefined {
  const subjects = (object: Record<string, any> | null) => (object?.['subjects'] as unknown[] | undefined)?.length ?? 0;
  if (subjects(request.object) > MAX_SUBJECTS || subjects(request.oldObject) > MAX_SUBJECTS) return `more than ${MAX_SUBJECTS} subjects`;
  const expired = policy.timeBoxed.filter((entry) => entry.expiresAtMs <= nowMs);
  if (expired.length === 0) return undefined;
  if (request.operation === 'UPDATE') return 'time-boxed entry on UPDATE';
  return expired.some((entry) => nowMs < entry.expiresAtMs + GRACE_MS) ? 'time-boxed entry within the expiry grace' : undefined;
}
