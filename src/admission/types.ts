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

/**
 * PolicyRule holds information that describes a policy rule, but does not contain information about who the rule
 * applies to or which namespace the rule applies to.
 */
export interface PolicyRule {
  /** Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule. '*' represents all verbs. */
  readonly verbs: readonly string[];
  /**
   * APIGroups is the name of the APIGroup that contains the resources. If multiple API groups are specified, any
   * action requested against one of the enumerated resources in any API group will be allowed. "" represents the
   * core API group and "*" represents all API groups.
   */
  readonly apiGroups: readonly string[];
  /** Resources is a list of resources this rule applies to. '*' represents all resources; "*\/scale" a subresource of all. */
  readonly resources: readonly string[];
  /** ResourceNames is an optional white list of names that the rule applies to. An empty set means that everything is allowed. */
  readonly resourceNames: readonly string[];
  /** NonResourceURLs is a set of partial urls that a user should have access to (ClusterRoles only). */
  readonly nonResourceURLs: readonly string[];
}

/** A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values. */
export interface LabelSelectorRequirement {
  readonly key: string;
  /** Represents a key's relationship to a set of values: In, NotIn, Exists and DoesNotExist. */
  readonly operator: string;
  /** Must be non-empty for In and NotIn, empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/** A label selector: the requirements are ANDed; an empty selector matches every object. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

/** AggregationRule describes how to locate ClusterRoles to aggregate into the ClusterRole. */
export interface AggregationRule {
  /**
   * ClusterRoleSelectors holds a list of selectors which will be used to find ClusterRoles and create the rules. If
   * any of the selectors match, then the ClusterRole's permissions will be added.
   */
  readonly clusterRoleSelectors: readonly LabelSelector[];
}

export type RoleKind = 'Role' | 'ClusterRole';

/** A Role or ClusterRole, narrowed to what the policy reads. */
export interface RbacRole {
  readonly kind: RoleKind;
  /** metadata.namespace; "" for a ClusterRole. */
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Rules holds all the PolicyRules for this Role. For an aggregated ClusterRole the controller manager fills them
   * in from the ClusterRoles its aggregationRule selects; writes to them are stomped.
   */
  readonly rules: readonly PolicyRule[];
  /** ClusterRoles only: if set, the rules are controlled by the controller manager. */
  readonly aggregationRule?: AggregationRule;
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
  /** The Role or ClusterRole after the change; undefined on DELETE and for other kinds. */
  readonly role?: RbacRole;
  /** On UPDATE, the role as it was before. */
  readonly oldRole?: RbacRole;
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
