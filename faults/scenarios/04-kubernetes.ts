/**
 * Issue 8, item 4: Kubernetes faults, on a real kube-apiserver 1.20 (test/e2e/harness.ts) with the webhook
 * (`dist/bin.js serve --policy-configmap`) watching its policy ConfigMap and the four RBAC kinds (the role cache).
 *
 * - The API server restarted (SIGTERM, every watch cut), and killed and kept down for a while: reviews sent straight to
 *   the webhook keep being answered with the last good policy meanwhile, readiness stays up; afterwards both watches
 *   recover by themselves: a ConfigMap edit takes effect, and a Role created after the restart is used by role facts.
 * - The policy ConfigMap deleted, or changed to invalid YAML or an invalid policy: the last good policy keeps serving,
 *   and readiness, the log and an Event say why.
 * - Nothing crashes: the same webhook process throughout, no stack trace or fatal line in its log.
 */
import { randomUUID } from 'node:crypto';
import { startHarness, type Harness } from '../../test/e2e/harness.ts';
import {
  bindingReview,
  crashApiServer,
  eventually,
  kubectlOk,
  putConfigMap,
  readyz,
  validate,
  webhookAlive,
  webhookCrashSigns,
  type DirectAnswer,
} from '../lib/kube-cluster.ts';
import { defineScenario, type FaultRow, type ScenarioContext } from '../scenario.ts';

const POLICY_NAMESPACE = 'erg-faults';
const CONFIGMAP = 'policy';
const TEAM = 'team-a';
const GROUP = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
/** How soon after the API server is back an edit or a new Role must be seen (the watch backoff is at most 30 s). */
const RECOVERY_LIMIT_MS = 45_000;
/** How soon a ConfigMap change must be seen while everything is up. */
const APPLY_LIMIT_MS = 10_000;
const REVIEW_INTERVAL_MS = 250;

const policyYaml = (mode: 'enforce' | 'audit', extra = '') => `apiVersion: entra-rbac-guard/v1\nkind: Policy\nmode: ${mode}\n${extra}`;

/** A User subject: denied [user-subject] under enforce, allowed with a warning under audit: the mode shows in the answer. */
const userReview = () => bindingReview(TEAM, { kind: 'User', name: 'alice@contoso.com' }, { kind: 'ClusterRole', name: 'view' });

interface Context {
  readonly harness: Harness;
  readonly scenario: ScenarioContext;
  /** The resourceVersion of the policy in force. */
  generation: string;
}

interface Tally {
  cases: number;
  survived: number;
  /** Undefined until a case is timed. */
  worstMs: number | undefined;
  readonly problems: string[];
}

const tally = (): Tally => ({ cases: 0, survived: 0, worstMs: undefined, problems: [] });

function record(t: Tally, ok: boolean, problem: string, ms?: number): void {
  t.cases += 1;
  if (ok) t.survived += 1;
  else t.problems.push(problem);
  if (ms !== undefined) t.worstMs = Math.max(t.worstMs ?? 0, ms);
}

