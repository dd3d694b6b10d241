/**
 * Issue 8, item 9: supply chain. Static checks, so no latency:
 *
 * - `npm audit --omit=dev --audit-level=high`: no high or critical advisory in the production dependencies. When the
 *   registry does not answer the audit, the row says NOT RUN and why (never "survived": an audit that did not run is
 *   not a clean audit); FAULTS_STRICT=1 makes that a failure. Findings always fail the run.
 * - package-lock.json is committed and matches package.json; every install in the repository is `npm ci`.
 * - The image runs as non-root on a read-only root filesystem: test/chart/dockerfile.test.ts (the Dockerfile's
 *   invariants) is run as it is, and the chart is rendered with helm (test/chart/helm.ts) to read every container's
 *   securityContext, default values and the full values file alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE } from '../lib/webhook.ts';
import { PROMETHEUS_OPERATOR, REPO_ROOT, VALUES_DIR, render, type K8sObject } from '../../test/chart/helm.ts';
import { defineScenario, type FaultRow } from '../scenario.ts';

/** Where installs happen: the build, CI, the image, the helper scripts. */
const INSTALL_SITES = ['Makefile', 'Dockerfile', '.ci/run', ...listScripts()];
/** An install that ignores (or rewrites) the lock file. */
const LOOSE_INSTALL = /\b(?:npm\s+(?:install|i|add|update|upgrade)\b|yarn(?:\s+(?:install|add))?\b|pnpm\s+(?:install|add|i)\b)/;

export default defineScenario({
  name: 'Supply chain',
  async run(context) {
    const rows = [npmAudit(), lockfile(), dockerfile()];
    context.log('rendering the chart with helm');
    try {
      rows.push(chartSecurity());
    } catch (error) {
      rows.push({ fault: 'chart: read-only root filesystem, non-root (helm template)', cases: 1, survived: 0, note: `FAILED: the chart could not be rendered: ${(error as Error).message.split('\n')[0]}` });
    }
    return rows;
  },
});

// --- npm audit ---------------------------------------------------------------------------------------------------

interface AuditReport {
  readonly error?: { readonly summary?: string; readonly detail?: string };
  readonly message?: string;
  readonly statusCode?: number;
  readonly vulnerabilities?: Record<string, { readonly severity: string; readonly via: readonly unknown[] }>;
  readonly metadata?: { readonly vulnerabilities?: Record<string, number>; readonly dependencies?: { readonly prod?: number } };
}

function npmAudit(): FaultRow {
  const fault = 'npm audit --omit=dev (no high or critical advisory)';
  const result = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
  let report: AuditReport;
  try {
    report = JSON.parse(result.stdout) as AuditReport;
  } catch {
    const why = result.error?.message ?? (result.stderr.trim().split('\n').pop() || `exit ${result.status}`);
    return { fault, cases: 1, survived: 0, note: `FAILED: npm audit printed no report (${why})` };
  }
  if (!report.metadata) {
    // npm prints {message, statusCode, …} or {error: {summary}} when the registry did not answer the audit.
    // npm's message carries the endpoint's address; the row says what happened without it.
    const why = (report.message ?? report.error?.summary ?? JSON.stringify(report).slice(0, 200)).replace(/\s*-?\s*\b(?:GET|POST)?\s*https?:\/\/\S+/g, '');
    return {
      fault,
      cases: 1,
      survived: 0,
      notRun: `the registry did not answer the audit (${why}): the registry this machine reaches does not serve npm's audit endpoint. Run \`npm audit --omit=dev --audit-level=high\` against the public npm registry (FAULTS_STRICT=1 makes this a failure)`,
    };
  }
  const counts = report.metadata.vulnerabilities ?? {};
  const serious = Object.entries(report.vulnerabilities ?? {}).filter(([, finding]) => finding.severity === 'high' || finding.severity === 'critical');
  const audited = report.metadata.dependencies?.prod ?? 0;
  return {
    fault,
    cases: Math.max(audited, 1),
    survived: Math.max(audited, 1) - serious.length,
    note:
      `${audited} production packages audited: ${counts['critical'] ?? 0} critical, ${counts['high'] ?? 0} high, ${counts['moderate'] ?? 0} moderate, ${counts['low'] ?? 0} low` +
      (serious.length > 0 ? `; FAILED: ${serious.map(([name, finding]) => `${name} (${finding.severity})`).join(', ')}` : ''),
  };
}

// --- lock file and npm ci ------------------------------------------------------------------------------------------

