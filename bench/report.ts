/** Formatting shared by the benchmark parts: rows of four cells, printed as they come and as a table at the end. */

export type Row = readonly string[];

export function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

export function table(rows: readonly Row[]): string {
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** `0.91× ≥ 0.85 ✓` / `0.70× ≥ 0.85 ✗ missed`. */
export function verdict(value: number, comparison: '≥' | '≤', target: number): string {
  const met = comparison === '≥' ? value >= target : value <= target;
  return `${fmt(value)}× (target ${comparison} ${target}) ${met ? 'met' : 'MISSED'}`;
}
