import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidInputError } from './admission/narrow.ts';
import { readManifests } from './check/manifests.ts';
import { checkManifests } from './check/run-check.ts';
import { loadDirectory, loadPolicy, parseDuration, type DirectoryOptions, type LoadedPolicy } from './config.ts';
import { CLOUD_NAMES, type Cloud } from './directory/credentials.ts';
import { exportSnapshot } from './directory/export.ts';
import { DNS1123_SUBDOMAIN, parseConfigMapRef, type ConfigMapRef } from './kube/configmap-ref.ts';
import { serve, type ServeOptions } from './main.ts';
import { DEFAULT_POLICY_YAML } from './policy/default-policy.ts';
import { DEFAULT_BACKSTOP_OPTIONS, backstopYaml } from './backstop/generate.ts';
import type { Policy } from './policy/model.ts';
import type { Metrics } from './telemetry/metrics.ts';
import { jsonReport } from './report/json.ts';
import { sarifReport } from './report/sarif.ts';
import { tableReport } from './report/table.ts';
import { DEFAULT_FAIL_ON, FAIL_ON_LEVELS, failsAudit, isFailOn } from './audit/fail-on.ts';
import { terminalProgress } from './audit/progress.ts';
import { AUDIT_OUTPUTS, isAuditOutput, renderAudit } from './audit/render.ts';
import { DEFAULT_REPORTS_API, REPORTS_API_NAMES, isReportsApi } from './report/policy-report.ts';
import { runAudit } from './audit/run-audit.ts';
import { connectCluster, type ClusterConnection } from './kube/client.ts';
import { DEFAULT_PAGE_SIZE, DEFAULT_REQUEST_TIMEOUT_MS, rbacPageLister } from './kube/inventory.ts';
import { readPolicyConfigMap } from './kube/read-policy-configmap.ts';
import { gatherPreflightFacts } from './preflight/gather.ts';
import { isPreflightOutput, PREFLIGHT_OUTPUTS, renderPreflight } from './preflight/render.ts';
import { runPreflight } from './preflight/run-preflight.ts';

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: NodeJS.ProcessEnv;
  /** Standard error is a terminal: `audit` draws its progress line there (never into a pipe or a file). */
  readonly stderrIsTTY?: boolean;
}

/** Exit codes shared by check, audit and preflight: 0 nothing denied (or failed), 1 something denied (a check failed), 2 usage or input error. */
export const EXIT = { ok: 0, denied: 1, usage: 2 } as const;