function lockfile(): FaultRow {
  const problems: string[] = [];
  const checks: [string, () => string | undefined][] = [
    ['package-lock.json is tracked by git', () => (git(['ls-files', '--error-unmatch', 'package-lock.json']) ? undefined : 'package-lock.json is not committed')],
    ['package-lock.json has no uncommitted change', () => (git(['diff', '--quiet', 'HEAD', '--', 'package-lock.json']) ? undefined : 'package-lock.json differs from the committed one')],
    ['the lock file matches package.json', lockMatchesManifest],
    ...INSTALL_SITES.map((site): [string, () => string | undefined] => [`${site} installs with npm ci only`, () => looseInstall(site)]),
    ['the Makefile installs with npm ci', () => (/\$\(NPM\) ci\b|\bnpm ci\b/.test(read('Makefile')) ? undefined : 'the Makefile has no npm ci')],
    ['the Dockerfile installs with npm ci', () => (/\bnpm ci\b/.test(read('Dockerfile')) ? undefined : 'the Dockerfile has no npm ci')],
  ];
  for (const [, check] of checks) {
    const problem = check();
    if (problem) problems.push(problem);
  }
  return {
    fault: 'lock file committed, npm ci everywhere',
    cases: checks.length,
    survived: checks.length - problems.length,
    note: `package-lock.json tracked, clean and in step with package.json; no npm install/update, yarn or pnpm in ${INSTALL_SITES.join(', ')}${problems.length ? `; FAILED: ${problems.join('; ')}` : ''}`,
  };
}

function lockMatchesManifest(): string | undefined {
  const manifest = JSON.parse(read('package.json')) as Record<string, Record<string, string> | undefined>;
  const lock = JSON.parse(read('package-lock.json')) as { lockfileVersion?: number; packages?: Record<string, Record<string, Record<string, string> | undefined>> };
  if ((lock.lockfileVersion ?? 0) < 2) return `lockfileVersion ${lock.lockfileVersion} (npm 7+ writes 3)`;
  const root = lock.packages?.[''] ?? {};
  for (const field of ['dependencies', 'devDependencies'] as const) {
    const wanted = JSON.stringify(sorted(manifest[field] ?? {}));
    const locked = JSON.stringify(sorted(root[field] ?? {}));
    if (wanted !== locked) return `package-lock.json's ${field} are not package.json's: run npm install once and commit the lock file`;
  }
  return undefined;
}

