/**
 * The embedded default policy, printed by `policy default` and used when no --policy is given.
 * Kept as YAML text (not an object) so that the comments reach the user.
 */
export const DEFAULT_POLICY_YAML = `# entra-rbac-guard policy. Every field is optional: an omitted field takes the value shown here.
apiVersion: entra-rbac-guard/v1
kind: Policy

# enforce: violations of rules set to "deny" are rejected.
# audit:   dry-run; nothing is denied, every violation becomes a warning (kubectl prints it), an audit annotation,
#          a log line and a metric. Start here, read the warnings, then switch to enforce.
mode: enforce

# Microsoft Entra object IDs (lower-case GUIDs) of the groups allowed to hold cluster-admin: the groups you passed
# to AKS with --aad-admin-group-object-ids. While this is empty and cluster-admin is denied, nobody can be granted
# cluster-admin through a new binding.
adminGroups: []

# ClusterRoles treated as cluster-admin. With a role cache (serve) or roles in the input (check), any ClusterRole whose
# rules grant every verb on every resource in every API group is treated as cluster-admin too, whatever its name.
clusterAdminRoles: [cluster-admin]

# Per rule: deny | warn | off.
rules:
  user-subject: deny                # a User subject: bind an Entra group instead
  group-format: deny                # a Group that is not a lower-case Entra object ID (a display name never matches)
  group-unknown: deny               # an Entra object ID that does not exist in the directory
  group-not-security-enabled: deny  # a group that exists but is not security-enabled (e.g. a Microsoft 365 group)
  cluster-admin: deny               # cluster-admin to anyone but adminGroups and allow.clusterAdminSubjects
  escalation: deny                  # a role granting escalate, bind, impersonate, nodes/proxy or writes to webhook
                                    # configurations, to anyone but adminGroups and allow.clusterAdminSubjects
  broad-group: deny                 # system:authenticated, system:unauthenticated, system:serviceaccounts, system:anonymous
  local-account: deny               # system:masters and the AKS local accounts clusterAdmin and clusterUser
  # directory-unavailable follows directory.onError below.

# Exceptions. None of them can be set by whoever writes the object under review: they live here only.
# Any entry may be time-boxed (break-glass): {name: alice@contoso.com, expires: "2026-12-08T18:00:00Z", reason: INC-4711}
# (in clusterAdminSubjects: {kind: User, name: ..., expires: ..., reason: ...}). Until it expires it exempts as a plain
# entry and each decision it changes says so; after, it exempts nothing and audits flag the grants it left behind.
allow:
  users: []                 # User subjects that may be bound (break-glass accounts, a workload's object ID)
  groups: []                # non-Entra group names that may be bound
  clusterAdminSubjects: []  # extra subjects allowed to hold cluster-admin and escalating roles, e.g. {kind: Group,
                            # name: <object ID>} or an operator's {kind: ServiceAccount, namespace: NS, name: NAME}
  namespaces: []            # namespaces whose RoleBindings are not checked (never applies to ClusterRoleBindings)
  requesters:               # requests by these identities pass; their violations still warn and are annotated
    usernames: []
    groups: []

directory:
  verify: true                  # look Group subjects up in Microsoft Entra (or in a --directory snapshot)
  requireSecurityEnabled: true  # only security-enabled groups appear in a token's groups claim
  onError: deny                 # deny | allow (with a warning) when the directory cannot answer
  lookup: batch                 # batch: GET /groups/{id} in \$batch requests of 20 (needs GroupMember.Read.All);
                                # getByIds: directoryObjects/getByIds, 1,000 IDs a request, for audits of thousands of
                                # groups (needs Directory.Read.All)
`;
