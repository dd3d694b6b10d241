/**
 * `make faults`: runs every scenario of faults/scenarios/ (file-name order; FAULTS=regex picks some by file name),
 * prints the table of what was tried and survived, writes faults/results.json, and exits 1 when any case failed.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderFailures, renderTable, rowFailed, type SectionResult } from './lib/table.ts';
import type { Scenario, ScenarioContext } from './scenario.ts';

const SCENARIOS_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

async function main(): Promise<number> {
  const quick = process.env['FAULTS_QUICK'] !== '0';
  const context: ScenarioContext = {
    quick,
    soakMinutes: Number(process.env['SOAK_MINUTES'] ?? (quick ? 2 : 30)),
    log: (message) => process.stderr.write(`  ${message}\n`),
  };
  const pick = process.env['FAULTS'] ? new RegExp(process.env['FAULTS']) : undefined;
  const files = readdirSync(SCENARIOS_DIR)
    .filter((file) => file.endsWith('.ts') && (!pick || pick.test(file)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`make faults: no scenario in faults/scenarios/ matches FAULTS=${process.env['FAULTS'] ?? ''}\n`);
    return 2;
  }
  const results: SectionResult[] = [];
  for (const file of files) {
    const { default: scenario } = (await import(pathToFileURL(`${SCENARIOS_DIR}${file}`).href)) as { default: Scenario };
    process.stderr.write(`▶ ${scenario.name} (${file})\n`);
    const started = performance.now();
    try {
      const rows = await scenario.run(context);
      results.push({ scenario: scenario.name, file, rows, seconds: (performance.now() - started) / 1000 });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`✘ ${scenario.name}: the scenario itself failed: ${message}\n`);
      results.push({ scenario: scenario.name, file, rows: [], error: message, seconds: (performance.now() - started) / 1000 });
    }
  }
  const table = renderTable(results);
  process.stdout.write(`\nmachine: ${cpus().length} cores, Node.js ${process.version}, ${quick ? 'quick run (CI)' : 'full run'}\n${table}`);
  writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, quick, results }, null, 2)}\n`);
  const strict = process.env['FAULTS_STRICT'] === '1';
  const notRun = results.flatMap((result) => result.rows.filter((row) => row.notRun !== undefined));
  for (const row of notRun) process.stdout.write(`\nNOT RUN: ${row.fault}: ${row.notRun}${strict ? ' (FAULTS_STRICT=1: counted as a failure)' : ''}\n`);
  const failed = results.filter((result) => result.error !== undefined || result.rows.some((row) => rowFailed(row, strict)));
  if (failed.length > 0) {
    process.stdout.write(`\nFAILED: ${failed.map((result) => result.scenario).join(', ')}\n${renderFailures(failed, strict)}`);
    return 1;
  }
  const ran = results.reduce((sum, result) => sum + result.rows.length, 0) - notRun.length;
  process.stdout.write(`\nall ${ran} faults that ran survived${notRun.length > 0 ? `; ${notRun.length} could not run here (above)` : ''}\n`);
  return 0;
}

process.exitCode = await main();
