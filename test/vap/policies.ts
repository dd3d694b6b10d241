/** Policies the backstop's tests judge with, written as policy files are and read by the webhook's own parser. */
import { stringify } from 'yaml';
import type { Policy } from '../../src/policy/model.ts';
import { parsePolicy } from '../../src/policy/parse.ts';
import { ADMIN_GROUP_ID, GROUP_ID } from '../helpers.ts';

/** The time the tests call "now" by default; expiries are placed around it. */
export const BASE_MS = Date.parse('2026-12-08T18:00:00Z');

export function policyOf(document: Record<string, unknown>): Policy {
  const parsed = parsePolicy(stringify({ apiVersion: 'entra-rbac-guard/v1', kind: 'Policy', ...document }));
  if (!parsed.ok) throw new Error(`test policy does not parse: ${JSON.stringify(parsed.errors)}`);
  return parsed.policy;
}

const expiresAt = (offsetSeconds: number) => new Date(BASE_MS + offsetSeconds * 1000).toISOString().replace('.000Z', 'Z');

/** Named policies, from the default to every list set and time-boxed entries on both sides of BASE_MS. */
export const POLICIES: Readonly<Record<string, Policy>> = {
  default: policyOf({}),
  'admins and allow-lists': policyOf({
    adminGroups: [ADMIN_GROUP_ID],
    clusterAdminRoles: ['cluster-admin', 'platform-admin'],
    allow: {
      users: ['breakglass@contoso.com'],
      groups: ['oncall-break-glass'],
      clusterAdminSubjects: [{ kind: 'ServiceAccount', namespace: 'argocd', name: 'argocd-application-controller' }],
      namespaces: ['sandbox'],
      requesters: { usernames: ['ci@contoso.com'], groups: ['gitops'] },
    },
  }),
  'warn rules': policyOf({ adminGroups: [ADMIN_GROUP_ID], rules: { 'user-subject': 'warn', 'broad-group': 'warn', 'group-format': 'off' } }),
  'audit mode': policyOf({ mode: 'audit', adminGroups: [ADMIN_GROUP_ID] }),
  'time-boxed entries': policyOf({
    adminGroups: [ADMIN_GROUP_ID],
    allow: {
      users: ['breakglass@contoso.com', { name: 'alice@contoso.com', expires: expiresAt(0), reason: 'INC-4711' }],
      groups: [{ name: 'Payments Team', expires: expiresAt(3600) }],
      clusterAdminSubjects: [{ kind: 'User', name: 'alice@contoso.com', expires: expiresAt(0), reason: 'INC-4711' }, { kind: 'Group', name: GROUP_ID, expires: '2026-12-08t19:00:00+01:00' }],
      namespaces: [{ name: 'sandbox', expires: expiresAt(-60) }],
      requesters: { usernames: [{ name: 'incident@contoso.com', expires: expiresAt(30) }], groups: ['gitops'] },
    },
  }),
};
