/**
 * The Dockerfile, kept correct without a Docker engine (none runs here): its invariants read from the file, and the
 * chart's assumptions about the image (user, node path, port) checked against it. `make image` builds it where Docker
 * runs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { CHART, REPO_ROOT } from './helm.ts';

type Json = Record<string, any>;

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly platform: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped; ARG defaults before the first FROM applied. */
function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const instructions = joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=(\S+)\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      assert.ok(match, `FROM ${instruction.args}`);
      const image = match![2]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string, bare: string) => globalArgs[braced ?? bare] ?? '');
      stages.push({ image, name: match![3], platform: match![1], instructions: [] });
    } else if (stages.length === 0) {
      assert.is(instruction.keyword, 'ARG', 'only ARG may come before the first FROM');
      const [name, value] = instruction.args.split('=');
      globalArgs[name!] = value ?? '';
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const { globalArgs, stages } = parseDockerfile(DOCKERFILE);
const FINAL = stages.at(-1)!;
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Json;
const VALUES = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Json;

function major(range: string): number {
  const match = /(\d+)/.exec(range);
  assert.ok(match, `no major version in ${range}`);
  return Number(match![1]);
}

function imageNodeMajor(image: string): number {
  const match = /^node:(\d+)[-.@:]|^node:(\d+)$|distroless\/nodejs(\d+)-/.exec(image);
  assert.ok(match, `${image} is not a node or distroless nodejs image with a major version`);
  return Number(match![1] ?? match![2] ?? match![3]);
}

function instructionsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
}

function jsonForm(args: string): string[] {
  assert.ok(args.startsWith('['), `exec (JSON) form expected, got ${args}`);
  return JSON.parse(args) as string[];
}

const Dockerfile = suite('image :: Dockerfile invariants');

Dockerfile('multi-stage :: a build stage, a production-dependencies stage and the runtime', () => {
  assert.ok(stages.length >= 3, `${stages.length} stages`);
  assert.equal(stages.slice(0, -1).map((stage) => stage.name), ['build', 'deps']);
});

Dockerfile('node :: every stage is Node.js of the major in package.json engines and the pinned node devDependency', () => {
  const engines = major(PACKAGE['engines']['node']);
  const pinned = major(PACKAGE['devDependencies']['node']);
  assert.is(engines, 24);
  assert.is(pinned, engines, 'engines.node and the node devDependency agree');
  assert.is(globalArgs['NODE_MAJOR'], String(engines));
  for (const stage of stages) assert.is(imageNodeMajor(stage.image), engines, `${stage.name ?? 'runtime'}: ${stage.image}`);
});

Dockerfile('runtime :: distroless (no shell, no package manager), as the nonroot variant', () => {
  assert.match(FINAL.image, /^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot$/);
  assert.equal(instructionsOf(FINAL, 'RUN'), [], 'nothing runs in the runtime stage: it has no shell');
});

Dockerfile('runtime :: a non-root USER, numeric (runAsNonRoot can check it), the chart runs as the same', () => {
  const users = instructionsOf(FINAL, 'USER');
  assert.is(users.length, 1);
  const [uid, gid] = users[0]!.split(':');
  assert.match(uid!, /^\d+$/);
  assert.is.not(Number(uid), 0);
  assert.is.not(uid, 'root');
  assert.is(VALUES['podSecurityContext']['runAsUser'], Number(uid));
  assert.is(VALUES['podSecurityContext']['runAsGroup'], Number(gid));
});

