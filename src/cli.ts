import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidInputError } from './admission/binding.ts';
import { readManifests } from './check/manifests.ts';
import { checkManifests } from './check/run-check.ts';
import { loadDirectory, loadPolicy } from './config.ts';
import { serve } from './main.ts';
import { DEFAULT_POLICY_YAML } from './policy/default-policy.ts';
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
           [--policy FILE] [--directory FILE] [--port N] [--host H] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]
           Without --tls-cert/--tls-key it serves a self-signed certificate and logs where its CA certificate is.
  check    Judge manifests offline, as the webhook would: YAML or JSON files, directories, or - for standard input.
           [--policy FILE] [--directory FILE] [--output table|json] [--namespace NS] PATH... | -
           Exit 0: nothing denied; 1: something denied; 2: usage or input error.
  policy validate FILE   Check a policy file and list every problem with its path.
  policy default         Print the embedded default policy, with comments.

Options of serve can also be set in the environment: ENTRA_RBAC_GUARD_POLICY, ENTRA_RBAC_GUARD_DIRECTORY,
ENTRA_RBAC_GUARD_PORT, ENTRA_RBAC_GUARD_HOST, ENTRA_RBAC_GUARD_TLS_CERT, ENTRA_RBAC_GUARD_TLS_KEY, ENTRA_RBAC_GUARD_LOG_LEVEL.
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
    if (error instanceof InvalidInputError) {
      io.stderr(`entra-rbac-guard: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

/** Every option of ours takes a string value. */
function parse(
  args: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  allowPositionals: boolean,
): { values: Record<string, string | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals, strict: true });
    return { values: values as Record<string, string | undefined>, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function serveCommand(args: readonly string[], io: Io): Promise<void> {
  const { values } = parse(
    args,
    {
      policy: { type: 'string' },
      directory: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'log-level': { type: 'string' },
    },
    false,
  );
  const option = (name: string): string | undefined =>
    values[name] ?? io.env[`ENTRA_RBAC_GUARD_${name.toUpperCase().replaceAll('-', '_')}`];
  const port = Number(option('port') ?? 8443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got "${option('port')}"`);
  const tlsCert = option('tls-cert');
  const tlsKey = option('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UsageError('--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate');
  const logLevel = option('log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  await serve({
    policy: option('policy'),
    directory: option('directory'),
    host: option('host') ?? '127.0.0.1',
    port,
    tlsCert,
    tlsKey,
    logLevel,
  });
}

async function checkCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      policy: { type: 'string' },
      directory: { type: 'string' },
      output: { type: 'string', default: 'table' },
      namespace: { type: 'string', default: 'default' },
    },
    true,
  );
  if (positionals.length === 0) throw new UsageError('check needs at least one PATH, or - to read standard input');
  if (values['output'] !== 'table' && values['output'] !== 'json') throw new UsageError(`--output must be table or json, got "${values['output']}"`);
  const loaded = await loadPolicy(values['policy']);
  for (const warning of loaded.warnings) io.stderr(`warning: policy ${loaded.source}: ${warning.path}: ${warning.message}\n`);
  const directory = await loadDirectory(values['directory']);
  const objects = await readManifests(positionals, io.readStdin);
  const outcome = await checkManifests(objects, loaded.policy, directory, values['namespace'] ?? 'default');
  io.stdout(values['output'] === 'json' ? jsonReport(outcome) : tableReport(outcome));
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

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}
