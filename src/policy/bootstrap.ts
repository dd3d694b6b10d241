import type { Binding, Subject } from '../admission/types.ts';
import { subjectKey, subjectRef } from './subjects.ts';

/**
 * The grants that kube-apiserver itself creates and reconciles on every start (its RBAC bootstrap policy,
 * Kubernetes 1.20 to 1.33). Matching is on binding kind, namespace, name, roleRef and subject together, so a
 * binding that copies one of these grants nothing the cluster does not already grant, and any other subject
 * added to such a binding is still judged. See docs/adr/0002-what-is-exempt.md.
 */
interface BootstrapGrant {
  readonly binding: string;
  readonly roleKind: 'ClusterRole' | 'Role';
  readonly role: string;
  readonly subjects: readonly string[];
}

const group = (name: string) => `Group//${name}`;
const user = (name: string) => `User//${name}`;
const serviceAccount = (namespace: string, name: string) => `ServiceAccount/${namespace}/${name}`;

/** A controller of kube-controller-manager: ClusterRoleBinding and ClusterRole `system:controller:NAME`, ServiceAccount kube-system/NAME. */
const controller = (name: string): BootstrapGrant => ({
  binding: `system:controller:${name}`,
  roleKind: 'ClusterRole',
  role: `system:controller:${name}`,
  subjects: [serviceAccount('kube-system', name)],
});

const CLUSTER_GRANTS: readonly BootstrapGrant[] = [
  { binding: 'cluster-admin', roleKind: 'ClusterRole', role: 'cluster-admin', subjects: [group('system:masters')] },
  ...['system:basic-user', 'system:discovery', 'system:public-info-viewer'].map(
    (name): BootstrapGrant => ({
      binding: name,
      roleKind: 'ClusterRole',
      role: name,
      subjects: [group('system:authenticated'), group('system:unauthenticated')],
    }),
  ),
  {
    binding: 'system:service-account-issuer-discovery',
    roleKind: 'ClusterRole',
    role: 'system:service-account-issuer-discovery',
    subjects: [group('system:serviceaccounts')],
  },
  // Kubernetes' own controllers whose roles grant what the escalation rule flags: escalate on clusterroles (the
  // aggregation controller), and every verb they hold on `*` resources, nodes/proxy and webhook configurations included.
  controller('clusterrole-aggregation-controller'),
  controller('generic-garbage-collector'),
  controller('namespace-controller'),
  controller('resourcequota-controller'),
  {
    binding: 'system:kube-controller-manager',
    roleKind: 'ClusterRole',
    role: 'system:kube-controller-manager',
    subjects: [user('system:kube-controller-manager')],
  },
];

const NAMESPACED_GRANTS: Readonly<Record<string, readonly BootstrapGrant[]>> = {
  'kube-system': [
    {
      binding: 'system::extension-apiserver-authentication-reader',
      roleKind: 'Role',
      role: 'extension-apiserver-authentication-reader',
      subjects: [user('system:kube-controller-manager'), user('system:kube-scheduler')],
    },
    {
      binding: 'system::leader-locking-kube-controller-manager',
      roleKind: 'Role',
      role: 'system::leader-locking-kube-controller-manager',
      subjects: [user('system:kube-controller-manager'), serviceAccount('kube-system', 'kube-controller-manager')],
    },
    {
      binding: 'system::leader-locking-kube-scheduler',
      roleKind: 'Role',
      role: 'system::leader-locking-kube-scheduler',
      subjects: [user('system:kube-scheduler'), serviceAccount('kube-system', 'kube-scheduler')],
    },
  ],
};

/** `BindingKind/namespace/name/RoleKind/role`, the namespace empty for a ClusterRoleBinding: one bootstrap grant's identity. */
function grantKey(kind: Binding['kind'], namespace: string, binding: string, roleKind: string, role: string): string {
  return `${kind}/${namespace}/${binding}/${roleKind}/${role}`;
}

/** Every bootstrap grant by grantKey: one lookup a review (a Map, so no namespace name can reach Object.prototype). */
const GRANTS: ReadonlyMap<string, BootstrapGrant> = new Map([
  ...CLUSTER_GRANTS.map((grant) => [grantKey('ClusterRoleBinding', '', grant.binding, grant.roleKind, grant.role), grant] as const),
  ...Object.entries(NAMESPACED_GRANTS).flatMap(([namespace, grants]) =>
    grants.map((grant) => [grantKey('RoleBinding', namespace, grant.binding, grant.roleKind, grant.role), grant] as const),
  ),
]);

function grantFor(binding: Binding): BootstrapGrant | undefined {
  const namespace = binding.kind === 'ClusterRoleBinding' ? '' : binding.namespace;
  return GRANTS.get(grantKey(binding.kind, namespace, binding.name, binding.roleRef.kind, binding.roleRef.name));
}

/**
 * Splits a binding's subjects into Kubernetes' own bootstrap grants and the rest, which the rules judge. Without a
 * bootstrap subject, `others` is the binding's own list (not a copy), so what is known about it is reused.
 */
export function partitionBootstrapSubjects(binding: Binding): { bootstrap: readonly Subject[]; others: readonly Subject[] } {
  const grant = grantFor(binding);
  if (!grant) return { bootstrap: [], others: binding.subjects };
  const bootstrap: Subject[] = [];
  const others: Subject[] = [];
  for (const subject of binding.subjects) {
    (grant.subjects.includes(subjectKey(subjectRef(subject))) ? bootstrap : others).push(subject);
  }
  return { bootstrap, others: bootstrap.length === 0 ? binding.subjects : others };
}

/**
 * Every bootstrap grant keyed as `BindingKind/namespace/name/RoleKind/role` (namespace empty for a
 * ClusterRoleBinding), with the subject keys (subjectKey) it exempts: the same table, for the backstop's CEL.
 */
export function bootstrapGrantsByBinding(): ReadonlyMap<string, readonly string[]> {
  return new Map([...GRANTS].map(([key, grant]) => [key, grant.subjects]));
}
