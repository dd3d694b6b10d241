/**
 * Issue 14, point 7: a figure, printed, not asserted. p50/p99 of `kubectl create rolebinding` through the API server
 * with the chart installed (defaults), with no webhook at all, and with a bare allow-all Fastify server deployed the
 * same way (the same image and node, pods behind a Service, the same webhook rules, resources and security context).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { issueServerCertificate, generateCa } from '../../src/http/tls.ts';
import { FULLNAME, GROUP_ID, NAMESPACE, TEAM_NAMESPACE, eventually, expectOk, installChart, kubectl, percentile, recordFigures, rolledOut } from './cluster.ts';

const Latency = suite('cluster: kubectl create rolebinding latency, none / bare / ours');

const CREATES = 30;
const BARE = 'bare-allow-all';

/** The bare server: every review allowed, nothing else, on the image's node and Fastify. */
const BARE_SERVER = `
import { readFileSync } from 'node:fs';
const { default: Fastify } = await import('/app/node_modules/fastify/fastify.js');
const app = Fastify({ https: { key: readFileSync('/tls/tls.key'), cert: readFileSync('/tls/tls.crt') }, bodyLimit: 8 * 1024 * 1024 });
app.post('/validate', async (request) => ({ apiVersion: request.body.apiVersion, kind: 'AdmissionReview', response: { uid: request.body.request.uid, allowed: true } }));
app.get('/readyz', async () => ({ status: 'ready' }));
await app.listen({ host: '0.0.0.0', port: 8443 });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

async function bareManifests(): Promise<{ items: unknown[]; caBundle: string }> {
  const ca = await generateCa(`${BARE}-ca`);
  const dns = `${BARE}.${NAMESPACE}.svc`;
  const pair = await issueServerCertificate(ca, [dns]);
  const labels = { app: BARE };
  const deployment = expectOk(await kubectl(['get', 'deployment', FULLNAME, '-n', NAMESPACE, '-o', 'json']), 'read the chart Deployment');
  const ours = JSON.parse(deployment.stdout) as { spec: { template: { spec: any } } };
  const podSpec = ours.spec.template.spec;
  const container = podSpec.containers[0];
  const items = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: BARE, namespace: NAMESPACE }, data: { 'server.mjs': BARE_SERVER } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: BARE, namespace: NAMESPACE }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': pair.cert, 'tls.key': pair.key } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: BARE, namespace: NAMESPACE },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            securityContext: podSpec.securityContext,
            containers: [
              {
                name: 'bare',
                image: container.image,
                imagePullPolicy: container.imagePullPolicy,
                command: ['/nodejs/bin/node', '/bare/server.mjs'],
                ports: [{ name: 'https', containerPort: 8443 }],
                readinessProbe: { httpGet: { scheme: 'HTTPS', path: '/readyz', port: 'https' }, periodSeconds: 2 },
                resources: container.resources,
                securityContext: container.securityContext,
                volumeMounts: [
                  { name: 'server', mountPath: '/bare', readOnly: true },
                  { name: 'tls', mountPath: '/tls', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'server', configMap: { name: BARE } },
              { name: 'tls', secret: { secretName: BARE } },
            ],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: BARE, namespace: NAMESPACE }, spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort: 'https' }] } },
  ];
  return { items, caBundle: Buffer.from(ca.cert).toString('base64') };
}

/** The chart's webhook configuration (same rules, selectors, timeout, failurePolicy), pointed at the bare server. */
async function bareWebhookConfiguration(caBundle: string): Promise<string> {
  const read = expectOk(await kubectl(['get', 'validatingwebhookconfiguration', FULLNAME, '-o', 'json']), 'read the chart webhook configuration');
  const webhooks = (JSON.parse(read.stdout) as { webhooks: Array<Record<string, unknown>> }).webhooks.map((webhook) => ({
    ...webhook,
    name: 'bare.entra-rbac-guard.test',
    clientConfig: { service: { name: BARE, namespace: NAMESPACE, path: '/validate', port: 443 }, caBundle },
  }));
  return JSON.stringify({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: BARE }, webhooks });
}

/** Creates and deletes bindings one after another; returns each create's wall time (ms). */
async function createTimes(label: string): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < CREATES; index += 1) {
    const name = `latency-${label}-${index}`;
    const started = performance.now();
    expectOk(await kubectl(['create', 'rolebinding', name, `--namespace=${TEAM_NAMESPACE}`, '--clusterrole=view', `--group=${GROUP_ID}`]), `create ${name}`);
    times.push(performance.now() - started);
    await kubectl(['delete', 'rolebinding', name, `--namespace=${TEAM_NAMESPACE}`, '--wait=false']);
  }
  return times;
}

const summary = (times: readonly number[]) => ({ p50: Math.round(percentile(times, 50)), p99: Math.round(percentile(times, 99)) });

Latency('p50/p99 of kubectl create rolebinding :: none, bare allow-all, ours (chart defaults) :: printed', async () => {
  await installChart();
  await rolledOut();
  const ours = summary(await createTimes('ours'));

  const bare = await bareManifests();
  const bareWebhook = await bareWebhookConfiguration(bare.caBundle);
  expectOk(await kubectl(['delete', 'validatingwebhookconfiguration', FULLNAME]), 'remove our webhook');
  let none: { p50: number; p99: number };
  let allowAll: { p50: number; p99: number };
  try {
    none = summary(await createTimes('none'));
    expectOk(await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: bare.items }) }), 'deploy the bare server');
    expectOk(await kubectl(['rollout', 'status', `deployment/${BARE}`, '-n', NAMESPACE, '--timeout=180s'], { timeoutMs: 190_000 }), 'the bare server ready');
    expectOk(await kubectl(['apply', '-f', '-'], { stdin: bareWebhook }), 'point a webhook at the bare server');
    // Allowed by the bare server, where ours would deny it: proof that the bare server is the one answering.
    await eventually('the bare webhook to answer', async () => ((await kubectl(['create', 'rolebinding', 'bare-probe', `--namespace=${TEAM_NAMESPACE}`, '--clusterrole=view', '--user=probe@example.com', '--dry-run=server'])).code === 0 ? true : undefined), 30_000);
    allowAll = summary(await createTimes('bare'));
  } finally {
    await kubectl(['delete', 'validatingwebhookconfiguration', BARE, '--ignore-not-found']);
    await kubectl(['delete', 'deployment,service,configmap,secret', BARE, '-n', NAMESPACE, '--ignore-not-found']);
    await installChart();
  }
  recordFigures({ createP50None: none.p50, createP99None: none.p99, createP50Bare: allowAll.p50, createP99Bare: allowAll.p99, createP50Ours: ours.p50, createP99Ours: ours.p99 });
  process.stderr.write(`  kubectl create rolebinding, ${CREATES} each: none p50 ${none.p50} / p99 ${none.p99} ms; bare p50 ${allowAll.p50} / p99 ${allowAll.p99} ms; ours p50 ${ours.p50} / p99 ${ours.p99} ms\n`);
  assert.ok(ours.p50 > 0 && allowAll.p50 > 0 && none.p50 > 0);
});

Latency.run();
