/**
 * The chart as a user installs it, on a real node (issue 14, points 1, 2, 5 and 6): pods Ready through the chart's own
 * probes as user 65532 with a read-only root and no capability, `helm test`, denials through the Service, audit mode,
 * policy edits in every replica, the continuous audit's gauges through the Service, and losing every pod.
 */
import { request } from 'node:https';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateCa, issueServerCertificate } from '../../src/http/tls.ts';
import { show } from '../e2e/expect.ts';
import {
  FULLNAME,
  GROUP_ID,
  NAMESPACE,
  TEAM_NAMESPACE,
  WEBHOOK_NAME,
  ensureTeamNamespace,
  eventually,
  expectDeniedBy,
  expectOk,
  helm,
  installChart,
  kubectl,
  rolledOut,
  webhookPods,
  RELEASE,
} from './cluster.ts';

const Chart = suite('cluster: the chart installed with helm, admissions through the Service');

Chart.before(async () => {
  await ensureTeamNamespace();
});

function createRoleBinding(name: string, ...args: string[]) {
  return kubectl(['create', 'rolebinding', name, `--namespace=${TEAM_NAMESPACE}`, '--clusterrole=edit', ...args]);
}

async function deleteRoleBinding(name: string): Promise<void> {
  await kubectl(['delete', 'rolebinding', name, `--namespace=${TEAM_NAMESPACE}`, '--ignore-not-found']);
}

/** GET over HTTPS straight to one pod (its IP exists only inside the cluster's network namespace). */
function podGet(ip: string, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: 8443, path, ca, servername: `${FULLNAME}.${NAMESPACE}.svc`, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET https://${ip}:8443${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function servingCa(): Promise<string> {
  const secret = expectOk(await kubectl(['get', 'secret', `${FULLNAME}-tls`, '-n', NAMESPACE, '-o', 'jsonpath={.data.ca\\.crt}']), 'read the CA');
  return Buffer.from(secret.stdout, 'base64').toString('utf8');
}

/** Runs node inside a webhook pod (the image has no shell) and returns what the script printed as JSON. */
async function inPod(pod: string, script: string): Promise<Record<string, any>> {
  const result = expectOk(await kubectl(['exec', pod, '-n', NAMESPACE, '--', '/nodejs/bin/node', '-e', script]), `exec node in ${pod}`);
  return JSON.parse(result.stdout) as Record<string, any>;
}

Chart('install with defaults :: both pods Ready through the chart probes, as user 65532, read-only root, no capability, no shell', async () => {
  await installChart();
  await rolledOut();
  const pods = await webhookPods();
  assert.is(pods.length, 2, `two replicas: ${JSON.stringify(pods)}`);
  assert.ok(pods.every((pod) => pod.ready && pod.restarts === 0), JSON.stringify(pods));
  const seen = await inPod(
    pods[0]!.name,
    `const fs = require('node:fs');
     const status = fs.readFileSync('/proc/1/status', 'utf8');
     const field = (name) => status.match(new RegExp('^' + name + ':\\\\s*(.*)$', 'm'))[1].trim();
     let write; try { fs.writeFileSync('/app/written', 'x'); write = 'written'; } catch (error) { write = error.code; }
     console.log(JSON.stringify({ cmdline: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').slice(0, 3), uid: field('Uid'), gid: field('Gid'),
       capEff: field('CapEff'), capPrm: field('CapPrm'), noNewPrivs: field('NoNewPrivs'), write, shell: fs.existsSync('/bin/sh') }));`,
  );
  assert.equal(seen['cmdline'], ['/nodejs/bin/node', '/app/dist/bin.js', 'serve'], 'PID 1 is the webhook');
  assert.is(seen['uid'], '65532\t65532\t65532\t65532');
  assert.is(seen['gid'], '65532\t65532\t65532\t65532');
  assert.equal([seen['capEff'], seen['capPrm']], ['0000000000000000', '0000000000000000'], 'no capability');
  assert.is(seen['noNewPrivs'], '1', 'allowPrivilegeEscalation: false');
  assert.is(seen['write'], 'EROFS', 'the root filesystem is read-only');
  assert.is(seen['shell'], false, 'no shell in the image');
});

Chart('helm test :: the test pod sends a binding the policy refuses and passes', async () => {
  const tested = expectOk(await helm(['test', RELEASE, '--namespace', NAMESPACE, '--timeout', '3m']), 'helm test');
  assert.match(tested.stdout, /Phase:\s+Succeeded/);
});

Chart('kubectl create rolebinding --user :: denied through the Service with our message; --dry-run=server too', async () => {
  const denied = await createRoleBinding('carol-edit', '--user=carol@fabrikam.com');
  expectDeniedBy(denied, 'user-subject', `RoleBinding ${TEAM_NAMESPACE}/carol-edit binds User "carol@fabrikam.com" directly`);
  expectDeniedBy(await createRoleBinding('carol-edit', '--user=carol@fabrikam.com', '--dry-run=server'), 'user-subject');
  expectDeniedBy(await createRoleBinding('everyone', '--group=system:authenticated'), 'broad-group');
});

