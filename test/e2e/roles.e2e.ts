/**
 * Privilege-aware decisions on a real kube-apiserver 1.20: kubectl → API server → our webhook with its role cache
 * (client-node informers on the same API server) → kubectl.
 *
 * serve does not wire the role cache yet (main.ts is composed elsewhere), so this file starts the webhook in-process:
 * buildServer + createRoleFacts with a KubeConfig read from the harness's kubeconfig, listening on 127.0.0.1 with a
 * self-signed certificate, registered in place of the harness's own webhook (same configuration and webhook name).
 * The tests run in order on one cluster; each cleans up what it creates.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { AddressInfo } from 'node:net';
import * as assert from 'uvu/assert';
import { isBindingKind, readBinding } from '../../src/admission/binding.ts';
import { isRoleKind, readRole } from '../../src/admission/role.ts';
import { RBAC_GROUP } from '../../src/admission/types.ts';
import { parseManifests } from '../../src/check/manifests.ts';
import { checkManifests } from '../../src/check/run-check.ts';
import { buildServer, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { createRoleFacts, type RoleFactsHandle } from '../../src/kube/role-cache.ts';
import { evaluate, type Review } from '../../src/policy/engine.ts';
import { NO_DIRECTORY } from '../../src/policy/facts.ts';
import type { Policy } from '../../src/policy/model.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import { parsePolicy } from '../../src/policy/parse.ts';
import { startHarness, type Harness, type KubectlResult, type LogLine } from './harness.ts';
import { e2eSuite, eventually as eventuallyWithin, expectDeniedBy, expectOk, show } from './expect.ts';

const NAMESPACE = 'payments';
const GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';
const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const POLICY_YAML = `apiVersion: entra-rbac-guard/v1\nkind: Policy\nadminGroups: [${ADMIN_GROUP_ID}]\ndirectory: {verify: false}\n`;

interface Context {
  harness: Harness;
  roles: RoleFactsHandle;
  app: WebhookServer;
  /** What the webhook serves: switch it to try another policy without a restart. */
  policy: Policy;
  /** Every line the in-process webhook logged. */
  lines: LogLine[];
  /** The live RBAC objects right after start-up: only what kube-apiserver bootstraps. */
  bootstrap: Record<string, unknown>[];
  setupError?: Error;
  setupErrorReported?: boolean;
}

function policyOf(yaml: string): Policy {
  const parsed = parsePolicy(yaml);
  if (!parsed.ok) throw new Error(`invalid test policy: ${JSON.stringify(parsed.errors)}`);
  return parsed.policy;
}

const Roles = e2eSuite<Context>('e2e: privilege-aware roles on kube-apiserver 1.20', {
  async setup(context) {
  context.harness = await startHarness({ policyYaml: POLICY_YAML });
  context.policy = policyOf(POLICY_YAML);
  context.lines = [];
  const { harness } = context;
  // What a fresh API server bootstraps, before any test adds to it.
  context.bootstrap = listItems(expectOk(await harness.kubectl(['get', 'clusterroles,roles,clusterrolebindings,rolebindings', '--all-namespaces', '-o', 'json']), 'list RBAC'));

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(harness.kubeconfig);
  kubeConfig.setCurrentContext('admin');
  context.roles = createRoleFacts(kubeConfig, {
    log: (level, message, fields) => context.lines.push({ level, msg: message, ...fields }),
    backoffMs: 200,
    maxBackoffMs: 2_000,
  });
  await context.roles.whenSynced(30_000);

  const tls = await generateSelfSigned(['127.0.0.1']);
  context.app = buildServer({
    tls,
    currentPolicy: () => context.policy,
    roles: context.roles,
    readiness: () => ({ ready: context.roles.synced(), detail: { roles: context.roles.status() } }),
    logger: { level: 'info', stream: { write: (line: string) => void context.lines.push(JSON.parse(line) as LogLine) } },
  });
  await context.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = context.app.server.address() as AddressInfo;
  await harness.killWebhook();
  await harness.pointWebhookAt(`https://127.0.0.1:${port}/validate`, Buffer.from(tls.ca).toString('base64'));
  await waitUntilAnswering(context);
  expectOk(await harness.kubectl(['create', 'namespace', NAMESPACE]), 'create namespace');
    return 'etcd, kube-apiserver, role cache and webhook up';
  },
  async teardown(context) {
    await context.roles?.stop();
    await context.app?.close();
    await context.harness?.stop();
  },
});

