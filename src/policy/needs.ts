import type { Binding } from '../admission/types.ts';
import type { Policy } from './model.ts';
import { entraGroupSubjects } from './subjects.ts';

export interface FactsNeeded {
  /** Entra object IDs (lower-case GUIDs only) to look up in the directory, each once. */
  readonly groupIds: readonly string[];
}

/** What the engine will need to know about a review, so the edge fetches exactly that and nothing else. */
export function factsNeeded(review: { readonly operation: string; readonly binding?: Binding }, policy: Policy): FactsNeeded {
  const { binding } = review;
  if (!binding || !policy.directory.verify || (review.operation !== 'CREATE' && review.operation !== 'UPDATE')) {
    return { groupIds: [] };
  }
  if (binding.kind === 'RoleBinding' && policy.allow.namespaces.includes(binding.namespace)) return { groupIds: [] };
  return { groupIds: [...new Set(entraGroupSubjects(binding, policy).map((subject) => subject.name))] };
}
