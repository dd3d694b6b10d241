import { isBindingKind, readBinding } from '../admission/binding.ts';
import { RBAC_GROUP, type Binding } from '../admission/types.ts';
import { gatherFacts, type Directory } from '../directory/port.ts';
import type { Decision } from '../policy/decision.ts';
import { evaluate } from '../policy/engine.ts';
import type { Policy } from '../policy/model.ts';
import { factsNeeded } from '../policy/needs.ts';
import type { ManifestObject } from './manifests.ts';

export interface CheckedObject {
  readonly source: string;
  readonly binding: Binding;
  readonly decision: Decision;
}

export interface CheckOutcome {
  readonly checked: readonly CheckedObject[];
  /** Objects that are not RBAC bindings: counted, not judged. */
  readonly skipped: number;
}

/** Judges manifests with the same engine as the webhook: each binding as a CREATE, groups looked up all at once. */
export async function checkManifests(
  objects: readonly ManifestObject[],
  policy: Policy,
  directory: Directory | undefined,
  defaultNamespace: string,
): Promise<CheckOutcome> {
  const bindings = objects.flatMap(({ source, object }) => {
    if (!isRbacBinding(object)) return [];
    const binding = readBinding(object, source);
    return [{ source, binding: binding.kind === 'RoleBinding' && !binding.namespace ? { ...binding, namespace: defaultNamespace } : binding }];
  });
  const reviews = bindings.map(({ binding }) => ({
    operation: 'CREATE' as const,
    kind: { group: RBAC_GROUP, version: 'v1', kind: binding.kind },
    binding,
  }));
  const groupIds = [...new Set(reviews.flatMap((review) => factsNeeded(review, policy).groupIds))];
  const facts = await gatherFacts({ groupIds }, directory);
  return {
    checked: bindings.map((entry, index) => ({ ...entry, decision: evaluate(reviews[index]!, policy, facts) })),
    skipped: objects.length - bindings.length,
  };
}

function isRbacBinding(object: Record<string, unknown>): boolean {
  const apiVersion = object['apiVersion'];
  return typeof apiVersion === 'string' && apiVersion.startsWith(`${RBAC_GROUP}/`) && isBindingKind(object['kind']);
}