const USAGE = `Usage: entra-rbac-guard <command> [options]

Commands:
  serve    Run the admission webhook (HTTPS).
           [--policy FILE | --policy-configmap NAMESPACE/NAME [--policy-fallback-default]] [CLUSTER OPTIONS]
           [DIRECTORY OPTIONS] [--port N] [--host H] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]
           Without --tls-cert/--tls-key it serves a self-signed certificate and logs where its CA certificate is.
           --policy-configmap watches the ConfigMap's key policy.yaml and applies each valid change; until a first
           valid policy arrives the webhook is not ready and answers 503, unless --policy-fallback-default.
           [--audit-interval DURATION [--audit-write-reports]] (needs a cluster: CLUSTER OPTIONS or a pod's service
           account) re-judges every existing RBAC object this often, from the role cache, asking Graph about each
           group again, and publishes entra_rbac_guard_audit_* gauges on /metrics; --audit-write-reports also keeps
           a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace and a ClusterPolicyReport in the cluster
           ([--audit-reports-api openreports]: openreports.io/v1alpha1 Reports and a ClusterReport instead).
           [--drain-period 10s] On SIGTERM, /readyz answers 503 at once and reviews are still answered, with
           Connection: close, for this long; then reviews in flight finish and it exits 0. SIGINT, or a second
           signal, skips the drain. [--shed-lag 1s] While the event loop lags this much, /validate answers 429 at
           once (the API server applies the webhook's failurePolicy) instead of answering too late; 0s never sheds.
  check    Judge manifests offline, as the webhook would: YAML or JSON files, directories, or - for standard input.
           [--policy FILE] [DIRECTORY OPTIONS] [--output table|json|sarif] [--namespace NS] [--require-directory]
           [--helm-source-prefix DIR] PATH... | -
           sarif: SARIF 2.1.0 for code scanning. --helm-source-prefix names each document on standard input that
           helm template marked "# Source: CHART/templates/FILE" after DIR/CHART/templates/FILE (e.g. charts/).
           Exit 0: nothing denied; 1: something denied; 2: usage or input error. Without a directory, groups are
           not checked and each result says so; --require-directory makes that an error (exit 2), for pipelines
           that must verify groups.
  audit    Judge every RoleBinding, ClusterRoleBinding, Role and ClusterRole in the cluster, as the webhook would.
           [--policy FILE | --policy-configmap NAMESPACE/NAME] [CLUSTER OPTIONS] [DIRECTORY OPTIONS]
           [--output table|json|sarif|policyreport|openreports] [--fail-on deny|warn|never] [--page-size N]
           [--request-timeout 30s]
           Lists each kind in pages of --page-size (default 500) and looks every distinct group up once.
           table: violations by rule, then by binding, exempt objects and why; json: as check; sarif: SARIF 2.1.0;
           policyreport: wgpolicyk8s.io/v1alpha2 PolicyReports (per namespace) and a ClusterPolicyReport, for
           kubectl apply -f -; openreports: the same as openreports.io/v1alpha1 Reports and a ClusterReport.
           A progress line goes to standard error when it is a terminal.
           --fail-on deny (default) counts violations of rules set to deny, also when the policy's mode is audit
           (the audit reports what enforce mode would deny); warn counts every violation; never always exits 0.
           Exit 0: nothing at or above --fail-on; 1: violations; 2: usage error, or the cluster could not be read
           (kubeconfig, credentials, permissions: list on the four RBAC resources cluster-wide, network).
  preflight  Before az aks update --disable-local-accounts and before enforcing: is Entra admin access in place?
           [--policy FILE | --policy-configmap NAMESPACE/NAME] [CLUSTER OPTIONS] [DIRECTORY OPTIONS]
           [--output table|json] [--request-timeout 30s]
           Checks, each pass, warn or fail with what to do: the policy's adminGroups exist in Entra ID, are security
           groups and have members (Graph; a --directory snapshot cannot tell members); a ClusterRoleBinding the
           webhook would allow grants cluster-admin to one of them; bindings that only local accounts (clusterAdmin,
           clusterUser, system:masters) use; the webhook's installation (its own namespace exempt, failurePolicy, 2 or
           more ready endpoints, a PodDisruptionBudget); the policy's mode.
           Exit 0: nothing fails; 1: a check fails; 2: usage error, or the cluster could not be read.
  policy validate FILE   Check a policy file and list every problem with its path.
  policy default         Print the embedded default policy, with comments.
  policy vap [--policy FILE] [--name-prefix PREFIX] [--exclude-namespace NS]... [--skip-username U]...
             [--skip-group G]... [--skip-aks-managed-namespaces]
           Print the backstop: ValidatingAdmissionPolicies and their bindings (Kubernetes 1.30+) that make the API
           server itself hold the rules that need no directory and no role facts (user-subject, group-format,
           cluster-admin by role name, broad-group, local-account), so they hold while the webhook is down. The
           --exclude-namespace, --skip-* options mirror what the webhook's configuration keeps from it.
  directory export [DIRECTORY OPTIONS] [--id ID]... [PATH... | -]
           Look up the given group IDs, and every Entra group that the bindings in PATH name, and print them as an
           offline snapshot for --directory.

Directory options: --directory FILE (an offline snapshot), or Microsoft Graph with the credentials in the standard
Azure environment variables (AZURE_CLIENT_ID, AZURE_TENANT_ID, and AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET):
  --cloud public|usgov|usgov-dod|china  --graph-endpoint URL  --managed-identity
  --cache-ttl 10m  --negative-cache-ttl 1m  --stale-if-error 1h

Cluster options (found as kubectl finds it: --kubeconfig, else KUBECONFIG, else ~/.kube/config, else the pod's
service account): --kubeconfig FILE  --context NAME

Every option can also be set in the environment as ENTRA_RBAC_GUARD_<OPTION>, e.g. ENTRA_RBAC_GUARD_TLS_CERT,
ENTRA_RBAC_GUARD_GRAPH_ENDPOINT; a flag wins over the environment.
`;

class UsageError extends Error {}

