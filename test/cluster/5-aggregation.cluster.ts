/**
 * Issue 15, part 2, on a cluster with a controller manager: a ClusterRole labelled to aggregate into `edit` is judged
 * as edit would become, through edit's bindings, at CREATE and at the UPDATE that adds the label; a harmless one is
 * allowed and the controller manager really copies its rules into edit (what the webhook predicts is what happens).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP_ID, TEAM_NAMESPACE, eventually, expectDeniedBy, expectOk, installChart, kubectl, rolledOut } from './cluster.ts';

const Aggregation = suite('cluster: widening edit by aggregation, with the controller manager aggregating');

const TO_EDIT = 'rbac.authorization.k8s.io/aggregate-to-edit';

function clusterRole(name: string, labelled: boolean, rule: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, ...(labelled ? { labels: { [TO_EDIT]: 'true' } } : {}) },
    rules: [rule],
  });
}

const IMPERSONATE = { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] };
const WIDGETS = { apiGroups: ['widgets.example.com'], resources: ['widgets'], verbs: ['get', 'list'] };

Aggregation.before(async () => {
  await installChart();
  await rolledOut();
  expectOk(await kubectl(['create', 'rolebinding', 'devs-edit', `--namespace=${TEAM_NAMESPACE}`, '--clusterrole=edit', `--group=${GROUP_ID}`]), 'edit for a team group');
});

Aggregation.after(async () => {
  await kubectl(['delete', 'clusterrole', 'impersonate-helper', 'widget-reader', '--ignore-not-found']);
  await kubectl(['delete', 'rolebinding', 'devs-edit', `--namespace=${TEAM_NAMESPACE}`, '--ignore-not-found']);
});

Aggregation('CREATE of a ClusterRole labelled aggregate-to-edit that grants impersonate :: denied, naming the aggregation, edit\'s binding and the group', async () => {
  const denied = await kubectl(['create', '-f', '-'], { stdin: clusterRole('impersonate-helper', true, IMPERSONATE) });
  expectDeniedBy(denied, 'escalation', 'ClusterRole impersonate-helper is aggregated into ClusterRole edit', `RoleBinding ${TEAM_NAMESPACE}/devs-edit`, GROUP_ID);
});

Aggregation('the same role unlabelled :: allowed; the UPDATE that adds the label :: denied', async () => {
  expectOk(await kubectl(['create', '-f', '-'], { stdin: clusterRole('impersonate-helper', false, IMPERSONATE) }), 'an unlabelled role nobody holds');
  expectDeniedBy(await kubectl(['label', 'clusterrole', 'impersonate-helper', `${TO_EDIT}=true`]), 'escalation', 'is aggregated into ClusterRole edit');
  const edit = JSON.parse(expectOk(await kubectl(['get', 'clusterrole', 'edit', '-o', 'json']), 'read edit').stdout) as { rules: Array<{ resources?: string[] }> };
  assert.not.ok(edit.rules.some((rule) => rule.resources?.includes('users')), 'edit never received the rules (impersonate users)');
});

Aggregation('a harmless labelled role :: allowed, and the controller manager copies its rules into edit', async () => {
  expectOk(await kubectl(['create', '-f', '-'], { stdin: clusterRole('widget-reader', true, WIDGETS) }), 'a harmless labelled role');
  await eventually('the controller manager to aggregate widgets into edit', async () => {
    const edit = await kubectl(['get', 'clusterrole', 'edit', '-o', 'json']);
    return edit.stdout.includes('widgets.example.com') ? true : undefined;
  }, 30_000);
});

Aggregation.run();