Chart('no Azure identity, the policy verifies groups (the chart\'s default) :: a group binding is denied naming what to set; NOTES, /readyz, /metrics and one log line say so', async () => {
  const ca = await servingCa();
  try {
    const installed = await installChart('--set', 'policy.directory.verify=true');
    assert.match(installed.stdout, /NOTE: no Azure identity is configured[\s\S]*every binding of a group follows directory\.onError \(deny\)/);
    const denied = await eventually('the verifying policy to reach the pods', async () => {
      const result = await createRoleBinding('unverifiable', `--group=${GROUP_ID}`, '--dry-run=server');
      return result.code !== 0 ? result : undefined;
    }, 30_000);
    expectDeniedBy(denied, 'directory-unavailable', 'set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET', 'directory.verify: false');
    expectDeniedBy(await createRoleBinding('unverifiable', `--group=${GROUP_ID}`, '--dry-run=server'), 'directory-unavailable');
    const pods = await webhookPods();
    for (const pod of pods) {
      const ready = await podGet(pod.ip, '/readyz', ca);
      assert.is(ready.status, 200, `${pod.name} stays ready: the policy's directory.onError decides`);
      assert.is(JSON.parse(ready.body)['directory']['state'], 'not configured', ready.body);
    }
    const metrics = expectOk(await kubectl(['get', '--raw', `/api/v1/namespaces/${NAMESPACE}/services/https:${FULLNAME}:443/proxy/metrics`]), 'metrics');
    assert.match(metrics.stdout, /^entra_rbac_guard_directory_configured 0$/m);
    let said = 0;
    for (const pod of pods) {
      const logs = expectOk(await kubectl(['logs', pod.name, '-n', NAMESPACE]), `logs of ${pod.name}`).stdout;
      const lines = logs.split('\n').filter((line) => line.includes('"msg":"groups cannot be verified in Microsoft Entra ID'));
      assert.ok(lines.length <= 1, `${pod.name} said it more than once:\n${lines.join('\n')}`);
      said += lines.length;
    }
    assert.ok(said >= 1, 'a pod that met the problem logged it');
  } finally {
    await installChart();
  }
  await eventually('directory.verify: false to reach every pod', async () => {
    const seen = await Promise.all((await webhookPods()).map(async (pod) => JSON.parse((await podGet(pod.ip, '/readyz', ca)).body)['directory']['state'] as string));
    return seen.every((state) => state === 'not used') ? seen : undefined;
  }, 30_000);
});

Chart('a compliant binding to an Entra group, directory.verify: false :: allowed', async () => {
  try {
    const created = expectOk(await createRoleBinding('payments-devs', `--group=${GROUP_ID}`), 'a compliant binding');
    assert.match(created.stdout, /rolebinding\.rbac\.authorization\.k8s\.io\/payments-devs created/);
  } finally {
    await deleteRoleBinding('payments-devs');
  }
});

Chart('helm upgrade --set dryRun=true :: the ConfigMap edit reaches every replica within seconds, no restart; the denial becomes a kubectl warning', async () => {
  const ca = await servingCa();
  const before = await webhookPods();
  const started = Date.now();
  await installChart('--set', 'dryRun=true');
  const upgraded = Date.now();
  const modes = await eventually('every replica to report mode audit on /readyz', async () => {
    const seen = await Promise.all(before.map(async (pod) => JSON.parse((await podGet(pod.ip, '/readyz', ca)).body)['mode'] as string));
    return seen.every((mode) => mode === 'audit') ? seen : undefined;
  }, 30_000);
  const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
  process.stderr.write(`  (helm upgrade took ${seconds(started, upgraded)} s; all ${modes.length} replicas in audit mode ${seconds(upgraded, Date.now())} s after it returned)\n`);
  const after = await webhookPods();
  assert.equal(after.map((pod) => [pod.name, pod.restarts]), before.map((pod) => [pod.name, 0]), 'the same pods, not restarted');
  try {
    const warned = expectOk(await createRoleBinding('carol-edit', '--user=carol@fabrikam.com'), 'a user binding in audit mode');
    assert.match(warned.stderr, /Warning: Not denied because the policy is in audit mode: RoleBinding payments\/carol-edit binds User "carol@fabrikam\.com" directly \[user-subject\]/);
  } finally {
    await deleteRoleBinding('carol-edit');
  }
  await installChart();
  expectDeniedBy(await eventually('enforcement to come back', async () => {
    const result = await createRoleBinding('carol-edit', '--user=carol@fabrikam.com', '--dry-run=server');
    return result.code !== 0 ? result : undefined;
  }, 30_000), 'user-subject');
});