function looseInstall(site: string): string | undefined {
  const lines = read(site)
    .split('\n')
    .map((line, index) => ({ line: line.replace(/(^|\s)#.*$/, ''), number: index + 1 }))
    .filter(({ line }) => LOOSE_INSTALL.test(line));
  return lines.length ? `${site}:${lines[0]!.number} installs without the lock file: ${lines[0]!.line.trim()}` : undefined;
}

// --- the image -----------------------------------------------------------------------------------------------------

/** test/chart/dockerfile.test.ts, run as it is: it reads the Dockerfile's invariants (no Docker engine runs here). */
function dockerfile(): FaultRow {
  const result = spawnSync(NODE, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', 'chart/dockerfile\\.test\\.ts$'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  const plain = `${result.stdout}\n${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failures = [...plain.matchAll(/FAIL\s+.*?"(.+?)"/g)].map((match) => match[1]);
  const final = finalStage(read('Dockerfile'));
  const user = /^USER\s+(\S+)/m.exec(final)?.[1] ?? '(none)';
  const rootOwned = [...final.matchAll(/^COPY\b.*$/gm)].every((copy) => /--chown=0:0/.test(copy[0]));
  const extra = [
    /^\d+(:\d+)?$/.test(user) && !/^0(:|$)/.test(user) ? undefined : `the runtime USER is ${user}, not a numeric non-root user`,
    rootOwned ? undefined : 'a COPY into the runtime stage without --chown=0:0 (the process could rewrite its own code)',
    /^VOLUME\b/m.test(final) ? 'the runtime stage declares a VOLUME' : undefined,
  ].filter((problem): problem is string => problem !== undefined);
  const cases = Math.max(total, 1) + 3;
  return {
    fault: 'image: non-root, read-only friendly (Dockerfile)',
    cases,
    survived: (total > 0 ? passed : 0) + 3 - extra.length,
    note:
      `test/chart/dockerfile.test.ts ${passed}/${total} (distroless nonroot, numeric USER = the chart's runAsUser, npm ci --omit=dev); runtime USER ${user}, ` +
      `code and node_modules owned by root (read-only to the process), no VOLUME` +
      (total === 0 ? `; FAILED: the Dockerfile test did not run: ${plain.trim().split('\n').slice(-3).join(' ')}` : '') +
      (failures.length || extra.length ? `; FAILED: ${[...failures, ...extra].join('; ')}` : ''),
  };
}

function finalStage(dockerfileText: string): string {
  const stages = dockerfileText.split(/^FROM\b/m);
  return `FROM${stages.at(-1) ?? ''}`;
}

// --- the chart -----------------------------------------------------------------------------------------------------

/** Every container of every pod the chart renders (default values, and each values file of test/chart/values/). */
function chartSecurity(): FaultRow {
  const renders: [string, K8sObject[]][] = [['default values', render()]];
  for (const file of readdirSync(VALUES_DIR).filter((name) => name.endsWith('.yaml'))) {
    // Every optional API a values file may switch on (cert-manager, the Prometheus Operator) is said to be served.
    renders.push([file, render({ valuesFiles: [join(VALUES_DIR, file)], apiVersions: ['cert-manager.io/v1', ...PROMETHEUS_OPERATOR] })]);
  }
  const problems: string[] = [];
  let cases = 0;
  let containers = 0;
  for (const [values, objects] of renders) {
    for (const { where, pod } of podSpecs(objects)) {
      for (const container of [...(pod['initContainers'] ?? []), ...(pod['containers'] ?? [])] as Record<string, any>[]) {
        containers += 1;
        const context = { ...(pod['securityContext'] ?? {}), ...(container['securityContext'] ?? {}) } as Record<string, any>;
        const at = `${values}: ${where} container ${container['name']}`;
        const expectations: [boolean, string][] = [
          [container['securityContext']?.['readOnlyRootFilesystem'] === true, 'readOnlyRootFilesystem is not true'],
          [context['runAsNonRoot'] === true, 'runAsNonRoot is not true'],
          [context['runAsUser'] === undefined || context['runAsUser'] !== 0, 'runAsUser is 0'],
          [container['securityContext']?.['allowPrivilegeEscalation'] === false, 'allowPrivilegeEscalation is not false'],
          [(container['securityContext']?.['capabilities']?.['drop'] ?? []).includes('ALL'), 'capabilities are not all dropped'],
        ];
        for (const [ok, problem] of expectations) {
          cases += 1;
          if (!ok) problems.push(`${at}: ${problem}`);
        }
      }
    }
    // Read-only friendly: the webhook itself gets a writable /tmp (Node.js and OpenSSL may want one) and nothing else.
    cases += 1;
    const deployment = objects.find((object) => object.kind === 'Deployment');
    const webhook = deployment?.['spec']?.['template']?.['spec']?.['containers']?.[0] as Record<string, any> | undefined;
    const tmp = (webhook?.['volumeMounts'] ?? []).find((mount: Record<string, unknown>) => mount['mountPath'] === '/tmp');
    const volume = (deployment?.['spec']?.['template']?.['spec']?.['volumes'] ?? []).find((item: Record<string, unknown>) => item['name'] === tmp?.['name']);
    if (!tmp || !volume?.['emptyDir']) problems.push(`${values}: the webhook has no emptyDir at /tmp`);
  }
  return {
    fault: 'chart: read-only root filesystem, non-root (helm template)',
    cases,
    survived: cases - problems.length,
    note: `${containers} containers in ${renders.length} renders (${renders.map(([values]) => values).join(', ')}): readOnlyRootFilesystem, runAsNonRoot, no privilege escalation, all capabilities dropped; /tmp an emptyDir${problems.length ? `; FAILED: ${problems.slice(0, 3).join('; ')}` : ''}`,
  };
}

function podSpecs(objects: readonly K8sObject[]): { where: string; pod: Record<string, any> }[] {
  return objects.flatMap((object) => {
    const pod = object.kind === 'Pod' ? object['spec'] : object['spec']?.['template']?.['spec'] ?? object['spec']?.['jobTemplate']?.['spec']?.['template']?.['spec'];
    return pod ? [{ where: `${object.kind} ${object.metadata.name}`, pod: pod as Record<string, any> }] : [];
  });
}

// --- helpers -------------------------------------------------------------------------------------------------------

function read(file: string): string {
  return readFileSync(join(REPO_ROOT, file), 'utf8');
}

function git(args: readonly string[]): boolean {
  return spawnSync('git', args, { cwd: REPO_ROOT, stdio: 'ignore' }).status === 0;
}

function listScripts(): string[] {
  const dir = join(REPO_ROOT, 'scripts');
  return existsSync(dir) ? readdirSync(dir).filter((file) => file.endsWith('.sh')).map((file) => `scripts/${file}`) : [];
}

function sorted(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}