// --- helpers -------------------------------------------------------------------------------------------------------

function listItems(result: KubectlResult): Record<string, unknown>[] {
  return (JSON.parse(result.stdout) as { items: Record<string, unknown>[] }).items;
}

async function apply(harness: Harness, objects: readonly object[]): Promise<KubectlResult> {
  return harness.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

function clusterRole(name: string, rules: readonly object[]): object {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: { name }, rules };
}

const WILDCARD = { apiGroups: ['*'], resources: ['*'], verbs: ['*'] };

/** The role cache sees a write a moment after the API server stores it; a loaded CI machine needs the slack. */
const ROLE_CACHE_WITHIN_MS = 10_000;

const eventually = <T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = ROLE_CACHE_WITHIN_MS): Promise<T> =>
  eventuallyWithin(what, check, timeoutMs);

/** The informers see a write a moment after the API server stores it: wait until the cache does too. */
function cacheHasRole(roles: RoleFactsHandle, name: string, present = true): Promise<true> {
  return eventually(`the role cache to ${present ? 'hold' : 'drop'} ClusterRole ${name}`, () => {
    const facts = roles.factsFor({ groupIds: [], roles: [{ kind: 'ClusterRole', namespace: '', name }] });
    return facts.roles.has(`ClusterRole//${name}`) === present ? true : undefined;
  });
}

function cacheHasBinding(roles: RoleFactsHandle, role: string, binding: string): Promise<true> {
  return eventually(`the role cache to file ClusterRoleBinding ${binding} under ClusterRole ${role}`, () => {
    const facts = roles.factsFor({ groupIds: [], bindingsOf: [{ kind: 'ClusterRole', namespace: '', name: role }] });
    return facts.bindings.get(`ClusterRole//${role}`)?.some((entry) => entry.name === binding) ? true : undefined;
  });
}

function decisions(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((line) => line.msg === 'decision');
}

/** The API server picks the new URL up a moment later: dry-run probes until one reaches this process. */
async function waitUntilAnswering({ harness, lines }: Context): Promise<void> {
  for (let attempt = 1; attempt <= 120; attempt++) {
    const name = `roles-e2e-probe-${attempt}`;
    await harness.kubectl(['create', 'rolebinding', name, '--namespace=default', '--clusterrole=view', `--group=${ADMIN_GROUP_ID}`, '--dry-run=server']);
    if (decisions(lines).some((line) => line['name'] === name)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('the API server never called the in-process webhook');
}

// --- bootstrap first, while the cluster holds nothing else ----------------------------------------------------------

Roles('bootstrap :: every live bootstrap role and binding, judged as a CREATE with the live role cache :: zero violations', async ({ bootstrap, roles, policy }) => {
  assert.ok(bootstrap.length > 100, `expected the bootstrap RBAC, got ${bootstrap.length} objects`);
  const problems: string[] = [];
  for (const [index, object] of bootstrap.entries()) {
    const kind = object['kind'];
    const review: Review = isRoleKind(kind)
      ? { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind }, role: readRole(object, `items[${index}]`), requester: { username: 'e2e-admin', groups: [] } }
      : isBindingKind(kind)
        ? { operation: 'CREATE', kind: { group: RBAC_GROUP, version: 'v1', kind }, binding: readBinding(object, `items[${index}]`), requester: { username: 'e2e-admin', groups: [] } }
        : (assert.unreachable(`unexpected ${String(kind)}`) as never);
    const decision = evaluate(review, policy, { ...NO_DIRECTORY, roles: roles.factsFor(factsNeeded(review, policy)) });
    if (!decision.allowed || decision.violations.length > 0 || decision.notes.length > 0) {
      problems.push(`${String(kind)} ${JSON.stringify((object['metadata'] as { name: string }).name)}: ${JSON.stringify(decision)}`);
    }
  }
  assert.equal(problems, []);
});

Roles('bootstrap :: the same objects through `check` offline (roles resolved from the input) :: zero denials, zero violations', async ({ bootstrap }) => {
  const objects = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: bootstrap }), 'live');
  const outcome = await checkManifests(objects, policyOf(POLICY_YAML), undefined, 'default');
  assert.is(outcome.checked.length, bootstrap.length);
  const flagged = outcome.checked.filter((entry) => !entry.decision.allowed || entry.decision.violations.length > 0);
  assert.equal(flagged.map((entry) => `${entry.object.kind} ${entry.object.name}`), []);
});

