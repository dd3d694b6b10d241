/**
 * Everything the project reads lives in the repository: no file names a path outside it (a folder beside the clone
 * that exists on one machine only, an absolute home or temp path in a fixture), and every repository file the
 * READMEs' examples name exists. A fresh clone must pass its own tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../chart/helm.ts';

/** Files whose relative paths are resolved from the repository root too: they run with it as working directory. */
const RUN_FROM_ROOT = /^(Makefile|\.ci\/run|package\.json|scripts\/.*\.sh)$/;
/** Where absolute paths of one machine must never appear: the data tests and users read. */
const FIXTURE_FILES = /^(test\/fixtures|examples)\//;
const MACHINE_PATH = /(?<![\w.-])(\/(?:home|root|tmp|Users|work|var\/folders)\/[^\s'"`)]*)/g;
/** `../` once or more, then a name: a relative path that may climb out. `../../..` alone names nothing. */
const RELATIVE_PATH = /(?<![\w./-])((?:\.\.\/)+[\w@][^\s'"`)\]>,;]*)/g;
const NAMED_OUTSIDE = /\.\.\/shared\b|shared\/fixtures/g;
/** Strings that look like relative paths but are not read from disk, each with the reason. */
const NOT_PATHS: ReadonlyArray<{ readonly file: string; readonly text: string; readonly why: string }> = [
  { file: 'docs/reliability.md', text: '../../users', why: 'a hostile Graph URL the fault suite sends' },
  { file: 'test/repository/self-contained.test.ts', text: '', why: "this file's own examples of what the detector finds" },
];

/** The files of the repository as a fresh clone has them: tracked and new files, not ignored ones. */
function repositoryFiles(): string[] {
  try {
    const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' });
    return listed.split('\0').filter((file) => file !== '' && existsSync(join(REPO_ROOT, file)));
  } catch {
    return walk(REPO_ROOT).map((file) => relative(REPO_ROOT, file).split(sep).join('/'));
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.git')) return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function textOf(file: string): string | undefined {
  const bytes = readFileSync(join(REPO_ROOT, file));
  return bytes.includes(0) ? undefined : bytes.toString('utf8');
}

const escapes = (from: string, path: string): boolean => relative(REPO_ROOT, resolve(REPO_ROOT, from, path)).startsWith('..');

/** Each place in `text` (the content of repository file `file`) that names a path outside the repository. */
export function pathsOutside(file: string, text: string): string[] {
  const found: string[] = [];
  for (const [line, content] of text.split('\n').entries()) {
    const at = (what: string) => `${file}:${line + 1}: ${what}`;
    for (const match of content.matchAll(NAMED_OUTSIDE)) found.push(at(`names ${match[0]}, which exists beside our own clones only`));
    // A symbolic link's target is relative to the link, not to this file.
    const paths = /\bln\s+-s/.test(content) ? [] : content.matchAll(RELATIVE_PATH);
    for (const [, path] of paths) {
      const bases = RUN_FROM_ROOT.test(file) ? [dirname(file), '.'] : [dirname(file)];
      if (bases.some((base) => escapes(base, path!))) found.push(at(`${path} is outside the repository`));
    }
    if (FIXTURE_FILES.test(file)) {
      for (const [, path] of content.matchAll(MACHINE_PATH)) found.push(at(`${path} is a path of one machine`));
    }
  }
  return found;
}

const selfContained = suite('repository :: self-contained');

/** The folder beside our own clones, spelt so that this file does not name it itself. */
const BESIDE = ['..', 'shared'].join('/');

selfContained('the detector :: climbing out, the folder beside the clone, a machine path in a fixture :: found; paths inside :: not', () => {
  assert.equal(pathsOutside('test/helpers.ts', `new URL('../${BESIDE}/fixtures/admission-reviews/', import.meta.url)`).length, 2);
  assert.equal(pathsOutside('README.md', `--data-binary @${BESIDE}/fixtures/admission-reviews/02.json`).length, 2);
  assert.equal(pathsOutside('bench/payloads.ts', "new URL('../../elsewhere/review.json', import.meta.url)"), [
    'bench/payloads.ts:1: ../../elsewhere/review.json is outside the repository',
  ]);
  assert.equal(pathsOutside('Makefile', 'cp ../fixtures/x.json test/').length, 1, 'a Makefile runs from the root');
  assert.equal(pathsOutside('test/fixtures/review.json', '{"path": "/home/alice/ca.crt", "tmp": "/tmp/x/y"}').length, 2);
  assert.equal(pathsOutside('charts/entra-rbac-guard/README.md', '[guide](../../docs/install-aks.md)'), []);
  assert.equal(pathsOutside('bench/payloads.ts', "new URL('../test/fixtures/admission-reviews/04.json', import.meta.url)"), []);
  assert.equal(pathsOutside('scripts/build.sh', 'ln -s ../../.. .go/src/k8s.io/kubernetes'), []);
  assert.equal(pathsOutside('scripts/image.sh', 'ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"'), [], 'a link target');
  assert.equal(pathsOutside('src/http/errors.ts', "'/tmp/entra-rbac-guard-8443/ca.crt'"), [], 'a runtime path in code is not a fixture');
});

selfContained('every file of the repository :: names no path outside it', () => {
  const files = repositoryFiles();
  assert.ok(files.length > 100, `found only ${files.length} files: is this the repository?`);
  const found = files.flatMap((file) => {
    const text = textOf(file);
    if (text === undefined || file === 'package-lock.json') return [];
    return pathsOutside(file, text).filter((place) => !NOT_PATHS.some((not) => not.file === file && place.includes(not.text)));
  });
  assert.equal(found, [], `copy what these read into the repository (test/fixtures/, examples/) and name it there:\n${found.join('\n')}`);
});

selfContained('the READMEs :: every fixture and example they name :: exists in the repository', () => {
  const named = ['README.md', 'examples/README.md'].flatMap((readme) =>
    [...readFileSync(join(REPO_ROOT, readme), 'utf8').matchAll(/(?:test\/fixtures|examples)\/[\w./-]+\.(?:json|ya?ml)/g)].map((match) => match[0]),
  );
  assert.ok(named.length >= 2, `the READMEs name ${named.length} example files`);
  const missing = named.filter((path) => !existsSync(join(REPO_ROOT, path)));
  assert.equal(missing, [], 'files the READMEs name but the repository lacks');
});

selfContained.run();
