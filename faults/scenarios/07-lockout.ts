/**
 * Issue 8, item 7: lock-out. A real kube-apiserver 1.20 (test/e2e/harness.ts) with the webhook registered as the
 * harness registers it: `failurePolicy: Fail`, CREATE and UPDATE of roles, clusterroles, rolebindings and
 * clusterrolebindings (DELETE is never sent), no selector (1.20 has no matchConditions).
 *
 * - The API server restarts healthy with the webhook up, and with it registered but killed: /readyz ok, the bootstrap
 *   roles there, no "unable to reconcile" in its log. With the webhook up, a missing bootstrap role is recreated
 *   through it (reviewed and allowed).
 * - With the webhook killed: deletes of bindings and non-RBAC writes work, RBAC creates and updates fail with the API
 *   server's "failed calling webhook"; deleting the ValidatingWebhookConfiguration restores RBAC writes.
 * - The hazard, measured: a restart while the webhook is down AND the bootstrap RBAC needs a write (a default role
 *   deleted, or changed by an upgrade) blocks the rbac/bootstrap-roles start hook: not ready, and after 30 s the API
 *   server exits (a crash loop). Deleting the webhook configuration during a start's 30 s window ends it.
 */
import { startHarness, WEBHOOK_CONFIGURATION, WEBHOOK_NAME, type Harness, type KubectlResult } from '../../test/e2e/harness.ts';
import { apiServerLog, eventually, kubectlOk, show } from '../lib/kube-cluster.ts';
import { defineScenario, type FaultRow, type ScenarioContext } from '../scenario.ts';

const TEAM = 'team-a';
const GROUP = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
/** A bootstrap ClusterRole the API server recreates on start when it is missing. */
const BOOTSTRAP_ROLE = 'system:aggregate-to-admin';
const FAILED_CALLING = `failed calling webhook "${WEBHOOK_NAME}"`;
const UNABLE_TO_RECONCILE = /unable to reconcile (clusterrole|clusterrolebinding|role|rolebinding)\.rbac\.authorization\.k8s\.io\/\S+/;
/** How long the API server's config informer may take to stop calling a deleted webhook configuration. */
const CONFIG_GONE_LIMIT_MS = 30_000;

interface Case {
  readonly what: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly ms?: number;
}

interface Context {
  readonly harness: Harness;
  readonly scenario: ScenarioContext;
  readonly policyFile: string;
}

export default defineScenario({
  name: 'Lock-out (failurePolicy Fail)',
  async run(scenario) {
    const harness = await startHarness();
    try {
      const context: Context = { harness, scenario, policyFile: harness.writePolicy('lockout-policy.yaml', 'apiVersion: entra-rbac-guard/v1\nkind: Policy\n') };
      await harness.restartWebhook(context.policyFile);
      await kubectlOk(harness, ['create', 'namespace', TEAM]);
      return [
        await restartWithWebhookUp(context),
        await restartWithWebhookDown(context),
        await whileWebhookDown(context),
        await recoverByDeletingConfiguration(context),
        await bootstrapBlocked(context),
      ];
    } finally {
      await harness.stop();
    }
  },
});

function toRow(context: Context, fault: string, cases: readonly Case[], note: string): FaultRow {
  for (const entry of cases) if (!entry.ok) context.scenario.log(`✘ ${fault}: ${entry.what}: ${entry.detail ?? ''}`);
  const timed = cases.filter((entry) => entry.ms !== undefined);
  return {
    fault,
    cases: cases.length,
    survived: cases.filter((entry) => entry.ok).length,
    worstLatencyMs: timed.length > 0 ? Math.max(...timed.map((entry) => entry.ms!)) : undefined,
    note,
  };
}

const expectOk = (what: string, result: KubectlResult, ms?: number): Case => ({ what, ok: result.code === 0, detail: show(result), ...(ms === undefined ? {} : { ms }) });
const expectWebhookFailure = (what: string, result: KubectlResult): Case => ({ what, ok: result.code !== 0 && result.stderr.includes(FAILED_CALLING), detail: show(result) });

