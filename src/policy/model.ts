/** The policy document (`apiVersion: entra-rbac-guard/v1`, `kind: Policy`) after parsing and defaulting. */

export const RULE_IDS = [
  'user-subject',
  'group-format',
  'group-unknown',
  'group-not-security-enabled',
  'directory-unavailable',
  'cluster-admin',
  'escalation',
  'broad-group',
  'local-account',
] as const;

export type RuleId = (typeof RULE_IDS)[number];

/** What a rule's violation does: deny the request, allow it with a warning, or nothing. */
export type RuleAction = 'deny' | 'warn' | 'off';

export type Mode = 'enforce' | 'audit';

export interface SubjectRef {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** The allow-lists, by their path in the policy document. */
export type AllowList =
  | 'allow.users'
  | 'allow.groups'
  | 'allow.clusterAdminSubjects'
  | 'allow.namespaces'
  | 'allow.requesters.usernames'
  | 'allow.requesters.groups';

/**
 * An allow-list entry written with `expires` (a break-glass grant): it exempts as any entry until then, and nothing
 * after. Its value is also in the list it sits in; `index` says where, so a permanent entry of the same name stays.
 */
export interface TimeBoxedEntry {
  readonly list: AllowList;
  readonly index: number;
  /** The user, group or namespace name; for allow.clusterAdminSubjects, the subject's name. */
  readonly name: string;
  /** For allow.clusterAdminSubjects: the whole subject. */
  readonly subject?: SubjectRef;
  /** As written (RFC 3339), for messages. */
  readonly expires: string;
  readonly expiresAtMs: number;
  readonly reason?: string;
}

export interface Policy {
  readonly mode: Mode;
  /** Entra object IDs of the groups that may hold cluster-admin. */
  readonly adminGroups: readonly string[];
  /** ClusterRoles treated as cluster-admin. */
  readonly clusterAdminRoles: readonly string[];
  readonly rules: Readonly<Record<RuleId, RuleAction>>;
  readonly allow: {
    readonly users: readonly string[];
    readonly groups: readonly string[];
    readonly clusterAdminSubjects: readonly SubjectRef[];
    readonly namespaces: readonly string[];
    readonly requesters: { readonly usernames: readonly string[]; readonly groups: readonly string[] };
  };
  /** The allow-list entries that expire, in document order; their values are in `allow` too. */
  readonly timeBoxed: readonly TimeBoxedEntry[];
  readonly directory: {
    readonly verify: boolean;
    readonly requireSecurityEnabled: boolean;
    readonly onError: 'deny' | 'allow';
    /** batch: GET /groups/{id} in $batch (GroupMember.Read.All); getByIds: directoryObjects/getByIds (Directory.Read.All). */
    readonly lookup: 'batch' | 'getByIds';
  };
}
