import type { GroupFact } from '../policy/facts.ts';
import type { Directory } from './port.ts';

/**
 * What `serve` asks when the policy verifies groups and nothing can answer: no snapshot, no Azure credentials. Every
 * group is unavailable, so decisions follow `directory.onError` (deny by default) and name what is missing, instead
 * of allowing unverified groups with a note. Answers at once: there is nobody to wait for.
 */
export class UnconfiguredDirectory implements Directory {
  readonly source = 'no directory';
  private readonly fact: GroupFact;

  /** `onUse`: told at each lookup (the webhook logs the first). */
  constructor(
    readonly missing: string,
    private readonly onUse: () => void = () => undefined,
  ) {
    this.fact = { state: 'unavailable', reason: `no directory is configured: ${missing}`, remedy: UNCONFIGURED_REMEDY };
  }

  async lookupGroups(ids: readonly string[]): Promise<ReadonlyMap<string, GroupFact>> {
    return this.cachedGroups(ids);
  }

  cachedGroups(ids: readonly string[]): ReadonlyMap<string, GroupFact> {
    this.onUse();
    return new Map(ids.map((id) => [id, this.fact]));
  }
}

/** Read by whoever wrote the binding, who rarely runs the webhook: whom to ask, and what they should do. */
const UNCONFIGURED_REMEDY =
  'ask the platform team to give the webhook an Azure identity (the chart\'s azureWorkloadIdentity values, see docs/install-aks.md) ' +
  'or a snapshot with --directory FILE, or to set directory.verify: false in the policy to stop verifying groups';
