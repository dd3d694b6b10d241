/** The fault suite's table, and the failures once more in a line each, for CI logs that keep only their end. */
import type { FaultRow } from '../scenario.ts';

export interface SectionResult {
  readonly scenario: string;
  readonly file: string;
  readonly rows: readonly FaultRow[];
  readonly error?: string;
  readonly seconds: number;
}

/** A row fails when fewer cases survived than ran; one that could not run fails only in a strict run. */
export function rowFailed(row: FaultRow, strict: boolean): boolean {
  return (row.notRun === undefined || strict) && row.survived < row.cases;
}

export function renderTable(results: readonly SectionResult[]): string {
  const header = ['attack or fault', 'cases', 'survived', 'worst latency', 'note'];
  const lines: string[][] = [];
  for (const result of results) {
    if (result.error !== undefined) lines.push([`${result.scenario}: scenario failed`, '-', '-', '-', firstLine(result.error)]);
    for (const row of result.rows) {
      lines.push([
        row.fault,
        String(row.cases),
        row.notRun === undefined ? `${row.survived}${row.survived < row.cases ? ' ✘' : ''}` : 'NOT RUN',
        row.worstLatencyMs === undefined ? '-' : `${row.worstLatencyMs.toFixed(1)} ms`,
        row.note ?? (row.notRun === undefined ? '' : `not run: ${row.notRun}`),
      ]);
    }
  }
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const render = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [render(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(render)].join('\n') + '\n';
}

/** One line for each failed row, with its note: what CI shows when it keeps only the end of the output. */
export function renderFailures(results: readonly SectionResult[], strict: boolean): string {
  const lines: string[] = [];
  for (const result of results) {
    if (result.error !== undefined) lines.push(`✘ ${result.scenario}: the scenario itself failed: ${firstLine(result.error)}`);
    for (const row of result.rows) {
      if (rowFailed(row, strict)) {
        lines.push(`✘ ${result.scenario}: ${row.fault}: ${row.survived} of ${row.cases} survived${row.note ? `; ${row.note}` : ''}`);
      }
    }
  }
  return lines.map((line) => `${line}\n`).join('');
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