// --- widening a bound role ------------------------------------------------------------------------------------------

Roles('cluster-admin :: a ClusterRole widened to */*/* while bound to a non-admin group :: denied, role unchanged', async ({ harness, roles }) => {
  expectOk(await harness.kubectl(['create', 'clusterrole', 'team-reader', '--verb=get,list', '--resource=pods']), 'create a harmless ClusterRole');
  expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'team-readers', '--clusterrole=team-reader', `--group=${GROUP_ID}`]), 'bind it to a team');
  await cacheHasBinding(roles, 'team-reader', 'team-readers');
  try {
    const patch = JSON.stringify([{ op: 'replace', path: '/rules', value: [WILDCARD] }]);
    for (const extra of [[], ['--dry-run=server']]) {
      const result = await harness.kubectl(['patch', 'clusterrole', 'team-reader', '--type=json', `--patch=${patch}`, ...extra]);
      expectDeniedBy(
        result,
        'cluster-admin',
        `ClusterRole team-reader would grant everything (all verbs on all resources in all API groups) to Group "${GROUP_ID}" through ClusterRoleBinding team-readers`,
        'keep the role narrower, or first delete ClusterRoleBinding team-readers',
      );
    }
    const stored = JSON.parse(expectOk(await harness.kubectl(['get', 'clusterrole', 'team-reader', '-o', 'json']), 'get').stdout);
    assert.equal(stored.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }], 'the denied update must not be stored');
    // Widening while bound to the admin group only is fine.
    expectOk(await harness.kubectl(['delete', 'clusterrolebinding', 'team-readers']), 'unbind the team');
    expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'admin-readers', '--clusterrole=team-reader', `--group=${ADMIN_GROUP_ID}`]), 'bind to admins');
    await cacheHasBinding(roles, 'team-reader', 'admin-readers');
    await eventually('the cache to drop team-readers', () =>
      roles.factsFor({ groupIds: [], bindingsOf: [{ kind: 'ClusterRole', namespace: '', name: 'team-reader' }] }).bindings.get('ClusterRole//team-reader')?.length === 1 ? true : undefined,
    );
    expectOk(await harness.kubectl(['patch', 'clusterrole', 'team-reader', '--type=json', `--patch=${patch}`]), 'widen while only admins hold it');
  } finally {
    await harness.kubectl(['delete', 'clusterrolebinding', 'team-readers', 'admin-readers', '--ignore-not-found']);
    await harness.kubectl(['delete', 'clusterrole', 'team-reader', '--ignore-not-found']);
  }
});

