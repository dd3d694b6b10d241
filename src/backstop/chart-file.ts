import { DEFAULT_POLICY } from '../policy/parse.ts';
import { CLOCK, EXPIRY_GRACE } from './cel.ts';
import { MATCH_RESOURCE_RULES, ruleValidation, ruleVariable } from './generate.ts';
import { BACKSTOP_RULES } from './rules/index.ts';
import { LEADING_VARIABLES, SHARED_VARIABLES } from './variables.ts';

/** Where the chart keeps the backstop's fixed parts, relative to the repository. */
export const CHART_FILE = 'charts/entra-rbac-guard/files/backstop.json';

/**
 * What the chart's templates cannot compute, since Helm cannot run this code: every expression that does not depend
 * on the policy. The templates add the policy's lists and conditions around it, as backstopObjects() does.
 */
export function backstopChartFile(): string {
  const file = {
    comment:
      'Generated from src/backstop: `npm exec -- node --import tsx scripts/backstop-chart-file.ts > ' +
      `${CHART_FILE}\`. templates/backstop.yaml builds the policies from it; test/chart/backstop.test.ts keeps it current.`,
    // The policy's defaults, for values.policy that leaves them out: the engine's, not a copy in the template.
    defaultClusterAdminRoles: DEFAULT_POLICY.clusterAdminRoles,
    clock: CLOCK,
    expiryGrace: EXPIRY_GRACE,
    matchResourceRules: MATCH_RESOURCE_RULES,
    leadingVariables: LEADING_VARIABLES,
    sharedVariables: SHARED_VARIABLES,
    rules: BACKSTOP_RULES.map((rule) => ({ id: rule.id, defaultAction: DEFAULT_POLICY.rules[rule.id], variable: ruleVariable(rule), validation: ruleValidation(rule) })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}
