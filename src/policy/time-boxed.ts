import { violationKey, type Decision, type TimeBoxedExemption, type Violation } from './decision.ts';
import type { Review } from './engine.ts';
import type { Facts } from './facts.ts';
import type { AllowList, Policy, TimeBoxedEntry } from './model.ts';
import type { PolicyProblem } from './parse.ts';
import { sameSubject, subjectRef } from './subjects.ts';

type Judge = (review: Review, policy: Policy, facts: Facts) => Decision;

/**
 * Judges with the allow-list entries that have not expired at `facts.now`, and says what the time-boxed ones changed:
 * a decision an unexpired entry made less strict names the entry, its reason and its expiry (a warning, an audit
 * annotation, the result's exemption); a violation that an expired entry would have exempted says so (a break-glass
 * grant that outlived its window). Comparing against the same judgement without (or with) the entries keeps every rule
 * unaware of time.
 */
export function judgeWithTimeBoxed(review: Review, policy: Policy, facts: Facts, judge: Judge): Decision {
  const expired: TimeBoxedEntry[] = [];
  const active: TimeBoxedEntry[] = [];
  for (const entry of policy.timeBoxed) (facts.now === undefined || entry.expiresAtMs <= facts.now ? expired : active).push(entry);
  const decision = judge(review, policyWithout(policy, expired), facts);
  // An entry can only matter to a violation about its subject, namespace or requester; which one does is then
  // checked by judging without (or with) that entry alone. A review that names none of them is judged once.
  const exempted = active.some((entry) => mayConcern(entry, review)) ? stricterIn(judge(review, withoutTimeBoxed(policy), facts), decision) : [];
  const used = active.flatMap((entry) => {
    if (!exempted.some((violation) => concerns(entry, violation, review))) return [];
    const without = stricterIn(judge(review, policyWithout(policy, [...expired, entry]), facts), decision);
    return without.length > 0 ? [{ entry, exempted: without[0]! }] : [];
  });
  // Only a violation an expired entry concerns can have lapsed: other reviews are not judged again for it.
  const lapsedCandidates = decision.violations.some((violation) => expired.some((entry) => concerns(entry, violation, review)));
  const lapsed = lapsedCandidates ? stricterIn(decision, judge(review, policyWithout(policy, []), facts)) : [];
  const lapsedBy = expired.flatMap((entry) => {
    if (!lapsed.some((violation) => concerns(entry, violation, review))) return [];
    const revived = stricterIn(decision, judge(review, policyWithout(policy, expired.filter((other) => other !== entry)), facts));
    return revived.length > 0 ? [{ entry, keys: new Set(revived.map(violationKey)) }] : [];
  });
  const violations = decision.violations.map((violation) => {
    const found = lapsedBy.find(({ keys }) => keys.has(violationKey(violation)));
    return found ? withExpiredExemption(violation, found.entry) : violation;
  });
  if (used.length === 0) return lapsedBy.length === 0 ? decision : { ...decision, violations };
  const exemption = used.map(({ entry }) => describeEntry(entry)).join('; ');
  return {
    ...decision,
    violations,
    notes: [...decision.notes, ...used.map(({ entry, exempted: violation }) => activeNote(entry, violation))],
    timeBoxedExemptions: used.map(({ entry }) => exemptionOf(entry)),
    ...(decision.allowed ? { exemption: decision.exemption ? `${decision.exemption} (break-glass ${exemption})` : `break-glass ${exemption}` } : {}),
  };
}

/** The policy as it will be once every time-boxed entry has expired (the policy itself when it has none). */
export function withoutTimeBoxed(policy: Policy): Policy {
  return policy.timeBoxed.length === 0 ? policy : policyWithout(policy, policy.timeBoxed);
}

/** A parsed policy's warnings as of `nowMs`: the parser's, then one for each time-boxed entry that has expired. */
export function policyWarningsAt(parsed: { readonly policy: Policy; readonly warnings: readonly PolicyProblem[] }, nowMs: number): PolicyProblem[] {
  return [...parsed.warnings, ...expiredWarnings(parsed.policy, nowMs)];
}

/** A warning for each time-boxed entry that has expired at `nowMs`: it exempts nothing now and should go. */
export function expiredWarnings(policy: Policy, nowMs: number): PolicyProblem[] {
  return policy.timeBoxed
    .filter((entry) => entry.expiresAtMs <= nowMs)
    .map((entry) => ({
      path: `${entry.list}[${entry.index}]`,
      message:
        `"${entry.name}"${entry.reason ? ` (${entry.reason})` : ''} expired at ${entry.expires} and exempts nothing now: remove it; ` +
        '`entra-rbac-guard audit` lists the grants it leaves behind',
    }));
}

export function describeEntry(entry: TimeBoxedExemption): string {
  return `${entryName(entry)} until ${entry.expires}`;
}