Roles('cluster-admin :: a binding to a custom wildcard role :: denied (ClusterRoleBinding and RoleBinding); to the admin group :: created', async ({ harness, roles }) => {
  expectOk(await apply(harness, [clusterRole('platform-superuser', [WILDCARD])]), 'create an unbound wildcard ClusterRole');
  await cacheHasRole(roles, 'platform-superuser');
  try {
    const cluster = await harness.kubectl(['create', 'clusterrolebinding', 'platform-team', '--clusterrole=platform-superuser', `--group=${GROUP_ID}`]);
    expectDeniedBy(cluster, 'cluster-admin', `ClusterRoleBinding platform-team grants platform-superuser to Group "${GROUP_ID}"`, 'ClusterRole platform-superuser grants everything');
    const namespaced = await harness.kubectl(['create', 'rolebinding', 'platform-team', `--namespace=${NAMESPACE}`, '--clusterrole=platform-superuser', `--group=${GROUP_ID}`]);
    expectDeniedBy(namespaced, 'cluster-admin', `in namespace ${NAMESPACE}`, 'namespace administrators use ClusterRole admin');
    expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'platform-admins', '--clusterrole=platform-superuser', `--group=${ADMIN_GROUP_ID}`]), 'admin group');
  } finally {
    await harness.kubectl(['delete', 'clusterrolebinding', 'platform-team', 'platform-admins', '--ignore-not-found']);
    await harness.kubectl(['delete', 'rolebinding', 'platform-team', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
    await harness.kubectl(['delete', 'clusterrole', 'platform-superuser', '--ignore-not-found']);
  }
});

Roles('cluster-admin :: bind a role that does not exist yet, then create it as */*/* :: binding allowed with a warning, role denied', async ({ harness, roles }) => {
  try {
    const binding = expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'early-team', '--clusterrole=later', `--group=${GROUP_ID}`]), 'bind a missing role');
    assert.ok(
      binding.stderr.includes("Warning: ClusterRole later does not exist yet: ClusterRoleBinding early-team was judged on the role's name only"),
      `kubectl should print our warning:\n${show(binding)}`,
    );
    await cacheHasBinding(roles, 'later', 'early-team');
    const role = await apply(harness, [clusterRole('later', [WILDCARD])]);
    expectDeniedBy(role, 'cluster-admin', `ClusterRole later would grant everything`, 'through ClusterRoleBinding early-team');
  } finally {
    await harness.kubectl(['delete', 'clusterrolebinding', 'early-team', '--ignore-not-found']);
    await harness.kubectl(['delete', 'clusterrole', 'later', '--ignore-not-found']);
  }
});

// --- escalation -----------------------------------------------------------------------------------------------------

Roles('escalation :: bind/escalate/impersonate role bound to a group :: denied naming the permissions; with the rule at warn :: created with our warning', async (context) => {
  const { harness, roles } = context;
  expectOk(
    await apply(harness, [
      clusterRole('rbac-delegator', [
        { apiGroups: [RBAC_GROUP], resources: ['clusterroles'], verbs: ['bind', 'escalate'] },
        { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
      ]),
    ]),
    'create an escalating ClusterRole',
  );
  await cacheHasRole(roles, 'rbac-delegator');
  const original = context.policy;
  try {
    const denied = await harness.kubectl(['create', 'clusterrolebinding', 'delegators', '--clusterrole=rbac-delegator', `--group=${GROUP_ID}`]);
    expectDeniedBy(
      denied,
      'escalation',
      `ClusterRoleBinding delegators grants ClusterRole rbac-delegator to Group "${GROUP_ID}"`,
      'escalate on clusterroles; bind on clusterroles; impersonate on users, groups',
    );
    context.policy = policyOf(`${POLICY_YAML}rules: {escalation: warn}\n`);
    const warned = expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'delegators', '--clusterrole=rbac-delegator', `--group=${GROUP_ID}`]), 'escalation: warn');
    assert.match(warned.stderr, /Warning: ClusterRoleBinding delegators grants ClusterRole rbac-delegator to Group "[0-9a-f-]+" \[escalation\]/);
  } finally {
    context.policy = original;
    await harness.kubectl(['delete', 'clusterrolebinding', 'delegators', '--ignore-not-found']);
    await harness.kubectl(['delete', 'clusterrole', 'rbac-delegator', '--ignore-not-found']);
  }
});

