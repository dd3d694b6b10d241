import { loadDirectory, type DirectoryOptions } from './config.ts';
import type { Directory } from './directory/port.ts';
import { UnconfiguredDirectory } from './directory/unconfigured.ts';
import type { Policy } from './policy/model.ts';

/** How `serve` reports a policy that verifies groups with nothing to verify them (ADR 0009). */
export interface ServedDirectory {
  readonly directory: Directory | undefined;
  /** For the start-up log: where group facts come from. */
  readonly description: string;
  /** What is wrong now, when the policy in force verifies groups and nothing can answer; else undefined. */
  problem(): string | undefined;
  /** The `directory` of /readyz. */
  readiness(): Readonly<Record<string, string>>;
  /** Says the problem once, as an error, if there is one now; after that, at the first review that meets it. */
  reportNow(): void;
}

export interface ServeDirectoryContext {
  /** True when the policy in force asks to verify groups (false while there is none). */
  readonly policyVerifies: () => boolean;
  readonly policyOnError: () => string;
  readonly log: () => { error(fields: object, message: string): void } | undefined;
}

/**
 * The directory loadDirectory finds, except that when nothing can answer (no snapshot, no credentials) it is an
 * unconfigured directory, unavailable for every group, never none: `check` may note groups unchecked offline; a
 * webhook must not let unverified groups into a cluster behind a warning.
 */
export async function serveDirectory(policy: Policy, options: DirectoryOptions, context: ServeDirectoryContext): Promise<ServedDirectory> {
  const loaded = await loadDirectory(policy, options);
  const { missing } = loaded;
  if (loaded.directory || missing === undefined) {
    const state = loaded.directory ? 'configured' : 'not used';
    return { ...loaded, problem: () => undefined, readiness: () => ({ state, source: loaded.description }), reportNow: () => undefined };
  }
  const reason =
    `groups cannot be verified in Microsoft Entra ID: ${missing} (the chart's azureWorkloadIdentity values; docs/install-aks.md). ` +
    'While the policy sets directory.verify (the default), every binding of a group follows directory.onError (deny unless set ' +
    'to allow); set directory.verify: false in the policy only to stop verifying groups on purpose';
  let reported = false;
  const problem = () => (context.policyVerifies() ? reason : undefined);
  const reportNow = () => {
    if (reported || problem() === undefined) return;
    reported = true;
    context.log()?.error({ directory: loaded.description, directoryOnError: context.policyOnError() }, reason);
  };
  return {
    directory: new UnconfiguredDirectory(missing, reportNow),
    description: loaded.description,
    problem,
    readiness: (): Readonly<Record<string, string>> =>
      problem() ? { state: 'not configured', problem: reason } : { state: 'not used', source: loaded.description },
    reportNow,
  };
}
