import { readFile } from 'node:fs/promises';
import { InvalidInputError } from './admission/binding.ts';
import { SnapshotDirectory } from './directory/snapshot.ts';
import type { Directory } from './directory/port.ts';
import { DEFAULT_POLICY_YAML } from './policy/default-policy.ts';
import type { Policy } from './policy/model.ts';
import { formatProblems, parsePolicy, type PolicyProblem } from './policy/parse.ts';

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
  return { policy: result.policy, source, warnings: result.warnings };
}

/** The directory the options name: an offline snapshot with --directory FILE; Microsoft Graph comes later. */
export async function loadDirectory(path: string | undefined): Promise<Directory | undefined> {
  return path ? SnapshotDirectory.fromFile(path) : undefined;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
