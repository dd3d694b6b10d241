import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InvalidInputError, isRecord } from '../admission/narrow.ts';

/** One object found in the input, with where it came from: `FILE#DOC`, or `FILE#DOC.items[N]` inside a List. */
export interface ManifestObject {
  readonly source: string;
  readonly object: Record<string, unknown>;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface ReadOptions {
  /**
   * For standard input: a document that `helm template` marked `# Source: CHART/templates/FILE` is named after that
   * template, with this prefix (the folder holding the chart in the repository, e.g. `charts/`), so a pipeline's
   * findings point at the template file. Undefined: documents on standard input are `stdin#N`.
   */
  readonly helmSourcePrefix?: string | undefined;
}

/**
 * Reads YAML or JSON manifests: files, directories (recursively, .yaml/.yml/.json), and `-` for standard input.
 * Multi-document files and `kind: List` are expanded. Throws InvalidInputError naming the file and document.
 */
export async function readManifests(paths: readonly string[], readStdin: () => Promise<string>, options: ReadOptions = {}): Promise<ManifestObject[]> {
  const objects: ManifestObject[] = [];
  for (const path of paths) {
    if (path === '-') {
      objects.push(...parseManifests(await readStdin(), 'stdin', options.helmSourcePrefix));
      continue;
    }
    for (const file of await manifestFiles(path)) {
      objects.push(...parseManifests(await readFile(file, 'utf8'), file));
    }
  }
  return objects;
}

async function manifestFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new InvalidInputError(path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? error}): check the path`);
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory() || (entry.isFile() && MANIFEST_EXTENSIONS.has(extname(entry.name))))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((entry) => manifestFiles(join(path, entry.name))),
  );
  return nested.flat();
}

export function parseManifests(text: string, file: string, helmSourcePrefix?: string): ManifestObject[] {
  const objects: ManifestObject[] = [];
  for (const [index, document] of parseAllDocuments(text).entries()) {
    const comment = `${document.commentBefore ?? ''}\n${(document.contents as { commentBefore?: string | null } | null)?.commentBefore ?? ''}`;
    const template = helmSourcePrefix === undefined ? undefined : HELM_SOURCE.exec(comment)?.[1];
    const source = template ? `${helmSourcePrefix}${template}#${index + 1}` : `${file}#${index + 1}`;
    const error = document.errors[0];
    if (error) {
      const at = error.linePos ? ` (line ${error.linePos[0].line}, column ${error.linePos[0].col})` : '';
      throw new InvalidInputError(source, `is not valid YAML or JSON${at}: ${error.message.split('\n')[0]}`);
    }
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    objects.push(...expandList(value, source));
  }
  return objects;
}

/** The comment `helm template` puts before each document it renders. */
const HELM_SOURCE = /^\s*Source: (\S+)\s*$/m;

function expandList(value: unknown, source: string): ManifestObject[] {
  if (!isRecord(value) || typeof value['kind'] !== 'string') {
    throw new InvalidInputError(source, 'is not a Kubernetes object (it has no kind): remove it or fix the document');
  }
  const items = value['items'];
  if (value['kind'].endsWith('List') && Array.isArray(items)) {
    return items.flatMap((item, index) => expandList(item, `${source}.items[${index}]`));
  }
  return [{ source, object: value }];
}