Chart('continuous audit on (audit.interval=5s) :: a violating binding that already exists shows in the gauges, read through the Service', async () => {
  await installChart('--set', 'dryRun=true');
  await eventually('audit mode to let a user binding in', async () => ((await createRoleBinding('legacy-carol', '--user=carol@fabrikam.com')).code === 0 ? true : undefined), 30_000);
  try {
    await installChart('--set', 'audit.interval=5s');
    await rolledOut();
    const metrics = await eventually('the audit gauge of user-subject on /metrics through the Service', async () => {
      const got = await kubectl(['get', '--raw', `/api/v1/namespaces/${NAMESPACE}/services/https:${FULLNAME}:443/proxy/metrics`]);
      return got.code === 0 && /^entra_rbac_guard_audit_violations\{[^}]*rule="user-subject"[^}]*namespace="payments"[^}]*\} [1-9]/m.test(got.stdout) ? got.stdout : undefined;
    }, 60_000);
    assert.match(metrics, /^entra_rbac_guard_audit_violations\{/m);
  } finally {
    await deleteRoleBinding('legacy-carol');
    await installChart();
    await rolledOut();
  }
});

Chart('tls.mode=secret :: the user\'s own Secret and CA :: every pod serves that certificate, denials come through the Service; then back to tls.mode=helm', async () => {
  const ca = await generateCa('cluster-e2e user CA');
  const pair = await issueServerCertificate(ca, [FULLNAME, `${FULLNAME}.${NAMESPACE}`, `${FULLNAME}.${NAMESPACE}.svc`]);
  const secret = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'my-webhook-tls', namespace: NAMESPACE }, stringData: { 'tls.crt': pair.cert, 'tls.key': pair.key } };
  expectOk(await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(secret) }), 'create the user\'s TLS Secret');
  const caBundle = Buffer.from(ca.cert).toString('base64');
  try {
    await installChart('--set', 'tls.mode=secret', '--set', 'tls.secret.name=my-webhook-tls', '--set', `tls.secret.caBundle=${caBundle}`);
    await rolledOut();
    const configured = expectOk(await kubectl(['get', 'validatingwebhookconfiguration', FULLNAME, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']), 'read the caBundle');
    assert.is(configured.stdout, caBundle, 'the caBundle is the given CA');
    const pods = (await webhookPods()).filter((pod) => !pod.deleting);
    for (const pod of pods) assert.is((await podGet(pod.ip, '/readyz', ca.cert)).status, 200, `${pod.name} serves a certificate of the user's CA`);
    expectDeniedBy(await createRoleBinding('carol-edit', '--user=carol@fabrikam.com'), 'user-subject');
  } finally {
    await installChart();
    await rolledOut();
    await kubectl(['delete', 'secret', 'my-webhook-tls', '-n', NAMESPACE, '--ignore-not-found']);
  }
  expectDeniedBy(await createRoleBinding('carol-edit', '--user=carol@fabrikam.com'), 'user-subject');
});

Chart('every pod gone (scaled to 0) :: RBAC creates fail, deletes work; the README recovery restores creates; helm upgrade restores the webhook', async () => {
  expectOk(await createRoleBinding('to-delete', `--group=${GROUP_ID}`), 'a binding to delete later');
  expectOk(await kubectl(['scale', `deployment/${FULLNAME}`, '-n', NAMESPACE, '--replicas=0']), 'scale to 0');
  await eventually('every webhook pod to be gone', async () => ((await webhookPods()).length === 0 ? true : undefined), 90_000);
  const refused = await eventually('the API server to find no endpoint', async () => {
    const result = await createRoleBinding('while-down', `--group=${GROUP_ID}`);
    return result.code !== 0 ? result : undefined;
  }, 30_000);
  assert.ok(refused.stderr.includes(`failed calling webhook "${WEBHOOK_NAME}"`), show(refused));
  expectOk(await kubectl(['delete', 'rolebinding', 'to-delete', `--namespace=${TEAM_NAMESPACE}`]), 'DELETE of a binding with the webhook down');
  // The README's recovery, as written there.
  expectOk(await kubectl(['delete', 'validatingwebhookconfiguration', FULLNAME]), 'kubectl delete validatingwebhookconfiguration');
  const restored = await eventually('RBAC creates to work again', async () => {
    const result = await createRoleBinding('while-down', `--group=${GROUP_ID}`);
    return result.code === 0 ? result : undefined;
  }, 10_000);
  assert.match(restored.stdout, /created/);
  await deleteRoleBinding('while-down');
  await installChart();
  await rolledOut();
  expectDeniedBy(await createRoleBinding('carol-edit', '--user=carol@fabrikam.com'), 'user-subject');
});

Chart.run();
