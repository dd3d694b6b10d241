/**
 * The subset of admission.k8s.io/v1 and rbac.authorization.k8s.io/v1 that the webhook reads, written by hand.
 * Field comments follow the upstream API documentation. Everything is readonly: a review is data, never mutated.
 */

/** GroupVersionKind names a kind in an API group and version (request.kind, request.requestKind). */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** UserInfo holds the information about the user that made the request (request.userInfo). */
export interface UserInfo {
  /** The name that uniquely identifies this user among all active users. */
  readonly username: string;
  /** A unique value that identifies this user across time. */
  readonly uid?: string;
  /** The names of groups this user is a part of. */
  readonly groups: readonly string[];
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** Subject contains a reference to the object or user identities a role binding applies to. */
export interface Subject {
  /** Kind of object being referenced: "User", "Group" or "ServiceAccount". */
  readonly kind: string;
  /** Name of the object being referenced. */
  readonly name: string;
  /** Namespace of the referenced object; required for ServiceAccount, empty for User and Group. */
  readonly namespace?: string;
  /** API group of the referenced subject: "" for ServiceAccount, "rbac.authorization.k8s.io" for User and Group. */
  readonly apiGroup?: string;
}

/** RoleRef contains information that points to the role being used. It cannot be changed after creation. */
export interface RoleRef {
  /** The group for the resource being referenced. */
  readonly apiGroup: string;
  /** The type of resource being referenced: "Role" or "ClusterRole". */
  readonly kind: string;
  /** The name of the resource being referenced. */
  readonly name: string;
}

export type BindingKind = 'RoleBinding' | 'ClusterRoleBinding';

/** A RoleBinding or ClusterRoleBinding, narrowed to what the policy reads. */
export interface Binding {
  readonly kind: BindingKind;
  /** metadata.namespace; "" for a ClusterRoleBinding. */
  readonly namespace: string;
  readonly name: string;
  /** Subjects holds references to the objects the role applies to. May be empty. */
  readonly subjects: readonly Subject[];
  readonly roleRef: RoleRef;
}

/** A review narrowed by decode: the rest of the code never sees `unknown`. */
export interface AdmissionChange {
  /** request.uid: echoed in the response so the API server can match it. */
  readonly uid: string;
  /** The AdmissionReview apiVersion of the request; the response must carry the same. */
  readonly apiVersion: string;
  readonly operation: Operation;
  readonly kind: GroupVersionKind;
  readonly namespace: string;
  readonly name: string;
  readonly requester: UserInfo;
  /** request.dryRun: the API server will not persist the object. The decision is the same. */
  readonly dryRun: boolean;
  /** The binding after the change; undefined on DELETE and for kinds the policy does not evaluate. */
  readonly binding?: Binding;
  /** On UPDATE, the binding as it was before. */
  readonly oldBinding?: Binding;
}

/** Warning texts and audit annotations that the API server will accept. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: string;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const ADMISSION_V1 = 'admission.k8s.io/v1';
