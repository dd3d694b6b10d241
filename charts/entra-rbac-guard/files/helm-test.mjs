// `helm test`: sends a RoleBinding that the policy must refuse, as a dry run (nothing is stored), and checks that this
// webhook refused it (enforce) or warned about it (audit). Runs with the webhook's own image: node, no shell, no
// dependencies. Exit 0 when the webhook did its job; 1 with the reason otherwise.
//
// Environment: NAMESPACE (where the binding is sent), ROLE (a Role there that this pod's ServiceAccount holds, so the
// API server's own escalation check passes), WEBHOOK_NAME, MODE (enforce or audit). KUBE_API_URL, KUBE_TOKEN_FILE
// and KUBE_CA_FILE override the in-cluster defaults (the chart's tests run this file against a test API server).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const env = process.env;
const namespace = required('NAMESPACE');
const role = required('ROLE');
const webhookName = required('WEBHOOK_NAME');
const mode = required('MODE');
const apiUrl = env.KUBE_API_URL || `https://${hostPort(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT)}`;
const token = readFileSync(env.KUBE_TOKEN_FILE || `${SERVICE_ACCOUNT}/token`, 'utf8').trim();
const ca = readFileSync(env.KUBE_CA_FILE || `${SERVICE_ACCOUNT}/ca.crt`, 'utf8');

// Two violations of the default policy, so that one rule set to warn or off still leaves a denial:
// a User subject (user-subject) and every authenticated account (broad-group).
const name = `entra-rbac-guard-helm-test-${Date.now().toString(36)}`;
const binding = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
  subjects: [
    { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'helm-test@example.invalid' },
    { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' },
  ],
};
const RULES = ['[user-subject]', '[broad-group]'];

const response = await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/rolebindings?dryRun=All`, binding);
const message = response.json?.message ?? response.body;
const warnings = [response.headers.warning ?? []].flat().join('\n');
const byUs = `admission webhook "${webhookName}" denied the request`;

if (mode === 'audit') {
  if (response.status === 201 && RULES.some((rule) => warnings.includes(rule))) {
    pass(`audit mode: the known-bad RoleBinding was allowed with the webhook's warning:\n${warnings}`);
  }
  fail(`audit mode: expected the dry-run RoleBinding to be allowed (201) with a warning naming ${RULES.join(' or ')}; got ${response.status}: ${message}\nwarnings: ${warnings || '(none)'}`);
}
if (response.status === 403 && message.includes(byUs) && RULES.some((rule) => message.includes(rule))) {
  pass(`the known-bad RoleBinding was denied:\n${message}`);
}
if (response.status === 201) {
  fail(`the known-bad RoleBinding was ALLOWED: the webhook is not enforcing (is policy.mode audit, or are user-subject and broad-group both off?)\nwarnings: ${warnings || '(none)'}`);
}
if (message.includes(`failed calling webhook "${webhookName}"`)) {
  fail(`the API server could not call the webhook (are its pods ready? is the caBundle right?): ${message}`);
}
fail(`expected a denial by webhook "${webhookName}" naming ${RULES.join(' or ')}; got ${response.status}: ${message}`);

function required(variable) {
  const value = env[variable];
  if (!value) fail(`${variable} is not set`);
  return value;
}

function hostPort(host, port) {
  if (!host || !port) fail('KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod? (or set KUBE_API_URL)');
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function post(path, object) {
  const body = JSON.stringify(object);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, apiUrl),
      {
        method: 'POST',
        ca,
        timeout: 30_000,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out after 30 s`)));
    req.on('error', reject);
    req.end(body);
  }).catch((error) => fail(`could not reach the API server at ${apiUrl}: ${error.message}`));
}

function pass(text) {
  process.stdout.write(`PASS: ${text}\n`);
  process.exit(0);
}

function fail(text) {
  process.stderr.write(`FAIL: ${text}\n`);
  process.exit(1);
}