/** `allow.users "alice@contoso.com" (INC-4711)`: the list, the name, and the reason when there is one. */
function entryName(entry: TimeBoxedExemption): string {
  return `${entry.list} "${entry.name}"${entry.reason ? ` (${entry.reason})` : ''}`;
}

/** The policy without the given entries (by list and index), made once per policy and set of entries. */
function policyWithout(policy: Policy, entries: readonly TimeBoxedEntry[]): Policy {
  const key = entries.map((entry) => `${entry.list}[${entry.index}]`).join(',');
  let byKey = derived.get(policy);
  if (!byKey) derived.set(policy, (byKey = new Map()));
  let result = byKey.get(key);
  if (!result) {
    const keep = <T>(list: AllowList, values: readonly T[]) =>
      values.filter((_, index) => !entries.some((entry) => entry.list === list && entry.index === index));
    const { allow } = policy;
    result = {
      ...policy,
      allow: {
        users: keep('allow.users', allow.users),
        groups: keep('allow.groups', allow.groups),
        clusterAdminSubjects: keep('allow.clusterAdminSubjects', allow.clusterAdminSubjects),
        namespaces: keep('allow.namespaces', allow.namespaces),
        requesters: { usernames: keep('allow.requesters.usernames', allow.requesters.usernames), groups: keep('allow.requesters.groups', allow.requesters.groups) },
      },
      timeBoxed: [],
    };
    byKey.set(key, result);
  }
  return result;
}

const derived = new WeakMap<Policy, Map<string, Policy>>();

/** The violations of `strict` that `lenient` lacks, or only warns about where `strict` denies. */
function stricterIn(strict: Decision, lenient: Decision): Violation[] {
  const lenientByKey = new Map(lenient.violations.map((violation) => [violationKey(violation), violation]));
  return strict.violations.filter((violation) => {
    const same = lenientByKey.get(violationKey(violation));
    return !same || (violation.action === 'deny' && same.action === 'warn');
  });
}

/** Whether `entry` could exempt `violation` in `review`: it names its subject, the namespace or the requester. */
function concerns(entry: TimeBoxedEntry, violation: Violation, review: Review): boolean {
  const { subject } = violation;
  switch (entry.list) {
    case 'allow.users':
      return subject.kind === 'User' && subject.name === entry.name;
    case 'allow.groups':
      return subject.kind === 'Group' && subject.name === entry.name;
    case 'allow.clusterAdminSubjects':
      return entry.subject !== undefined && sameSubject(entry.subject, subject);
    case 'allow.namespaces':
      return namespaceOf(review) === entry.name || violation.viaNamespace === entry.name;
    case 'allow.requesters.usernames':
    case 'allow.requesters.groups':
      return mayConcern(entry, review);
  }
}

/**
 * Whether `entry` could concern anything in `review`, before any judgement: a binding's subject, its namespace, the
 * requester. A role under review is judged through bindings not in the review, so any entry may concern it.
 */
function mayConcern(entry: TimeBoxedEntry, review: Review): boolean {
  const { binding } = review;
  if (!binding) return true;
  switch (entry.list) {
    case 'allow.users':
      return binding.subjects.some((subject) => subject.kind === 'User' && subject.name === entry.name);
    case 'allow.groups':
      return binding.subjects.some((subject) => subject.kind === 'Group' && subject.name === entry.name);
    case 'allow.clusterAdminSubjects':
      return entry.subject !== undefined && binding.subjects.some((subject) => sameSubject(entry.subject!, subjectRef(subject)));
    case 'allow.namespaces':
      return namespaceOf(review) === entry.name;
    case 'allow.requesters.usernames':
      return review.requester?.username === entry.name;
    case 'allow.requesters.groups':
      return review.requester?.groups.includes(entry.name) ?? false;
  }
}

function namespaceOf(review: Review): string | undefined {
  if (review.binding?.kind === 'RoleBinding') return review.binding.namespace;
  if (review.role?.kind === 'Role') return review.role.namespace;
  return undefined;
}

function exemptionOf(entry: TimeBoxedEntry): TimeBoxedExemption {
  return { list: entry.list, name: entry.name, expires: entry.expires, ...(entry.reason ? { reason: entry.reason } : {}) };
}

function activeNote(entry: TimeBoxedEntry, exempted: Violation): string {
  return `Allowed by the break-glass entry ${describeEntry(entry)}; once it expires: ${exempted.message}`;
}

function withExpiredExemption(violation: Violation, entry: TimeBoxedEntry): Violation {
  const exemption = exemptionOf(entry);
  return {
    ...violation,
    message:
      `${violation.message} (the break-glass entry ${entryName(entry)} expired at ${entry.expires}: ` +
      "remove the grant and the entry once the emergency is over; while it lasts, ask the policy's owner to extend its expires)",
    expiredExemption: exemption,
  };
}
