import type { Subject } from '../admission/types.ts';
import type { Policy } from './model.ts';
import { compiledPolicy } from './compiled-policy.ts';
import { broadIdentityMeaning, isIssuedSystemGroup, localAccountReason } from './identities.ts';
import { isEntraObjectId, isKubernetesSystemName } from './subjects.ts';

/** What the rules ask about one subject, worked out once: each rule filters on these instead of re-testing names. */
export interface SubjectTraits {
  readonly subject: Subject;
  /** A User or Group the policy's allow.users or allow.groups lists. */
  readonly allowListed: boolean;
  /** A Group named by an Entra object ID (a lower-case GUID). */
  readonly entraObjectId: boolean;
  /** A `system:` name: one of Kubernetes' own identities, never an Entra account or group. */
  readonly systemName: boolean;
  /** A `system:` Group that Kubernetes never issues: it names nobody (group-format). */
  readonly unissuedSystemGroup: boolean;
  /** One of the built-in identities that stand for everyone (broad-group). */
  readonly broad: boolean;
  /** An identity that authenticates without Entra ID (local-account). */
  readonly localAccount: boolean;
}

/** A binding's subjects as the rules see them, in binding order. */
export interface BindingSubjects {
  readonly traits: readonly SubjectTraits[];
  /** Group subjects naming an Entra object ID and not allow-listed: what the directory is asked about. */
  readonly entraGroups: readonly Subject[];
  /** The IDs of `entraGroups`, each once. */
  readonly entraGroupIds: readonly string[];
}

/**
 * One review asks this of the same subjects twice in a row (factsNeeded at the edge, then the engine): the last answer
 * is kept. One slot, not a WeakMap keyed by every review's subjects: such a map makes each garbage collection walk its
 * entries, which cost more than the classification it saves. Subjects lists are never changed once decoded.
 */
let last: { readonly subjects: readonly Subject[]; readonly policy: Policy; readonly result: BindingSubjects } | undefined;

/** The traits of every subject, in one pass. */
export function subjectsOf(subjects: readonly Subject[], policy: Policy): BindingSubjects {
  if (last && last.subjects === subjects && last.policy === policy) return last.result;
  const { allowUsers, allowGroups } = compiledPolicy(policy);
  const traits: SubjectTraits[] = [];
  const entraGroups: Subject[] = [];
  for (const subject of subjects) {
    const trait = traitsOf(subject, allowUsers, allowGroups);
    traits.push(trait);
    if (trait.entraObjectId && !trait.allowListed) entraGroups.push(subject);
  }
  const result: BindingSubjects = { traits, entraGroups, entraGroupIds: [...new Set(entraGroups.map((subject) => subject.name))] };
  last = { subjects, policy, result };
  return result;
}

function traitsOf(subject: Subject, allowUsers: ReadonlySet<string>, allowGroups: ReadonlySet<string>): SubjectTraits {
  const user = subject.kind === 'User';
  const group = subject.kind === 'Group';
  const entraObjectId = group && isEntraObjectId(subject.name);
  const systemName = !entraObjectId && isKubernetesSystemName(subject.name);
  // A GUID is none of these: the built-in identities all have names.
  const broad = !entraObjectId && broadIdentityMeaning(subject) !== undefined;
  return {
    subject,
    allowListed: (user && allowUsers.has(subject.name)) || (group && allowGroups.has(subject.name)),
    entraObjectId,
    systemName,
    unissuedSystemGroup: group && systemName && !broad && !isIssuedSystemGroup(subject.name),
    broad,
    localAccount: !entraObjectId && localAccountReason(subject) !== undefined,
  };
}
