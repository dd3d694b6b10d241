import { readFile } from 'node:fs/promises';
import { InvalidInputError } from './admission/narrow.ts';
import { CircuitBreaker, type BreakerState } from './directory/breaker.ts';
import { CachedDirectory } from './directory/cache.ts';
import { credentialFromEnvironment, resolveEndpoints, type Cloud } from './directory/credentials.ts';
import { GraphDirectory } from './directory/graph.ts';
import type { Directory } from './directory/port.ts';
import { SnapshotDirectory } from './directory/snapshot.ts';
import { DEFAULT_POLICY_YAML } from './policy/default-policy.ts';
import type { Policy } from './policy/model.ts';
import { formatProblems, parsePolicy, type PolicyProblem } from './policy/parse.ts';
import { policyWarningsAt } from './policy/time-boxed.ts';
import { circuitStateValue, type Metrics } from './telemetry/metrics.ts';

export interface LoadedPolicy {
  readonly policy: Policy;
  /** `embedded default` or the file path. */
  readonly source: string;
  readonly warnings: readonly PolicyProblem[];
}

/** The policy from a file, or the embedded default. An invalid file is an error listing every problem with its path. */
export async function loadPolicy(path: string | undefined): Promise<LoadedPolicy> {
  const source = path ?? 'embedded default';
  let text = DEFAULT_POLICY_YAML;
  if (path) {
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new InvalidInputError(path, `cannot read the policy file (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
  }
  const result = parsePolicy(text);
  if (!result.ok) {
    throw new InvalidInputError(source, `invalid policy:\n${indent(formatProblems(result.errors))}\nSee \`entra-rbac-guard policy default\` for every field.`);
  }
  return { policy: result.policy, source, warnings: policyWarningsAt(result, Date.now()) };
}

export interface DirectoryOptions {
  /** `--directory FILE`: an offline snapshot, which wins over Graph. */
  readonly file?: string | undefined;
  readonly cloud?: Cloud | undefined;
  readonly graphEndpoint?: string | undefined;
  readonly managedIdentity?: boolean | undefined;
  readonly positiveTtlMs?: number | undefined;
  readonly negativeTtlMs?: number | undefined;
  readonly staleIfErrorMs?: number | undefined;
  readonly metrics?: Metrics | undefined;
  /** Told when Microsoft Graph starts or stops answering (the circuit breaker opens, probes, closes). */
  readonly onDirectoryStateChange?: ((state: BreakerState, reason: string, cause: string) => void) | undefined;
  readonly env: NodeJS.ProcessEnv;
}

export interface LoadedDirectory {
  readonly directory: Directory | undefined;
  /** For the startup log: where group facts come from, and with which identity (never a secret). */
  readonly description: string;
  /**
   * Set when the policy verifies groups and nothing can answer (no snapshot, no credentials): what is missing, naming
   * the variables. `serve` then treats the directory as unavailable; `check` and `audit` note the groups unchecked.
   */
  readonly missing?: string;
}

/**
 * The directory `serve`, `check` and `directory export` share: a snapshot file when given; else Microsoft Graph,
 * cached, with the credentials the standard Azure environment variables describe; else none, and decisions say that
 * groups were not checked. A half-configured identity or a bad endpoint is an error naming what to fix.
 */
export async function loadDirectory(policy: Policy, options: DirectoryOptions): Promise<LoadedDirectory> {
  if (options.file) {
    const snapshot = await SnapshotDirectory.fromFile(options.file);
    return { directory: snapshot, description: snapshot.source };
  }
  if (!policy.directory.verify) return { directory: undefined, description: 'none: the policy sets directory.verify to false' };
  const endpoints = resolveEndpoints({ cloud: options.cloud, graphEndpoint: options.graphEndpoint }, options.env);
  const chosen = credentialFromEnvironment(
    {
      authorityHost: endpoints.authorityHost,
      disableInstanceDiscovery: endpoints.disableInstanceDiscovery,
      managedIdentity: options.managedIdentity ?? false,
    },
    options.env,
  );
  if (!chosen) {
    const missing = missingCredentials(options.env);
    return { directory: undefined, description: `none: ${missing}`, missing };
  }
  const breaker = new CircuitBreaker({
    onStateChange: (state, reason, cause) => {
      options.metrics?.directoryCircuitState.set(circuitStateValue(state));
      options.onDirectoryStateChange?.(state, reason, cause);
    },
  });
  const graph = new GraphDirectory({
    credential: chosen.credential,
    graphEndpoint: endpoints.graphEndpoint,
    scope: endpoints.scope,
    metrics: options.metrics,
    breaker,
    lookup: policy.directory.lookup,
    // Named when no token can be had; a managed identity gets its tokens elsewhere (IMDS).
    ...(chosen.kind === 'managed-identity' ? {} : { authorityHost: endpoints.authorityHost }),
  });
  const directory = new CachedDirectory(graph, {
    positiveTtlMs: options.positiveTtlMs,
    negativeTtlMs: options.negativeTtlMs,
    staleIfErrorMs: options.staleIfErrorMs,
    metrics: options.metrics,
  });
  return {
    directory,
    description: `Microsoft Graph at ${endpoints.graphEndpoint} (${
      policy.directory.lookup === 'getByIds' ? 'directoryObjects/getByIds; needs Directory.Read.All' : 'GET /groups/{id} and $batch; needs GroupMember.Read.All'
    }) as ${chosen.description}`,
  };
}

/** That no snapshot was given, and which of the variables a credential needs to set. */
function missingCredentials(env: NodeJS.ProcessEnv): string {
  const unset = [
    ...['AZURE_TENANT_ID', 'AZURE_CLIENT_ID'].filter((name) => !env[name]?.trim()),
    'AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET',
  ];
  const names = unset.length > 1 ? `${unset.slice(0, -1).join(', ')} and ${unset.at(-1)}` : unset[0];
  return `neither --directory FILE nor Azure credentials are given; to use Microsoft Graph, set ${names}`;
}

/** `90s`, `10m`, `1h`, `500ms` → milliseconds; undefined when not given. */
export function parseDuration(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(ms|s|m|h)$/.exec(value.trim());
  if (!match) throw new InvalidInputError(name, `"${value}" is not a duration: write it like 500ms, 30s, 10m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