export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        await serveCommand(rest, io);
        return EXIT.ok;
      case 'check':
        return await checkCommand(rest, io);
      case 'audit':
        return await auditCommand(rest, io);
      case 'preflight':
        return await preflightCommand(rest, io);
      case 'policy':
        return await policyCommand(rest, io);
      case 'directory':
        return await directoryCommand(rest, io);
      case '--version':
      case 'version':
        io.stdout(`${packageVersion()}\n`);
        return EXIT.ok;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`entra-rbac-guard: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    const code = (error as { code?: string }).code;
    if (error instanceof InvalidInputError || code === 'ERB_DIRECTORY_CONFIG' || code === 'ERB_KUBE_CONFIG' || code === 'ERB_KUBE_ACCESS') {
      io.stderr(`entra-rbac-guard: ${(error as Error).message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Parsed {
  /** A flag, else its ENTRA_RBAC_GUARD_<NAME> environment variable. */
  readonly option: (name: string) => string | undefined;
  readonly flag: (name: string) => boolean;
  /** A repeatable flag's values. */
  readonly list: (name: string) => string[];
  readonly positionals: string[];
}

function parse(args: readonly string[], options: Options, allowPositionals: boolean, env: NodeJS.ProcessEnv): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const fromEnv = (name: string) => env[`ENTRA_RBAC_GUARD_${name.toUpperCase().replaceAll('-', '_')}`];
  return {
    option: (name) => {
      const value = values[name];
      return typeof value === 'string' ? value : fromEnv(name);
    },
    flag: (name) => values[name] === true || ['1', 'true', 'yes'].includes(fromEnv(name) ?? ''),
    list: (name) => {
      const value = values[name];
      return Array.isArray(value) ? value : [];
    },
    positionals: parsed.positionals,
  };
}

const DIRECTORY_OPTIONS: Options = {
  directory: { type: 'string' },
  cloud: { type: 'string' },
  'graph-endpoint': { type: 'string' },
  'managed-identity': { type: 'boolean' },
  'cache-ttl': { type: 'string' },
  'negative-cache-ttl': { type: 'string' },
  'stale-if-error': { type: 'string' },
};

function directoryOptions(parsed: Parsed, env: NodeJS.ProcessEnv, metrics?: Metrics): DirectoryOptions {
  const cloud = parsed.option('cloud');
  if (cloud !== undefined && !(CLOUD_NAMES as string[]).includes(cloud)) {
    throw new UsageError(`--cloud must be one of ${CLOUD_NAMES.join(', ')}, got "${cloud}"`);
  }
  return {
    file: parsed.option('directory'),
    cloud: cloud as Cloud | undefined,
    graphEndpoint: parsed.option('graph-endpoint'),
    managedIdentity: parsed.flag('managed-identity'),
    positiveTtlMs: parseDuration(parsed.option('cache-ttl'), '--cache-ttl'),
    negativeTtlMs: parseDuration(parsed.option('negative-cache-ttl'), '--negative-cache-ttl'),
    staleIfErrorMs: parseDuration(parsed.option('stale-if-error'), '--stale-if-error'),
    metrics,
    env,
  };
}

