import { broadGroup } from './broad-group.ts';
import { clusterAdmin } from './cluster-admin.ts';
import { groupFormat } from './group-format.ts';
import { localAccount } from './local-account.ts';
import type { BackstopRule } from './rule.ts';
import { userSubject } from './user-subject.ts';

/** The rules CEL can judge from the request alone, in the engine's order (RULES). */
export const BACKSTOP_RULES: readonly BackstopRule[] = [userSubject, groupFormat, clusterAdmin, broadGroup, localAccount];

/**
 * What stays the webhook's alone, and why: each needs facts that are not in the request. Printed at the top of
 * `policy vap` and tabled in docs/policy.md.
 */
export const WEBHOOK_ONLY: readonly { readonly what: string; readonly why: string }[] = [
  { what: 'group-unknown, group-not-security-enabled, directory-unavailable', why: 'they ask Microsoft Entra ID (Microsoft Graph) about each group' },
  { what: 'cluster-admin of a ClusterRole that grants everything under another name', why: "it reads the bound role's rules from the cluster" },
  { what: 'escalation', why: "it reads what the bound role grants" },
  { what: 'changes to Roles and ClusterRoles (widening, aggregation)', why: 'they are judged through the bindings that hold them, read from the cluster' },
];
