import type { MemberFact } from '../../directory/port.ts';
import { groupFact, type GroupFact } from '../../policy/facts.ts';
import { fail, pass, verdict, warn, type CheckResult, type Finding } from '../check.ts';
import type { DirectoryFindings, PreflightFacts } from '../facts.ts';

const ID = 'admin-groups';
const TITLE = 'admin groups in Entra ID: exist, security-enabled, with members';

export const NO_ADMIN_GROUPS_FIX =
  "list the object IDs of the cluster's Entra admin groups in the policy's adminGroups (on AKS: az aks show -g RG -n CLUSTER " +
  '--query aadProfile.adminGroupObjectIDs), or point --policy-configmap at the webhook\'s policy (the chart\'s is NAMESPACE/RELEASE-policy)';

const NO_DIRECTORY_FIX =
  'set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE) of an identity with ' +
  'GroupMember.Read.All, or give --directory FILE (a snapshot: existence and security only)';

const MEMBERS_BY_HAND = (id: string) => `or check by hand: az ad group member list --group ${id} --query "length(@)"`;

/** Check 1: the policy names admin groups, and each is a security group in Entra ID that someone is a member of. */
export function checkAdminGroups(facts: PreflightFacts): CheckResult {
  const { adminGroups } = facts.policy;
  if (adminGroups.length === 0) {
    return verdict(ID, TITLE, [fail(`the policy (${facts.policySource}) lists no adminGroups: no Entra group is meant to be cluster admin`, NO_ADMIN_GROUPS_FIX)]);
  }
  const { directory } = facts;
  if (directory.source === undefined) {
    const groups = adminGroups.map((id) => `Group ${id}`).join(', ');
    return verdict(ID, TITLE, [warn(`${groups} not checked in Microsoft Entra ID: no directory (${directory.missing ?? 'none configured'})`, NO_DIRECTORY_FIX)]);
  }
  return verdict(ID, TITLE, adminGroups.map((id) => groupFinding(id, directory)));
}

function groupFinding(id: string, directory: DirectoryFindings): Finding {
  const fact = groupFact(directory, id);
  const source = directory.source!;
  switch (fact.state) {
    case 'not-found':
      return fail(`Group ${id} does not exist in Microsoft Entra ID (${source})`, `check the object ID (az ad group show --group ${id}) and correct adminGroups.`);
    case 'unavailable':
      return warn(
        `Group ${id} could not be looked up in ${source}: ${fact.reason}`,
        fact.remedy ?? 'fix what the reason names if it is a configuration error (it says so), else run preflight again once the directory answers.',
      );
    case 'found':
      if (!fact.securityEnabled) {
        return fail(
          `${label(id, fact)} is not security-enabled (a Microsoft 365 group): admin rights belong to a security group`,
          'make a security group the admin group (az ad group create --display-name NAME --mail-nickname NAME), add the admins, and put its object ID in adminGroups (and in az aks update --aad-admin-group-object-ids).',
        );
      }
      return membersFinding(id, fact, directory.members?.get(id), source, directory.members === undefined);
  }
}

function membersFinding(id: string, fact: Extract<GroupFact, { state: 'found' }>, members: MemberFact | undefined, source: string, cannotTell: boolean): Finding {
  const group = label(id, fact);
  if (cannotTell) {
    return warn(
      `${group} exists and is a security group; its members were not checked: ${source} holds no members`,
      `run preflight with Microsoft Graph credentials (AZURE_*) to check that admin groups have members, ${MEMBERS_BY_HAND(id)}.`,
    );
  }
  switch (members?.state) {
    case 'has-members':
      return pass(`${group}: a security group with members`);
    case 'empty':
      return fail(`${group} has no members: nobody is cluster admin through it`, `add the platform admins: az ad group member add --group ${id} --member-id USER_OBJECT_ID.`);
    case 'forbidden':
      return warn(`${group} is a security group; its members were not checked: ${members.reason}`, `grant GroupMember.Read.All (docs/install-aks.md, step 3), ${MEMBERS_BY_HAND(id)}.`);
    case 'not-found':
      return fail(`${group} was deleted while preflight ran (its members: no such group)`, `check the object ID (az ad group show --group ${id}).`);
    case 'unavailable':
      return warn(`${group} is a security group; its members could not be checked: ${members.reason}`, `run preflight again once Microsoft Graph answers, ${MEMBERS_BY_HAND(id)}.`);
    case undefined:
      return warn(`${group} is a security group; its members were not looked up`, `run preflight again, ${MEMBERS_BY_HAND(id)}.`);
  }
}

function label(id: string, fact: Extract<GroupFact, { state: 'found' }>): string {
  return fact.displayName ? `Group ${id} ("${fact.displayName}")` : `Group ${id}`;
}
