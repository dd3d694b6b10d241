/**
 * Issue 14, point 3: zero failed admissions across a rolling restart. With failurePolicy Fail, a steady, bounded
 * stream of binding creates (from inside the cluster's network namespace, through the API server) runs while
 * `kubectl rollout restart` replaces every pod and while one pod is deleted outright. Every create is compliant, so
 * any failure is the webhook's availability, not the policy.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FULLNAME, GROUP_ID, NAMESPACE, TEAM_NAMESPACE, eventually, expectOk, failureMessage, groupBinding, installChart, kubectl, rbacApi, recordFigures, rolledOut, webhookPods } from './cluster.ts';

const Rollout = suite('cluster: rolling restart and pod deletion under a stream of creates');

const LABEL = 'entra-rbac-guard.test/stream';
/** Creates started per second, at most this many in flight: several a second, bounded. */
const PER_SECOND = 8;
const MAX_IN_FLIGHT = 8;

interface Stream {
  readonly attempts: () => number;
  readonly failures: () => readonly string[];
  stop(): Promise<void>;
}

function startStream(): Stream {
  const api = rbacApi();
  let attempts = 0;
  let inFlight = 0;
  const failures: string[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (inFlight >= MAX_IN_FLIGHT) return;
    attempts += 1;
    inFlight += 1;
    const body = groupBinding(`stream-${attempts}`, 1, () => GROUP_ID);
    body.metadata!.labels = { [LABEL]: 'true' };
    const started = Date.now();
    const call: Promise<void> = api
      .createNamespacedRoleBinding({ namespace: TEAM_NAMESPACE, body })
      .then(
        () => undefined,
        (error: unknown) => void failures.push(`create #${attempts} after ${Date.now() - started} ms at ${new Date().toISOString()}: ${failureMessage(error)}`),
      )
      .finally(() => {
        inFlight -= 1;
        pending.delete(call);
      });
    pending.add(call);
  }, 1000 / PER_SECOND);
  return {
    attempts: () => attempts,
    failures: () => failures,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

Rollout.before(async () => {
  await installChart();
  await rolledOut();
});

Rollout.after(async () => {
  await kubectl(['delete', 'rolebindings', '-n', TEAM_NAMESPACE, '-l', LABEL, '--wait=false']);
});

Rollout('rollout restart, then one pod deleted, failurePolicy Fail :: every compliant create admitted (0 failed)', async () => {
  const stream = startStream();
  try {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const before = (await webhookPods()).map((pod) => pod.name);
    expectOk(await kubectl(['rollout', 'restart', `deployment/${FULLNAME}`, '-n', NAMESPACE]), 'kubectl rollout restart');
    await rolledOut();
    const replaced = await eventually('the old pods to be gone', async () => {
      const now = await webhookPods();
      return now.some((pod) => before.includes(pod.name)) ? undefined : now;
    }, 90_000);
    assert.ok(replaced.every((pod) => !before.includes(pod.name)), 'every pod replaced');
    const victim = replaced[0]!.name;
    expectOk(await kubectl(['delete', 'pod', victim, '-n', NAMESPACE, '--wait=false']), 'delete one pod outright');
    await eventually('a replacement pod to be Ready', async () => {
      const now = await webhookPods();
      return now.filter((pod) => pod.ready && !pod.deleting && pod.name !== victim).length >= 2 ? true : undefined;
    }, 120_000);
    await eventually('the deleted pod to be gone', async () => ((await webhookPods()).some((pod) => pod.name === victim) ? undefined : true), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  } finally {
    await stream.stop();
  }
  recordFigures({ rollingRestartAdmissions: stream.attempts(), rollingRestartFailed: stream.failures().length });
  assert.ok(stream.attempts() >= 100, `only ${stream.attempts()} creates were sent`);
  assert.equal(stream.failures(), [], `${stream.failures().length} of ${stream.attempts()} admissions failed`);
});

Rollout.run();