async function serveCommand(args: readonly string[], io: Io): Promise<void> {
  const parsed = parse(
    args,
    {
      policy: { type: 'string' },
      'policy-configmap': { type: 'string' },
      'policy-fallback-default': { type: 'boolean' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'log-level': { type: 'string' },
      'audit-interval': { type: 'string' },
      'audit-write-reports': { type: 'boolean' },
      'audit-reports-api': { type: 'string' },
      'drain-period': { type: 'string' },
      'shed-lag': { type: 'string' },
      ...DIRECTORY_OPTIONS,
    },
    false,
    io.env,
  );
  const { option } = parsed;
  const audit = auditOptions(parsed);
  const drainMs = parseDuration(option('drain-period'), '--drain-period') ?? DEFAULT_DRAIN_MS;
  const shedLagMs = parseDuration(option('shed-lag'), '--shed-lag') ?? DEFAULT_SHED_LAG_MS;
  const port = Number(option('port') ?? 8443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got "${option('port')}"`);
  const tlsCert = option('tls-cert');
  const tlsKey = option('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UsageError('--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate');
  const logLevel = option('log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  const policy = option('policy');
  const configMap = option('policy-configmap');
  if (policy && configMap) throw new UsageError('--policy and --policy-configmap are alternatives: give one (a file, or a ConfigMap to watch)');
  let policyConfigMap: ConfigMapRef | undefined;
  if (configMap) {
    const ref = parseConfigMapRef(configMap);
    if ('error' in ref) throw new UsageError(ref.error);
    policyConfigMap = ref;
  }
  const policyFallbackDefault = parsed.flag('policy-fallback-default');
  if (policyFallbackDefault && !policyConfigMap) throw new UsageError('--policy-fallback-default goes with --policy-configmap: it says what serves until the ConfigMap gives a valid policy');
  await serve({
    policy,
    policyConfigMap,
    policyFallbackDefault,
    cluster: { kubeconfig: option('kubeconfig'), context: option('context'), env: io.env },
    directory: (metrics) => directoryOptions(parsed, io.env, metrics),
    host: option('host') ?? '127.0.0.1',
    port,
    tlsCert,
    tlsKey,
    logLevel,
    audit,
    drainMs,
    shedLagMs,
  });
}

/**
 * After SIGTERM the endpoint leaves the Service only eventually, and the API server keeps using the connections it
 * has open: 10 s of answering covers both (docs/reliability.md). The chart's terminationGracePeriodSeconds is longer.
 */
const DEFAULT_DRAIN_MS = 10_000;
/**
 * A review waits about as long as the event loop lags: at 1 s the webhook is far past saturation (a review normally
 * takes milliseconds), yet well inside the API server's default 10 s timeout, so shed answers replace timeouts, not
 * answers that would have come in time.
 */
const DEFAULT_SHED_LAG_MS = 1_000;

function auditOptions(parsed: Parsed): ServeOptions['audit'] {
  const intervalMs = parseDuration(parsed.option('audit-interval'), '--audit-interval');
  const writeReports = parsed.flag('audit-write-reports');
  const reportsApi = parsed.option('audit-reports-api');
  if (reportsApi !== undefined && !isReportsApi(reportsApi)) {
    throw new UsageError(`--audit-reports-api must be one of ${REPORTS_API_NAMES.join(', ')}, got "${reportsApi}"`);
  }
  if (reportsApi !== undefined && !writeReports) throw new UsageError('--audit-reports-api goes with --audit-write-reports: it says which reports are written');
  if (intervalMs === undefined) {
    if (writeReports) throw new UsageError('--audit-write-reports goes with --audit-interval DURATION: the reports are written by each audit round');
    return undefined;
  }
  if (intervalMs < 1000) throw new UsageError(`--audit-interval must be at least 1s (each round asks Microsoft Graph about every group), got "${parsed.option('audit-interval')}"`);
  return { intervalMs, writeReports, reportsApi: reportsApi ?? DEFAULT_REPORTS_API };
}

async function checkCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parse(
    args,
    {
      policy: { type: 'string' },
      output: { type: 'string' },
      namespace: { type: 'string' },
      'require-directory': { type: 'boolean' },
      'helm-source-prefix': { type: 'string' },
      ...DIRECTORY_OPTIONS,
    },
    true,
    io.env,
  );
  const output = parsed.option('output') ?? 'table';
  if (parsed.positionals.length === 0) throw new UsageError('check needs at least one PATH, or - to read standard input');
  if (output !== 'table' && output !== 'json' && output !== 'sarif') throw new UsageError(`--output must be table, json or sarif, got "${output}"`);
  const loaded = await loadPolicy(parsed.option('policy'));
  for (const warning of loaded.warnings) io.stderr(`warning: policy ${loaded.source}: ${warning.path}: ${warning.message}\n`);
  const { directory, description } = await loadDirectory(loaded.policy, directoryOptions(parsed, io.env));
  if (!directory && parsed.flag('require-directory')) {
    throw new InvalidInputError(
      '--require-directory',
      `groups would not be checked in Microsoft Entra ID (directory ${description}): give --directory FILE (a snapshot ` +
        'from `entra-rbac-guard directory export`) or Azure credentials (AZURE_CLIENT_ID and AZURE_TENANT_ID with ' +
        'AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET), with directory.verify true in the policy',
    );
  }
  const objects = await readManifests(parsed.positionals, io.readStdin, { helmSourcePrefix: parsed.option('helm-source-prefix') });
  const outcome = await checkManifests(objects, loaded.policy, directory, parsed.option('namespace') ?? 'default');
  io.stdout(output === 'json' ? jsonReport(outcome) : output === 'sarif' ? sarifReport(outcome, packageVersion()) : tableReport(outcome));
  return outcome.checked.some((entry) => !entry.decision.allowed) ? EXIT.denied : EXIT.ok;
}

/** The options of the commands that read a cluster and the policy (`audit`, `preflight`). */
const CLUSTER_POLICY_OPTIONS: Options = {
  policy: { type: 'string' },
  'policy-configmap': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  output: { type: 'string' },
  'request-timeout': { type: 'string' },
};

interface ClusterAndPolicy {
  readonly cluster: ClusterConnection;
  /** The API server's URL, named in error messages. */
  readonly server: string;
  readonly loaded: LoadedPolicy;
  readonly timeoutMs: number;
}

/** The cluster as kubectl finds it, and the policy from --policy FILE, --policy-configmap NS/NAME or the embedded default. */
async function clusterAndPolicy(parsed: Parsed, io: Io): Promise<ClusterAndPolicy> {
  const { option } = parsed;
  const timeoutMs = parseDuration(option('request-timeout'), '--request-timeout') ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (option('policy') && option('policy-configmap')) throw new UsageError('--policy and --policy-configmap are alternatives: give one (a file, or a ConfigMap to read)');
  const configMap = option('policy-configmap');
  const ref = configMap === undefined ? undefined : parseConfigMapRef(configMap);
  if (ref && 'error' in ref) throw new UsageError(ref.error);

  const cluster = connectCluster({ kubeconfig: option('kubeconfig'), context: option('context'), env: io.env });
  const server = cluster.kubeConfig.getCurrentCluster()?.server ?? 'the API server';
  const loaded = ref ? await readPolicyConfigMap(cluster.kubeConfig, ref, { server, timeoutMs }) : await loadPolicy(option('policy'));
  for (const warning of loaded.warnings) io.stderr(`warning: policy ${loaded.source}: ${warning.path}: ${warning.message}\n`);
  return { cluster, server, loaded, timeoutMs };
}

async function auditCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parse(
    args,
    {
      ...CLUSTER_POLICY_OPTIONS,
      'fail-on': { type: 'string' },
      'page-size': { type: 'string' },
      ...DIRECTORY_OPTIONS,
    },
    false,
    io.env,
  );
  const { option } = parsed;
  const output = option('output') ?? 'table';
  if (!isAuditOutput(output)) throw new UsageError(`--output must be one of ${AUDIT_OUTPUTS.join(', ')}, got "${output}"`);
  const failOn = option('fail-on') ?? DEFAULT_FAIL_ON;
  if (!isFailOn(failOn)) throw new UsageError(`--fail-on must be one of ${FAIL_ON_LEVELS.join(', ')}, got "${failOn}"`);
  const pageSize = Number(option('page-size') ?? DEFAULT_PAGE_SIZE);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new UsageError(`--page-size must be a whole number of objects, at least 1; got "${option('page-size')}"`);
  const { cluster, server, loaded, timeoutMs } = await clusterAndPolicy(parsed, io);
  const { directory, description } = await loadDirectory(loaded.policy, directoryOptions(parsed, io.env));
  const outcome = await runAudit({
    listPage: rbacPageLister(cluster.kubeConfig, timeoutMs),
    server,
    policy: loaded.policy,
    directory,
    pageSize,
    timeoutMs,
    progress: io.stderrIsTTY ? terminalProgress(io.stderr) : undefined,
    onInvalid: (kind, error) => io.stderr(`warning: skipped a ${kind} that does not read as RBAC: ${error.message}\n`),
  });
  io.stdout(
    renderAudit(output, outcome, {
      cluster: cluster.description,
      policySource: loaded.source,
      policy: loaded.policy,
      directory: description,
      version: packageVersion(),
      now: new Date(),
    }),
  );
  return failsAudit(outcome.checked, failOn) ? EXIT.denied : EXIT.ok;
}

/**
 * Before disabling local accounts or enforcing: admin groups in Entra ID, the cluster-admin binding they rely on,
 * bindings that only local accounts use, and the webhook's installation. Exit 1 when a check fails.
 */
async function preflightCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parse(args, { ...CLUSTER_POLICY_OPTIONS, ...DIRECTORY_OPTIONS }, false, io.env);
  const output = parsed.option('output') ?? 'table';
  if (!isPreflightOutput(output)) throw new UsageError(`--output must be one of ${PREFLIGHT_OUTPUTS.join(', ')}, got "${output}"`);
  const directoryChoice = directoryOptions(parsed, io.env);
  const { cluster, server, loaded, timeoutMs } = await clusterAndPolicy(parsed, io);
  // The admin groups are looked up whatever the policy says of other groups: that is what this command is for.
  const lookAlways: Policy = { ...loaded.policy, directory: { ...loaded.policy.directory, verify: true } };
  const { directory, description, missing } = await loadDirectory(lookAlways, directoryChoice);
  const facts = await gatherPreflightFacts({
    kubeConfig: cluster.kubeConfig,
    server,
    timeoutMs,
    policy: loaded.policy,
    policySource: loaded.source,
    directory,
    directoryMissing: missing,
    onInvalid: (kind, error) => io.stderr(`warning: skipped a ${kind} that does not read as RBAC: ${error.message}\n`),
  });
  const report = runPreflight(facts);
  io.stdout(renderPreflight(output, report, { cluster: cluster.description, policySource: loaded.source, mode: loaded.policy.mode, directory: description }));
  return report.summary.fail > 0 ? EXIT.denied : EXIT.ok;
}

async function policyCommand(args: readonly string[], io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'default' && rest.length === 0) {
    io.stdout(DEFAULT_POLICY_YAML);
    return EXIT.ok;
  }
  if (subcommand === 'validate' && rest.length === 1) {
    const loaded = await loadPolicy(rest[0]);
    for (const warning of loaded.warnings) io.stderr(`warning: ${warning.path}: ${warning.message}\n`);
    io.stdout(`${rest[0]}: valid policy (mode ${loaded.policy.mode})${loaded.warnings.length ? `, ${loaded.warnings.length} warning(s)` : ''}\n`);
    return EXIT.ok;
  }
  if (subcommand === 'vap') return vapCommand(rest, io);
  throw new UsageError('policy takes `validate FILE`, `default` or `vap [--policy FILE]`');
}

async function vapCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parse(
    args,
    {
      policy: { type: 'string' },
      'name-prefix': { type: 'string' },
      'exclude-namespace': { type: 'string', multiple: true },
      'skip-username': { type: 'string', multiple: true },
      'skip-group': { type: 'string', multiple: true },
      'skip-aks-managed-namespaces': { type: 'boolean' },
    },
    false,
    io.env,
  );
  const loaded = await loadPolicy(parsed.option('policy'));
  for (const warning of loaded.warnings) io.stderr(`warning: policy ${loaded.source}: ${warning.path}: ${warning.message}\n`);
  const namePrefix = parsed.option('name-prefix') ?? DEFAULT_BACKSTOP_OPTIONS.namePrefix;
  if (!DNS1123_SUBDOMAIN.test(namePrefix) || namePrefix.length > 248) {
    throw new UsageError(`--name-prefix must be lower-case letters, digits and dashes, with dots between segments, as a Kubernetes object name (at most 248 characters, so that the object names with -deny and -warn fit Kubernetes' 253), got "${namePrefix}"`);
  }
  io.stdout(
    backstopYaml(loaded.policy, {
      ...DEFAULT_BACKSTOP_OPTIONS,
      namePrefix,
      excludeNamespaces: parsed.list('exclude-namespace'),
      skipUsernames: parsed.list('skip-username'),
      skipGroups: parsed.list('skip-group'),
      skipAksManagedNamespaces: parsed.flag('skip-aks-managed-namespaces'),
    }),
  );
  if (parsed.list('exclude-namespace').length === 0) {
    io.stderr(
      "note: no --exclude-namespace, so the backstop judges every namespace, the webhook's own too; pass the namespace it runs in " +
        'and each of webhook.excludeNamespaces, as the chart does, so that the webhook can be repaired while it is down\n',
    );
  }
  return EXIT.ok;
}

async function directoryCommand(args: readonly string[], io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand !== 'export') throw new UsageError('directory takes `export [--id ID]... [PATH... | -]`');
  const parsed = parse(rest, { id: { type: 'string', multiple: true }, policy: { type: 'string' }, ...DIRECTORY_OPTIONS }, true, io.env);
  const ids = parsed.list('id');
  if (ids.length === 0 && parsed.positionals.length === 0) throw new UsageError('directory export needs --id ID or manifests (PATH... or -) naming groups');
  const loaded = await loadPolicy(parsed.option('policy'));
  const policy: Policy = { ...loaded.policy, directory: { ...loaded.policy.directory, verify: true } };
  const { directory, description } = await loadDirectory(policy, directoryOptions(parsed, io.env));
  if (!directory) throw new InvalidInputError('directory export', `no directory to export from (${description})`);
  const objects = await readManifests(parsed.positionals, io.readStdin);
  const result = await exportSnapshot(ids, objects, policy, directory);
  for (const problem of result.problems) io.stderr(`entra-rbac-guard: ${problem}\n`);
  io.stdout(result.yaml);
  return result.problems.length > 0 ? EXIT.usage : EXIT.ok;
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}
