/** The chart's Grafana dashboard (charts/entra-rbac-guard/dashboards/entra-rbac-guard.json) and the queries in it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART } from './helm.ts';

type Json = Record<string, any>;

export const DASHBOARD = JSON.parse(readFileSync(join(CHART, 'dashboards', 'entra-rbac-guard.json'), 'utf8')) as Json;

/** Every PromQL expression of the dashboard, with where it is: panel targets and template variable queries. */
export function dashboardQueries(): Array<{ where: string; expr: string }> {
  const panels = (DASHBOARD['panels'] as Json[]).flatMap((panel) => [panel, ...((panel['panels'] as Json[] | undefined) ?? [])]);
  const targets = panels.flatMap((panel) => ((panel['targets'] as Json[] | undefined) ?? []).map((target) => ({ where: `panel "${panel['title']}"`, expr: String(target['expr']) })));
  const variables = (DASHBOARD['templating']['list'] as Json[])
    .filter((variable) => variable['type'] === 'query')
    .map((variable) => ({ where: `variable $${variable['name']}`, expr: String(variable['query']['query'] ?? variable['query']).replace(/^label_values\((.*),\s*\w+\)$/, '$1') }));
  return [...targets, ...variables];
}

