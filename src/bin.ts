import { text } from 'node:stream/consumers';
import { runCli } from './cli.ts';

/** The process entry point: runs the CLI with the real stdio and turns its result into the exit code. */
const exitCode = await runCli(process.argv.slice(2), {
  stdout: (output) => process.stdout.write(output),
  stderr: (output) => process.stderr.write(output),
  readStdin: () => text(process.stdin),
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
}).catch((error: unknown) => {
  process.stderr.write(`entra-rbac-guard: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
  // A half-started server must not linger: exit now rather than keep listening in an unknown state.
  process.exit(70);
});
process.exitCode = exitCode;