async function timed(work: () => Promise<KubectlResult>): Promise<{ result: KubectlResult; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

/** The API server is healthy: /readyz says ok, the bootstrap role is there, and its log since `offset` has no failed reconcile. */
async function healthy(context: Context, offset: number): Promise<Case[]> {
  const { harness } = context;
  const readyz = await harness.kubectl(['get', '--raw', '/readyz']);
  const role = await harness.kubectl(['get', 'clusterroles', BOOTSTRAP_ROLE, '-o', 'name']);
  const failures = apiServerLog(harness).slice(offset).split('\n').filter((line) => UNABLE_TO_RECONCILE.test(line) || line.includes(FAILED_CALLING));
  return [
    { what: '/readyz', ok: readyz.code === 0 && readyz.stdout.trim() === 'ok', detail: show(readyz) },
    expectOk(`kubectl get clusterroles ${BOOTSTRAP_ROLE}`, role),
    { what: 'no failed bootstrap reconcile in the API server log', ok: failures.length === 0, detail: failures.slice(0, 3).join(' | ') },
  ];
}

async function restartWithWebhookUp(context: Context): Promise<FaultRow> {
  const { harness } = context;
  await kubectlOk(harness, ['delete', 'clusterrole', BOOTSTRAP_ROLE]);
  const decisionsBefore = harness.decisions().length;
  const offset = apiServerLog(harness).length;
  const started = performance.now();
  await harness.restartApiServer();
  const seconds = (performance.now() - started) / 1000;
  const reconcile = harness.decisions().slice(decisionsBefore).find((line) => line['name'] === BOOTSTRAP_ROLE);
  const cases = [
    ...(await healthy(context, offset)),
    {
      what: `the recreate of ${BOOTSTRAP_ROLE} reviewed by the webhook and allowed`,
      ok: reconcile?.['requester'] === 'system:apiserver' && reconcile['allowed'] === true,
      detail: JSON.stringify(reconcile),
    },
  ];
  return toRow(context, 'API server restart, webhook up', cases, `ready in ${seconds.toFixed(1)} s; a missing bootstrap role recreated through the webhook (system:apiserver, allowed)`);
}

async function restartWithWebhookDown(context: Context): Promise<FaultRow> {
  const { harness } = context;
  await harness.killWebhook();
  const offset = apiServerLog(harness).length;
  const started = performance.now();
  await harness.restartApiServer();
  const seconds = (performance.now() - started) / 1000;
  return toRow(context, 'API server restart, webhook registered but killed', await healthy(context, offset), `ready in ${seconds.toFixed(1)} s: with the bootstrap RBAC in place, the reconcile writes nothing`);
}

/** The webhook stays killed: what the API server still lets through, and what it refuses. */
async function whileWebhookDown(context: Context): Promise<FaultRow> {
  const { harness } = context;
  const cases: Case[] = [];
  // Made while the webhook was up (setup), or by an admin before: deleting them never asks the webhook.
  await restartWebhookQuietly(context);
  await kubectlOk(harness, ['create', 'rolebinding', 'survivor', `--namespace=${TEAM}`, '--clusterrole=view', `--group=${GROUP}`]);
  await kubectlOk(harness, ['create', 'clusterrolebinding', 'survivor', '--clusterrole=view', `--group=${GROUP}`]);
  await harness.killWebhook();
  cases.push(expectWebhookFailure('create a RoleBinding', await harness.kubectl(['create', 'rolebinding', 'while-down', `--namespace=${TEAM}`, '--clusterrole=view', `--group=${GROUP}`])));
  cases.push(expectWebhookFailure('update a ClusterRoleBinding (label)', await harness.kubectl(['label', 'clusterrolebinding', 'survivor', 'touched=yes'])));
  cases.push(expectWebhookFailure('create a ClusterRole', await harness.kubectl(['create', 'clusterrole', 'while-down', '--verb=get', '--resource=pods'])));
  for (const [what, args] of [
    ['delete a RoleBinding', ['delete', 'rolebinding', 'survivor', `--namespace=${TEAM}`]],
    ['delete a ClusterRoleBinding', ['delete', 'clusterrolebinding', 'survivor']],
    ['create a Namespace', ['create', 'namespace', 'while-down']],
    ['create a ConfigMap', ['create', 'configmap', 'while-down', `--namespace=${TEAM}`, '--from-literal=k=v']],
    ['update a ConfigMap (label)', ['label', 'configmap', 'while-down', `--namespace=${TEAM}`, 'touched=yes']],
    ['create a ServiceAccount', ['create', 'serviceaccount', 'while-down', `--namespace=${TEAM}`]],
    ['create a Secret', ['create', 'secret', 'generic', 'while-down', `--namespace=${TEAM}`, '--from-literal=k=v']],
  ] as const) {
    const { result, ms } = await timed(() => harness.kubectl(args));
    cases.push(expectOk(what, result, ms));
  }
  return toRow(context, 'webhook killed: what still works', cases, 'RBAC create/update refused ("failed calling webhook"); binding deletes and non-RBAC writes work');
}

/** The documented recovery: delete the webhook configuration; RBAC writes work; the webhook is registered again later. */
async function recoverByDeletingConfiguration(context: Context): Promise<FaultRow> {
  const { harness } = context;
  const cases: Case[] = [];
  cases.push(expectOk(`kubectl delete validatingwebhookconfiguration ${WEBHOOK_CONFIGURATION}`, await harness.kubectl(['delete', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION])));
  let seconds = NaN;
  try {
    const created = await eventually('a RoleBinding create to work', async () => {
      const result = await harness.kubectl(['create', 'rolebinding', 'after-recovery', `--namespace=${TEAM}`, '--clusterrole=view', `--group=${GROUP}`]);
      return result.code === 0 ? result : undefined;
    }, CONFIG_GONE_LIMIT_MS);
    seconds = created.ms / 1000;
    cases.push(expectOk('create a RoleBinding after the deletion', created.value, created.ms));
  } catch (error) {
    cases.push({ what: 'create a RoleBinding after the deletion', ok: false, detail: (error as Error).message });
  }
  await restartWebhookQuietly(context);
  const denied = await harness.kubectl(['create', 'rolebinding', 'user-again', `--namespace=${TEAM}`, '--clusterrole=view', '--user=alice@contoso.com']);
  cases.push({ what: 'registered again: the webhook judges RBAC writes again', ok: denied.code !== 0 && denied.stderr.includes(`admission webhook "${WEBHOOK_NAME}" denied the request`), detail: show(denied) });
  return toRow(context, 'recovery: delete the webhook configuration', cases, `RBAC writes work again ${Number.isNaN(seconds) ? '(not seen)' : `${seconds.toFixed(1)} s`} after the delete; re-registered after`);
}

/**
 * The lock-out itself: the webhook killed, a bootstrap role missing, the API server restarted. Its start hook cannot
 * recreate the role (each try fails calling the webhook), so it is not ready; the fix is to delete the webhook
 * configuration while it serves during the hook's 30 s. A full run also lets the 30 s run out first (the API server
 * exits), then applies the fix to the next start, as an operator facing a crash loop would.
 */
async function bootstrapBlocked(context: Context): Promise<FaultRow> {
  const { harness, scenario } = context;
  const cases: Case[] = [];
  await kubectlOk(harness, ['delete', 'clusterrole', BOOTSTRAP_ROLE]);
  await harness.killWebhook();
  let exitedAfter: number | undefined;
  if (!scenario.quick) {
    const offset = apiServerLog(harness).length;
    const started = performance.now();
    const outcome = await harness.restartApiServer().then(
      () => 'ready',
      () => 'exited',
    );
    exitedAfter = (performance.now() - started) / 1000;
    const fatal = apiServerLog(harness).slice(offset).includes('PostStartHook "rbac/bootstrap-roles" failed');
    cases.push({ what: 'left alone, the API server exits (rbac/bootstrap-roles failed)', ok: outcome === 'exited' && fatal, detail: `${outcome}; fatal line ${fatal}` });
  }
  const offset = apiServerLog(harness).length;
  const started = performance.now();
  const restart = harness.restartApiServer().then(
    () => undefined,
    (error: Error) => error.message.split('\n')[0],
  );
  let blockedAfter = NaN;
  try {
    const blocked = await eventually('the start hook to fail calling the webhook', () => {
      const line = apiServerLog(harness).slice(offset).split('\n').find((entry) => UNABLE_TO_RECONCILE.test(entry) && entry.includes(FAILED_CALLING));
      return line;
    }, 60_000);
    blockedAfter = (performance.now() - started) / 1000;
    cases.push({ what: `the reconcile of ${BOOTSTRAP_ROLE} blocked by the dead webhook`, ok: blocked.value.includes(BOOTSTRAP_ROLE), detail: blocked.value.slice(0, 300) });
    const readyz = await harness.kubectl(['get', '--raw', '/readyz?verbose']);
    cases.push({
      what: 'not ready meanwhile, and saying why',
      ok: readyz.code !== 0 && /poststarthook\/rbac\/bootstrap-roles failed/.test(`${readyz.stdout}${readyz.stderr}`),
      detail: show(readyz),
    });
    const deleted = await harness.kubectl(['delete', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION]);
    cases.push(expectOk('the webhook configuration deleted during the start', deleted));
  } catch (error) {
    cases.push({ what: 'the blocked start observed', ok: false, detail: (error as Error).message });
  }
  const failure = await restart;
  const recoveredAfter = (performance.now() - started) / 1000;
  cases.push({ what: 'the start completes: ready', ok: failure === undefined, detail: failure ?? '' });
  cases.push(expectOk(`${BOOTSTRAP_ROLE} recreated`, await harness.kubectl(['get', 'clusterroles', BOOTSTRAP_ROLE, '-o', 'name'])));
  await restartWebhookQuietly(context);
  const note =
    `HAZARD: start blocked ${Number.isNaN(blockedAfter) ? '?' : `${blockedAfter.toFixed(0)} s`} in, not ready` +
    (exitedAfter === undefined ? ' (exits after 30 s: full run)' : `, exited after ${exitedAfter.toFixed(0)} s`) +
    `; ready ${recoveredAfter.toFixed(0)} s after start once the configuration was deleted`;
  return toRow(context, 'API server restart, webhook killed, bootstrap role missing', cases, note);
}

/** Starts the webhook again on the policy file and re-registers it (the harness points the configuration at it). */
async function restartWebhookQuietly(context: Context): Promise<void> {
  await context.harness.restartWebhook(context.policyFile);
}
