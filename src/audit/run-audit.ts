import { judgeRbac, type RbacEntry } from '../check/judge.ts';
import type { CheckOutcome } from '../check/run-check.ts';
import type { Directory } from '../directory/port.ts';
import { listInventory, type Inventory, type ListPage } from '../kube/inventory.ts';
import type { RbacKind } from '../kube/role-cache.ts';
import type { Policy } from '../policy/model.ts';
import { auditDirectory } from './audit-directory.ts';
import { progressDirectory } from './progress-directory.ts';
import { SILENT_PROGRESS, type AuditProgress } from './progress.ts';

/** `source` of every audited object, as `check` names a file. */
export const CLUSTER_SOURCE = 'cluster';
/** Named in notes about roles: `ClusterRole "x" does not exist yet` in the cluster. */
export const CLUSTER_ROLES_SOURCE = 'the cluster';

/** `check`'s outcome (so `--output json` is the same document) with what the listing found. */
export interface AuditOutcome extends CheckOutcome {
  readonly counts: Readonly<Record<RbacKind, number>>;
  /** List requests made. */
  readonly pages: number;
  /** Distinct Entra groups the directory answered for. */
  readonly groups: number;
}

export interface AuditInput {
  readonly listPage: ListPage;
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly policy: Policy;
  readonly directory: Directory | undefined;
  readonly pageSize?: number | undefined;
  readonly timeoutMs?: number | undefined;
  readonly progress?: AuditProgress | undefined;
  readonly onInvalid?: ((kind: RbacKind, error: Error) => void) | undefined;
}

/**
 * Lists every RBAC object of the cluster and judges them all with the admission engine (judgeRbac): the roles are
 * the whole cluster's (complete), each distinct group is looked up once, in slices of $batch requests (auditDirectory),
 * so thousands of groups never meet the one-review deadline of a single Graph call.
 */
export async function runAudit(input: AuditInput): Promise<AuditOutcome> {
  const progress = input.progress ?? SILENT_PROGRESS;
  try {
    return await audit(input, progress);
  } finally {
    progress.done();
  }
}

async function audit(input: AuditInput, progress: AuditProgress): Promise<AuditOutcome> {
  const inventory = await listInventory(input.listPage, {
    server: input.server,
    pageSize: input.pageSize,
    timeoutMs: input.timeoutMs,
    onProgress: (kind, listed, expected) => progress.listed(kind, listed, expected),
    onInvalid: input.onInvalid,
  });
  let total = 0;
  const counted = input.directory && progressDirectory(input.directory, (resolved) => progress.groups(resolved, Math.max(total, resolved)));
  const directory = counted && auditDirectory(counted, { refresh: false, onLookup: (count) => (total = count) });
  const checked = await judgeRbac(entriesOf(inventory), input.policy, directory, { rolesSource: CLUSTER_ROLES_SOURCE, complete: true });
  return { checked, skipped: 0, counts: inventory.counts, pages: inventory.pages, groups: counted?.resolved ?? 0 };
}

function entriesOf(inventory: Inventory): RbacEntry[] {
  return [
    ...inventory.roles.map((role) => ({ source: CLUSTER_SOURCE, role })),
    ...inventory.bindings.map((binding) => ({ source: CLUSTER_SOURCE, binding })),
  ];
}
