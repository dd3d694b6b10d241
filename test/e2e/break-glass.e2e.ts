/**
 * The break-glass procedure of docs/policy.md, end to end on a real kube-apiserver 1.20, as README shows it: add a
 * time-boxed entry, bind, see the warning and the audit annotation, let it expire, see new bindings denied and `audit`
 * flag the leftover grant, delete it. The entry expires BREAK_GLASS_MS after the test starts (wall clock: the webhook
 * and the CLI read the time of their host).
 */
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { runCli, type Ran } from '../cli/spawn-cli.ts';
import { e2eSuite, eventually, expectDeniedBy, expectOk, show } from './expect.ts';
import { startHarness, WEBHOOK_NAME, type Harness } from './harness.ts';

const ADMIN_GROUP_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const BREAK_GLASS_MS = 20_000;
const CLI_TIMEOUT_MS = 30_000;

interface Context {
  harness: Harness;
  policy: string;
  expires: string;
  setupError?: Error;
  setupErrorReported?: boolean;
}

const BreakGlass = e2eSuite<Context>('e2e: a break-glass entry that expires, on kube-apiserver 1.20', {
  async setup(context) {
    // Whole seconds: RFC 3339 as people write it.
    context.expires = new Date(Math.ceil((Date.now() + BREAK_GLASS_MS) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const yaml =
      `apiVersion: entra-rbac-guard/v1\nkind: Policy\nadminGroups: [${ADMIN_GROUP_ID}]\nallow:\n` +
      `  users: [{name: alice@contoso.com, expires: "${context.expires}", reason: INC-4711}]\n` +
      `  clusterAdminSubjects: [{kind: User, name: alice@contoso.com, expires: "${context.expires}", reason: INC-4711}]\n`;
    context.harness = await startHarness({ policyYaml: yaml });
    context.policy = context.harness.writePolicy('break-glass.yaml', yaml);
    return `etcd, kube-apiserver and the webhook up; the entry expires at ${context.expires}`;
  },
  async teardown(context) {
    await context.harness?.stop();
  },
});

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_') && !name.startsWith('AZURE_') && name !== 'KUBECONFIG'),
  );
}

function audit(context: Context): Promise<Ran> {
  return runCli(['audit', '--kubeconfig', context.harness.kubeconfig, '--policy', context.policy, '--output', 'json', '--fail-on', 'deny'], cleanEnv(), { timeoutMs: CLI_TIMEOUT_MS });
}

type AuditJson = { results: { kind: string; name: string; exemption?: string; violations: { rule: string; message: string; expiredExemption?: Record<string, string> }[] }[]; summary: { expiredExemptions: number } };

function resultFor(ran: Ran, name: string) {
  return (JSON.parse(ran.stdout) as AuditJson).results.find((result) => result.kind === 'ClusterRoleBinding' && result.name === name);
}

BreakGlass('before it expires :: cluster-admin for alice is created, kubectl prints the break-glass warning, the API server audit log keeps the entry', async ({ harness, expires }) => {
  const created = expectOk(await harness.kubectl(['create', 'clusterrolebinding', 'breakglass-alice', '--clusterrole=cluster-admin', '--user=alice@contoso.com']), 'the break-glass binding');
  assert.match(created.stderr, `Warning: Allowed by the break-glass entry allow.users "alice@contoso.com" (INC-4711) until ${expires}; once it expires: ClusterRoleBinding breakglass-alice binds User "alice@contoso.com" directly [user-subject]`);
  assert.match(created.stderr, `Warning: Allowed by the break-glass entry allow.clusterAdminSubjects "alice@contoso.com" (INC-4711) until ${expires}; once it expires:`);
  const event = await eventually('the audit event of the create', () =>
    readFileSync(harness.auditLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { stage: string; verb: string; objectRef?: { name?: string }; annotations?: Record<string, string> })
      .find((entry) => entry.stage === 'ResponseComplete' && entry.verb === 'create' && entry.objectRef?.name === 'breakglass-alice'),
  );
  assert.match(event.annotations?.[`${WEBHOOK_NAME}/break-glass`] ?? '', `allow.users "alice@contoso.com" (INC-4711) until ${expires}`);
});

BreakGlass('before it expires :: audit shows the binding exempt by the entry, and passes --fail-on deny', async (context) => {
  const ran = await audit(context);
  assert.is(ran.code, 0, show({ code: ran.code ?? -1, stdout: ran.stdout.slice(0, 2000), stderr: ran.stderr }));
  const result = resultFor(ran, 'breakglass-alice');
  assert.equal(result?.violations, []);
  assert.match(result?.exemption ?? '', `break-glass allow.users "alice@contoso.com" (INC-4711) until ${context.expires}`);
});

BreakGlass('after it expires :: a new binding for alice is denied naming the expired entry; audit flags the leftover grant and fails', async (context) => {
  const { harness, expires } = context;
  const wait = Date.parse(expires) + 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const denied = await harness.kubectl(['create', 'clusterrolebinding', 'breakglass-alice-2', '--clusterrole=cluster-admin', '--user=alice@contoso.com']);
  expectDeniedBy(denied, 'user-subject');
  assert.match(denied.stderr, `(the break-glass entry allow.users "alice@contoso.com" (INC-4711) expired at ${expires}`);

  const ran = await audit(context);
  assert.is(ran.code, 1, `--fail-on deny fails on the leftover grant:\n${ran.stderr}`);
  const result = resultFor(ran, 'breakglass-alice');
  assert.equal(result?.violations.map((violation) => [violation.rule, violation.expiredExemption?.['list']]), [
    ['user-subject', 'allow.users'],
    ['cluster-admin', 'allow.clusterAdminSubjects'],
  ]);
  assert.is((JSON.parse(ran.stdout) as AuditJson).summary.expiredExemptions, 2);
  assert.match(ran.stderr, `allow.users[0]: "alice@contoso.com" (INC-4711) expired at ${expires} and exempts nothing now: remove it`);
});

BreakGlass('clean up :: the grant deleted, audit passes again; policy validate still accepts the policy and warns', async (context) => {
  expectOk(await context.harness.kubectl(['delete', 'clusterrolebinding', 'breakglass-alice']), 'delete the leftover grant');
  const ran = await audit(context);
  assert.is(ran.code, 0, ran.stderr);
  assert.is(resultFor(ran, 'breakglass-alice'), undefined);
  const validated = await runCli(['policy', 'validate', context.policy], cleanEnv());
  assert.is(validated.code, 0, validated.stderr);
  assert.match(validated.stderr, 'warning: allow.clusterAdminSubjects[0]: "alice@contoso.com" (INC-4711) expired at');
});

BreakGlass.run();
