import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TEMPLATE_PATH = fileURLToPath(
  new URL('../test/fixtures/admission-reviews/04-UPDATE-RoleBinding-payments-viewers.json', import.meta.url),
);

/** A stable lower-case GUID for group number `index` (the same IDs every run, so caches behave alike). */
export function groupId(index: number, prefix = 'b'): string {
  const hex = index.toString(16).padStart(12, '0');
  return `${prefix.repeat(8)}-0000-4000-8000-${hex}`;
}

/**
 * A realistic AdmissionReview as a real kube-apiserver sends it (recorded UPDATE with managedFields, userInfo,
 * options and oldObject), with `subjects` Entra groups in both object and oldObject.
 */
export function admissionReview(subjects: number, groupPrefix = 'b'): string {
  const review = JSON.parse(readFileSync(TEMPLATE_PATH, 'utf8'));
  const groups = Array.from({ length: subjects }, (_, index) => ({
    kind: 'Group',
    apiGroup: 'rbac.authorization.k8s.io',
    name: groupId(index, groupPrefix),
  }));
  review.request.object.subjects = groups;
  review.request.oldObject.subjects = groups;
  return JSON.stringify(review);
}

/** The directory snapshot that knows every group the payloads name (all security-enabled). */
export function snapshotGroups(count: number, groupPrefix = 'b') {
  return Array.from({ length: count }, (_, index) => ({
    id: groupId(index, groupPrefix),
    displayName: `Team ${index}`,
    securityEnabled: true,
  }));
}