Roles('escalation :: a bound namespaced Role given impersonate on serviceaccounts :: denied; the built-in edit role (which creates pods too) is fine', async ({ harness, roles }) => {
  expectOk(await harness.kubectl(['create', 'role', 'sa-reader', `--namespace=${NAMESPACE}`, '--verb=get', '--resource=serviceaccounts']), 'create a Role');
  expectOk(await harness.kubectl(['create', 'rolebinding', 'sa-readers', `--namespace=${NAMESPACE}`, '--role=sa-reader', `--group=${GROUP_ID}`]), 'bind it');
  await eventually('the cache to file the RoleBinding', () =>
    roles.factsFor({ groupIds: [], bindingsOf: [{ kind: 'Role', namespace: NAMESPACE, name: 'sa-reader' }] }).bindings.get(`Role/${NAMESPACE}/sa-reader`)?.length ? true : undefined,
  );
  try {
    const patch = JSON.stringify([{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] } }]);
    const result = await harness.kubectl(['patch', 'role', 'sa-reader', `--namespace=${NAMESPACE}`, '--type=json', `--patch=${patch}`]);
    expectDeniedBy(result, 'escalation', `Role ${NAMESPACE}/sa-reader would grant impersonate on serviceaccounts to Group "${GROUP_ID}" through RoleBinding ${NAMESPACE}/sa-readers`);
    expectOk(await harness.kubectl(['create', 'rolebinding', 'team-edit', `--namespace=${NAMESPACE}`, '--clusterrole=edit', `--group=${GROUP_ID}`]), 'RoleBinding to edit');
  } finally {
    await harness.kubectl(['delete', 'rolebinding', 'sa-readers', 'team-edit', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
    await harness.kubectl(['delete', 'role', 'sa-reader', `--namespace=${NAMESPACE}`, '--ignore-not-found']);
  }
});

// --- restarts -------------------------------------------------------------------------------------------------------

Roles('bootstrap :: API server restart with the webhook and its cache running :: reconcile passes, the cache resumes', async ({ harness, roles, lines }) => {
  // A missing bootstrap role and binding make the restart's reconcile CREATE them, through the webhook.
  expectOk(await harness.kubectl(['delete', 'clusterrolebinding', 'system:controller:clusterrole-aggregation-controller']), 'delete a bootstrap binding');
  expectOk(await harness.kubectl(['delete', 'clusterrole', 'system:controller:clusterrole-aggregation-controller']), 'delete its escalating role');
  const before = decisions(lines).length;

  await harness.restartApiServer();

  for (const kind of ['clusterrole', 'clusterrolebinding']) {
    expectOk(await harness.kubectl(['get', kind, 'system:controller:clusterrole-aggregation-controller', '-o', 'name']), `${kind} recreated`);
  }
  const reconciled = decisions(lines)
    .slice(before)
    .filter((line) => line['name'] === 'system:controller:clusterrole-aggregation-controller');
  assert.equal(
    reconciled.map((line) => [line['kind'], line['requester'], line['allowed']]).sort(),
    [
      ['ClusterRole', 'system:apiserver', true],
      ['ClusterRoleBinding', 'system:apiserver', true],
    ],
  );
  assert.not.ok(decisions(lines).slice(before).some((line) => line['allowed'] === false), 'the reconcile was never denied');
  // The informers lost their watches with the API server: the cache must have listed and watched again.
  expectOk(await apply(harness, [clusterRole('after-restart', [WILDCARD])]), 'create a wildcard role after the restart');
  try {
    await cacheHasRole(roles, 'after-restart');
    expectDeniedBy(await harness.kubectl(['create', 'clusterrolebinding', 'after-restart', '--clusterrole=after-restart', `--group=${GROUP_ID}`]), 'cluster-admin');
  } finally {
    await harness.kubectl(['delete', 'clusterrole', 'after-restart', '--ignore-not-found']);
  }
  assert.ok(roles.synced());
});

Roles.run();
