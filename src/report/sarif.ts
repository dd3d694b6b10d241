import type { CheckOutcome } from '../check/run-check.ts';
import { RULE_IDS } from '../policy/model.ts';
import { ruleHelp } from './rule-help.ts';

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const INFORMATION_URI = 'https://github.com/entra-rbac-guard/entra-rbac-guard';

/**
 * SARIF 2.1.0 for code-scanning tools: one result per violation, `error` for deny and `warning` for warn. A result from
 * a manifest points at its file (the part of `source` before `#`); one from a cluster has a logical location only.
 */
export function sarifReport(outcome: CheckOutcome, version: string): string {
  const ruleIds = [...new Set([...RULE_IDS, ...outcome.checked.flatMap((entry) => entry.decision.violations.map((v) => v.rule))])];
  const results = outcome.checked.flatMap(({ source, object, decision }) =>
    decision.violations.map((violation) => ({
      ruleId: violation.rule,
      ruleIndex: ruleIds.indexOf(violation.rule),
      level: violation.action === 'deny' ? 'error' : 'warning',
      message: { text: violation.message },
      locations: [
        {
          ...(isFile(source) ? { physicalLocation: { artifactLocation: { uri: fileOf(source) } } } : {}),
          logicalLocations: [
            {
              name: object.name,
              kind: 'resource',
              fullyQualifiedName: [object.kind, object.namespace, object.name].filter(Boolean).join('/'),
            },
          ],
        },
      ],
      partialFingerprints: {
        'entraRbacGuard/v1': [violation.rule, object.kind, object.namespace, object.name, violation.subject.kind, violation.subject.name, ...(violation.via ? [violation.via] : [])].join('|'),
      },
      properties: { subject: violation.subject, source },
    })),
  );
  const sarif = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'entra-rbac-guard',
            version,
            informationUri: INFORMATION_URI,
            rules: ruleIds.map((id) => ({
              id,
              name: id,
              shortDescription: { text: ruleHelp(id).summary },
              help: { text: ruleHelp(id).fix },
              defaultConfiguration: { level: 'error' },
            })),
          },
        },
        results,
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function isFile(source: string): boolean {
  return source.includes('#') && !source.startsWith('stdin#') && !source.startsWith('cluster:');
}

function fileOf(source: string): string {
  return source.slice(0, source.lastIndexOf('#')).split('#')[0]!;
}
