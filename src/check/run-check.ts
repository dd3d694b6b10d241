import { isBindingKind, readBinding } from '../admission/binding.ts';
import { isRoleKind, readRole } from '../admission/role.ts';
import { RBAC_GROUP } from '../admission/types.ts';
import type { Directory } from '../directory/port.ts';
import type { Policy } from '../policy/model.ts';
import { judgeRbac, type CheckedObject, type RbacEntry } from './judge.ts';
import type { ManifestObject } from './manifests.ts';

export type { CheckedObject, ObjectRef } from './judge.ts';

export interface CheckOutcome {
  readonly checked: readonly CheckedObject[];
  /** Objects that are not RBAC bindings or roles: counted, not judged. */
  readonly skipped: number;
}

/** Named in notes about roles a binding references that the input does not hold. */
export const INPUT_ROLES_SOURCE = 'the input';

/**
 * Judges manifests with the same engine as the webhook (see judgeRbac): a RoleBinding or Role without a namespace is
 * in `defaultNamespace`, as kubectl would put it.
 */
export async function checkManifests(
  objects: readonly ManifestObject[],
  policy: Policy,
  directory: Directory | undefined,
  defaultNamespace: string,
): Promise<CheckOutcome> {
  const entries = objects.flatMap(({ source, object }): RbacEntry[] => {
    if (!isRbac(object)) return [];
    if (isBindingKind(object['kind'])) {
      const binding = readBinding(object, source);
      return [{ source, binding: binding.kind === 'RoleBinding' && !binding.namespace ? { ...binding, namespace: defaultNamespace } : binding }];
    }
    const role = readRole(object, source);
    return [{ source, role: role.kind === 'Role' && !role.namespace ? { ...role, namespace: defaultNamespace } : role }];
  });
  const checked = await judgeRbac(entries, policy, directory, { rolesSource: INPUT_ROLES_SOURCE, complete: false });
  return { checked, skipped: objects.length - entries.length };
}

function isRbac(object: Record<string, unknown>): boolean {
  const apiVersion = object['apiVersion'];
  const kind = object['kind'];
  return typeof apiVersion === 'string' && apiVersion.startsWith(`${RBAC_GROUP}/`) && (isBindingKind(kind) || isRoleKind(kind));
}