Dockerfile('dependencies :: production only (npm ci --omit=dev) and those are what the runtime gets', () => {
  const deps = stages.find((stage) => stage.name === 'deps')!;
  assert.ok(instructionsOf(deps, 'RUN').some((run) => /\bnpm ci\b.*--omit=dev/.test(run)), 'npm ci --omit=dev in the deps stage');
  const copies = instructionsOf(FINAL, 'COPY');
  assert.ok(copies.some((copy) => /--from=deps\b.*node_modules/.test(copy)), 'node_modules come from the deps stage');
  assert.not.ok(copies.some((copy) => /--from=build\b.*node_modules/.test(copy)), 'never the build stage node_modules (dev dependencies)');
  assert.ok(copies.some((copy) => /--from=build\b.*\/dist\b/.test(copy)), 'the compiled dist/ from the build stage');
  assert.ok(copies.some((copy) => /\bpackage\.json\b/.test(copy)), 'package.json (the CLI reads its version)');
  for (const stage of stages) {
    for (const run of instructionsOf(stage, 'RUN')) assert.not.match(run, /\bnpm (install|i)\b/, `${stage.name}: npm install ignores the lock file; use npm ci`);
  }
});

Dockerfile('entry point :: the CLI on the image node, default command serve', () => {
  const entrypoint = jsonForm(instructionsOf(FINAL, 'ENTRYPOINT')[0]!);
  assert.equal(entrypoint, ['/nodejs/bin/node', '/app/dist/bin.js']);
  assert.equal(jsonForm(instructionsOf(FINAL, 'CMD')[0]!), ['serve']);
  assert.is(VALUES['test']['nodePath'], entrypoint[0], "the chart's helm test runs the image's node");
  assert.equal(instructionsOf(FINAL, 'EXPOSE'), [String(VALUES['server']['port'])]);
});

Dockerfile('dependencies :: what the compiled code imports is all in dependencies (the image has no devDependencies)', () => {
  const dist = join(REPO_ROOT, 'dist');
  assert.ok(existsSync(join(dist, 'bin.js')), 'dist/ is not built: run `make build` (`make test` does)');
  const files = (readdirSync(dist, { recursive: true }) as string[]).filter((file) => file.endsWith('.js'));
  const imported = new Set<string>();
  for (const file of files) {
    const code = readFileSync(join(dist, file), 'utf8');
    for (const match of code.matchAll(/(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
      const specifier = match[1] ?? match[2] ?? match[3]!;
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
    }
  }
  assert.ok(imported.size > 0, 'found no package imports in dist/: the scan is broken');
  const dependencies = Object.keys(PACKAGE['dependencies'] ?? {});
  assert.equal([...imported].filter((name) => !dependencies.includes(name)).sort(), [], 'imported at run time but not in dependencies');
});

Dockerfile('no HEALTHCHECK :: Kubernetes probes the HTTPS health endpoints', () => {
  for (const stage of stages) assert.equal(instructionsOf(stage, 'HEALTHCHECK'), []);
});

Dockerfile('labels :: the OCI annotations', () => {
  const labels = instructionsOf(FINAL, 'LABEL').join(' ');
  for (const key of ['title', 'description', 'licenses', 'version', 'revision']) {
    assert.match(labels, `org.opencontainers.image.${key}=`);
  }
  assert.match(labels, `org.opencontainers.image.licenses="${PACKAGE['license']}"`);
  assert.match(DOCKERFILE, new RegExp(`ARG VERSION=${PACKAGE['version'].replaceAll('.', '\\.')}\\n`), 'ARG VERSION defaults to package.json version');
});

Dockerfile('.dockerignore :: the context is the lock file, the sources and the TypeScript configuration only', () => {
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  assert.is(ignore[0], '*', 'everything is excluded first');
  const included = ignore.slice(1).map((line) => line.replace(/^!/, ''));
  assert.equal(included.sort(), ['package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json']);
  const copied = stages.flatMap((stage) => instructionsOf(stage, 'COPY')).filter((copy) => !copy.includes('--from='));
  for (const copy of copied) {
    const sources = copy.replace(/--\S+\s+/g, '').split(/\s+/).slice(0, -1);
    for (const source of sources) assert.ok(included.includes(source.replace(/\/$/, '')), `COPY ${source} is in the build context`);
  }
});

Dockerfile('README :: says that no Docker engine runs here and how the Dockerfile is kept correct', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.match(readme, 'No Docker engine runs');
  assert.match(readme, 'test/chart/dockerfile.test.ts');
});

Dockerfile.run();
