/**
 * The metric names a PromQL expression reads, for checking dashboards and alerts against what the webhook exports.
 * Not a PromQL parser: strings, label matchers, ranges, grouping clauses and Grafana variables are blanked out, and
 * what remains that is a name not followed by `(` (a function or an aggregation) and not a keyword is a metric.
 */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export function metricNames(expr: string): string[] {
  const blanked = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const match of blanked.matchAll(/(?<![\w.])[a-zA-Z_:][\w:]*/g)) {
    const rest = blanked.slice(match.index + match[0].length).trimStart();
    if (!rest.startsWith('(') && !KEYWORDS.has(match[0].toLowerCase())) names.add(match[0]);
  }
  return [...names];
}

/** Metric names and types from a Prometheus text exposition's `# TYPE` lines (every registered metric has one). */
export function exportedMetrics(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

/** Whether `name` is exported: itself, or the `_bucket`, `_sum` or `_count` series of an exported histogram or summary. */
export function isExported(name: string, exported: ReadonlyMap<string, string>): boolean {
  if (exported.has(name)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name);
  return base !== null && ['histogram', 'summary'].includes(exported.get(base[1]!) ?? '') && (base[2] !== 'bucket' || exported.get(base[1]!) === 'histogram');
}
