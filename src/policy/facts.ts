/** What the directory said about each Entra group a review names. Gathered at the edge, read by the pure engine. */

export type GroupFact =
  | { readonly state: 'found'; readonly displayName: string; readonly securityEnabled: boolean; readonly stale?: { readonly reason: string } }
  | { readonly state: 'not-found' }
  | { readonly state: 'unavailable'; readonly reason: string };

export interface DirectoryFacts {
  /** Where the answers came from (`snapshot groups.yaml`, `Microsoft Graph`), or undefined when no directory is configured. */
  readonly source: string | undefined;
  readonly groups: ReadonlyMap<string, GroupFact>;
}

export const NO_DIRECTORY: DirectoryFacts = { source: undefined, groups: new Map() };

/** A group the edge did not look up counts as unavailable: the engine never guesses that a group exists. */
export function groupFact(facts: DirectoryFacts, id: string): GroupFact {
  return facts.groups.get(id) ?? { state: 'unavailable', reason: 'the group was not looked up' };
}