/** A check that throws counts as a failed case, with its message. */
async function check(t: Tally, what: string, work: () => Promise<string | undefined>): Promise<void> {
  try {
    const problem = await work();
    record(t, problem === undefined, `${what}: ${problem}`);
  } catch (error) {
    record(t, false, `${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function row(context: Context, fault: string, t: Tally, note: string): FaultRow {
  for (const problem of t.problems) context.scenario.log(`✘ ${fault}: ${problem}`);
  return { fault, cases: t.cases, survived: t.survived, worstLatencyMs: t.worstMs, note };
}

export default defineScenario({
  name: 'Kubernetes faults (API server, policy ConfigMap)',
  async run(scenario) {
    const downSeconds = scenario.quick ? 15 : 60;
    const started = performance.now();
    const harness = await startHarness();
    try {
      await kubectlOk(harness, ['create', 'namespace', POLICY_NAMESPACE]);
      await kubectlOk(harness, ['create', 'namespace', TEAM]);
      const generation = await putConfigMap(harness, POLICY_NAMESPACE, CONFIGMAP, { 'policy.yaml': policyYaml('enforce') });
      await harness.restartWebhook({ args: ['--policy-configmap', `${POLICY_NAMESPACE}/${CONFIGMAP}`, '--kubeconfig', harness.kubeconfig] });
      const context: Context = { harness, scenario, generation };
      await eventually('the webhook ready on the ConfigMap with its role cache synced', async () => {
        const ready = await readyz(harness);
        return ready.status === 200 && ready.body['generation'] === generation && ready.body['roles']?.synced ? true : undefined;
      }, APPLY_LIMIT_MS);
      scenario.log(`cluster and webhook up in ${((performance.now() - started) / 1000).toFixed(1)} s`);

      const rows: FaultRow[] = [];
      rows.push(await apiServerOutage(context, 'API server restarted (SIGTERM): watches cut', () => harness.restartApiServer()));
      rows.push(
        await apiServerOutage(context, `API server killed, down ${downSeconds} s`, async () => {
          await crashApiServer(harness);
          await new Promise((resolve) => setTimeout(resolve, downSeconds * 1000));
          await harness.restartApiServer();
        }),
      );
      rows.push(await configMapDeleted(context));
      rows.push(
        await configMapRejected(context, 'policy ConfigMap: invalid YAML', policyYaml('audit', 'rules: [user-subject: warn\n'), /Flow sequence in block collection/),
      );
      rows.push(await configMapRejected(context, 'policy ConfigMap: invalid policy', policyYaml('audit', 'rules:\n  user-subjct: warn\n'), /rules\.user-subjct/));
      rows.push(await noCrash(context));
      return rows;
    } finally {
      await harness.stop();
    }
  },
});

/** The policy in force says enforce: a User binding is denied [user-subject], and readiness stays up. */
async function lastGoodPolicyServes(context: Context, t: Tally): Promise<void> {
  const answer = await validate(context.harness, userReview());
  record(t, answer.status === 200 && answer.allowed === false && answer.message.includes('[user-subject]'), `a review during the outage: ${describe(answer)}`, answer.ms);
}

/**
 * Reviews every REVIEW_INTERVAL_MS while `outage` runs; then proves both watches came back by themselves: a Role created
 * now is used by role facts, and a ConfigMap edit (to audit, then back) takes effect.
 */
async function apiServerOutage(context: Context, fault: string, outage: () => Promise<void>): Promise<FaultRow> {
  const { harness } = context;
  const t = tally();
  let running = true;
  let during = 0;
  const reviewing = (async () => {
    while (running) {
      await lastGoodPolicyServes(context, t);
      const ready = await readyz(harness).catch(() => undefined);
      record(t, ready?.status === 200 && ready.body['generation'] === context.generation, `readiness during the outage: ${JSON.stringify(ready)}`);
      during += 1;
      await new Promise((resolve) => setTimeout(resolve, REVIEW_INTERVAL_MS));
    }
  })();
  const outageStarted = performance.now();
  try {
    await outage();
  } finally {
    running = false;
    await reviewing;
  }
  const outageSeconds = (performance.now() - outageStarted) / 1000;
  let roleMs = NaN;
  let policyMs = NaN;
  // Both measured from the same moment: each watch backs off on its own while the API server is away.
  const roleCache = check(t, 'the role cache after the API server came back', async () => {
    const role = `faults-${randomUUID().slice(0, 8)}`;
    await kubectlOk(harness, ['create', 'role', role, `--namespace=${TEAM}`, '--verb=impersonate', '--resource=serviceaccounts']);
    const seen = await eventually(`role facts to use Role ${TEAM}/${role}`, async () => {
      const answer = await validate(harness, bindingReview(TEAM, { kind: 'Group', name: GROUP }, { kind: 'Role', name: role }));
      // Denied under enforce, a warning under audit (the policy check below switches modes meanwhile).
      return [answer.message, ...answer.warnings].some((text) => text.includes('[escalation]') && text.includes('impersonate')) ? answer : undefined;
    }, RECOVERY_LIMIT_MS);
    roleMs = seen.ms;
    return undefined;
  });
  const policyWatch = check(t, 'the policy watch after the API server came back', async () => {
    // Back by itself, with no edit to announce it: readiness no longer names the error of the outage.
    const back = await eventually('readiness to drop the source error of the outage', async () => ((await readyz(harness)).body['sourceError'] === undefined ? true : undefined), RECOVERY_LIMIT_MS);
    policyMs = back.ms;
    const audit = await putConfigMap(harness, POLICY_NAMESPACE, CONFIGMAP, { 'policy.yaml': policyYaml('audit') });
    await eventually(`resourceVersion ${audit} (audit) in force`, async () => {
      const ready = await readyz(harness);
      return ready.body['generation'] === audit && ready.body['mode'] === 'audit' ? true : undefined;
    }, APPLY_LIMIT_MS);
    const answer = await validate(harness, userReview());
    if (answer.allowed !== true || !answer.warnings.some((warning) => warning.includes('audit mode'))) return `the audit policy is not the one judging: ${describe(answer)}`;
    context.generation = await setEnforce(context);
    return undefined;
  });
  await Promise.all([roleCache, policyWatch]);
  return row(context, fault, t, `${during} reviews + readiness checks over ${outageSeconds.toFixed(0)} s, last good policy; once back: a new Role in role facts after ${seconds(roleMs)}, policy watch reconnected after ${seconds(policyMs)}, an edit then applied`);
}

async function setEnforce(context: Context): Promise<string> {
  const generation = await putConfigMap(context.harness, POLICY_NAMESPACE, CONFIGMAP, { 'policy.yaml': policyYaml('enforce') });
  await eventually(`resourceVersion ${generation} (enforce) in force`, async () => ((await readyz(context.harness)).body['generation'] === generation ? true : undefined), APPLY_LIMIT_MS);
  return generation;
}

async function configMapDeleted(context: Context): Promise<FaultRow> {
  const { harness } = context;
  const t = tally();
  const logged = harness.webhookLog().length;
  await kubectlOk(harness, ['delete', 'configmap', CONFIGMAP, `--namespace=${POLICY_NAMESPACE}`]);
  await check(t, 'readiness after the deletion', async () => {
    const ready = await eventually('/readyz to note the deletion', async () => {
      const current = await readyz(harness);
      return String(current.body['note'] ?? '').includes('deleted') ? current : undefined;
    }, APPLY_LIMIT_MS);
    return ready.value.status === 200 && ready.value.body['generation'] === context.generation ? undefined : `not ready on the last good policy: ${JSON.stringify(ready.value)}`;
  });
  await check(t, 'the log after the deletion', async () => {
    const line = harness.webhookLog().slice(logged).find((entry) => String(entry.msg).includes('was deleted: keeping the last good policy'));
    return line?.['level'] === 40 ? undefined : 'no warning "was deleted: keeping the last good policy"';
  });
  for (let index = 0; index < 10; index++) await lastGoodPolicyServes(context, t);
  await check(t, 'created again', async () => {
    context.generation = await setEnforce(context);
    const ready = await readyz(harness);
    return ready.body['note'] === undefined ? undefined : `the deletion note stays: ${ready.body['note']}`;
  });
  return row(context, 'policy ConfigMap deleted', t, 'last good policy served, readiness notes the deletion, warning logged; recreated → applied');
}

/** An invalid change (with mode: audit, so a partial application would show): rejected whole, said why, last good serves. */
async function configMapRejected(context: Context, fault: string, yaml: string, problem: RegExp): Promise<FaultRow> {
  const { harness } = context;
  const t = tally();
  const generation = await putConfigMap(harness, POLICY_NAMESPACE, CONFIGMAP, { 'policy.yaml': yaml });
  await check(t, 'readiness after the invalid change', async () => {
    const ready = await eventually(`/readyz to report resourceVersion ${generation} rejected`, async () => {
      const current = await readyz(harness);
      return current.body['rejected']?.generation === generation ? current : undefined;
    }, APPLY_LIMIT_MS);
    const body = ready.value.body;
    if (ready.value.status !== 200 || body['generation'] !== context.generation || body['mode'] !== 'enforce') return `the last good policy is not the one in force: ${JSON.stringify(body)}`;
    return problem.test(JSON.stringify(body['rejected'])) ? undefined : `the rejection does not name the problem (${problem}): ${JSON.stringify(body['rejected'])}`;
  });
  await check(t, 'the log line', async () => {
    const line = await eventually('the rejection in the log', () => harness.webhookLog().find((entry) => entry['generation'] === generation && String(entry.msg).startsWith('policy change rejected')), APPLY_LIMIT_MS);
    return line.value['level'] === 50 && problem.test(String(line.value.msg)) ? undefined : `logged without the problem, or not as an error: ${JSON.stringify(line.value)}`;
  });
  await check(t, 'the InvalidPolicy Event', async () => {
    const event = await eventually('an InvalidPolicy Event on the ConfigMap', async () => {
      const listed = await kubectlOk(harness, ['get', 'events', `--namespace=${POLICY_NAMESPACE}`, `--field-selector=involvedObject.name=${CONFIGMAP}`, '-o', 'json']);
      return (JSON.parse(listed.stdout) as { items: Array<Record<string, any>> }).items.find((item) => item['involvedObject']?.resourceVersion === generation);
    }, APPLY_LIMIT_MS);
    return event.value['reason'] === 'InvalidPolicy' && problem.test(String(event.value['message'])) ? undefined : `the Event does not name the problem: ${JSON.stringify(event.value)}`;
  });
  for (let index = 0; index < 10; index++) await lastGoodPolicyServes(context, t);
  await check(t, 'a valid edit afterwards', async () => {
    context.generation = await setEnforce(context);
    const ready = await readyz(harness);
    return ready.body['rejected'] === undefined ? undefined : `the rejection stays after a valid edit: ${JSON.stringify(ready.body['rejected'])}`;
  });
  return row(context, fault, t, 'rejected whole: last good policy serves; readiness, error log line and Event name the problem');
}

async function noCrash(context: Context): Promise<FaultRow> {
  const t = tally();
  const { harness } = context;
  await check(t, 'the webhook process', async () => ((await webhookAlive(harness)) ? undefined : 'does not answer /healthz'));
  await check(t, 'the same process throughout', async () => {
    const loads = harness.webhookLog().filter((line) => String(line.msg).startsWith('entra-rbac-guard is serving')).length;
    return loads === 1 ? undefined : `${loads} start-up lines`;
  });
  await check(t, 'its log', async () => {
    const signs = webhookCrashSigns(harness);
    return signs.length === 0 ? undefined : `not JSON or fatal: ${signs.slice(0, 5).join(' | ').slice(0, 800)}`;
  });
  return row(context, 'webhook process: no crash, no stack trace', t, 'one process throughout, answering; no stderr, no fatal line');
}

function describe(answer: DirectAnswer): string {
  return answer.error ?? `HTTP ${answer.status}, allowed ${answer.allowed}, ${answer.message || answer.warnings.join(' | ')}`.slice(0, 300);
}

function seconds(ms: number): string {
  return Number.isNaN(ms) ? 'not seen' : `${(ms / 1000).toFixed(1)} s`;
}
