import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidInputError } from './admission/binding.ts';
import { readManifests } from './check/manifests.ts';
import { checkManifests } from './check/run-check.ts';
import { loadDirectory, loadPolicy, parseDuration, type DirectoryOptions } from './config.ts';
import { CLOUD_NAMES, type Cloud } from './directory/credentials.ts';
import { exportSnapshot } from './directory/export.ts';
import { parseConfigMapRef, type ConfigMapRef } from './kube/configmap-ref.ts';
import { serve } from './main.ts';
import { DEFAULT_POLICY_YAML } from './policy/default-policy.ts';
import type { Policy } from './policy/model.ts';
import type { Metrics } from './telemetry/metrics.ts';
import { jsonReport } from './report/json.ts';
import { tableReport } from './report/table.ts';

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: NodeJS.ProcessEnv;
}

/** Exit codes shared by check (and audit): 0 nothing denied, 1 something denied, 2 usage or input error. */
export const EXIT = { ok: 0, denied: 1, usage: 2 } as const;

const USAGE = `Usage: entra-rbac-guard <command> [options]

Commands:
  serve    Run the admission webhook (HTTPS).
           [--policy FILE | --policy-configmap NAMESPACE/NAME [--policy-fallback-default]] [CLUSTER OPTIONS]
           [DIRECTORY OPTIONS] [--port N] [--host H] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]
           Without --tls-cert/--tls-key it serves a self-signed certificate and logs where its CA certificate is.
           --policy-configmap watches the ConfigMap's key policy.yaml and applies each valid change; until a first
           valid policy arrives the webhook is not ready and answers 503, unless --policy-fallback-default.
  check    Judge manifests offline, as the webhook would: YAML or JSON files, directories, or - for standard input.
           [--policy FILE] [DIRECTORY OPTIONS] [--output table|json] [--namespace NS] PATH... | -
           Exit 0: nothing denied; 1: something denied; 2: usage or input error.
  policy validate FILE   Check a policy file and list every problem with its path.
  policy default         Print the embedded default policy, with comments.
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
    if (error instanceof InvalidInputError || code === 'ERB_DIRECTORY_CONFIG' || code === 'ERB_KUBE_CONFIG') {
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
      ...DIRECTORY_OPTIONS,
    },
    false,
    io.env,
  );
  const { option } = parsed;
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
  });
}

async function checkCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parse(
    args,
    {
      policy: { type: 'string' },
      output: { type: 'string' },
      namespace: { type: 'string' },
      ...DIRECTORY_OPTIONS,
    },
    true,
    io.env,
  );
  const output = parsed.option('output') ?? 'table';
  if (parsed.positionals.length === 0) throw new UsageError('check needs at least one PATH, or - to read standard input');
  if (output !== 'table' && output !== 'json') throw new UsageError(`--output must be table or json, got "${output}"`);
  const loaded = await loadPolicy(parsed.option('policy'));
  for (const warning of loaded.warnings) io.stderr(`warning: policy ${loaded.source}: ${warning.path}: ${warning.message}\n`);
  const { directory } = await loadDirectory(loaded.policy, directoryOptions(parsed, io.env));
  const objects = await readManifests(parsed.positionals, io.readStdin);
  const outcome = await checkManifests(objects, loaded.policy, directory, parsed.option('namespace') ?? 'default');
  io.stdout(output === 'json' ? jsonReport(outcome) : tableReport(outcome));
  return outcome.checked.some((entry) => !entry.decision.allowed) ? EXIT.denied : EXIT.ok;
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
  throw new UsageError('policy takes `validate FILE` or `default`');
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
