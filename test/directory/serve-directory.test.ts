/**
 * The directory `serve` uses when nothing can answer (ADR 0009): unavailable for every group, reported once, and only
 * while the policy in force verifies groups (a ConfigMap policy may turn verification on or off while serving).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { serveDirectory } from '../../src/serve-directory.ts';
import { createMetrics } from '../../src/telemetry/metrics.ts';
import { GROUP_ID, policyWith } from '../helpers.ts';

const Served = suite('serve :: the directory when none is configured');

function setup(env: NodeJS.ProcessEnv = {}) {
  const state = { verifies: true };
  const errors: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const served = serveDirectory(policyWith(), { env }, {
    policyVerifies: () => state.verifies,
    policyOnError: () => 'deny',
    log: () => ({ error: (fields, message) => errors.push({ fields: fields as Record<string, unknown>, message }) }),
  });
  return { state, errors, served };
}

Served('no snapshot, no credentials :: every group unavailable, with the missing variables and the remedy', async () => {
  const { served } = setup();
  const { directory } = await served;
  const fact = directory?.cachedGroups?.([GROUP_ID])?.get(GROUP_ID);
  assert.is(fact?.state, 'unavailable');
  assert.match(fact?.state === 'unavailable' ? fact.reason : '', 'set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET');
  assert.match(fact?.state === 'unavailable' ? (fact.remedy ?? '') : '', 'directory.verify: false');
  assert.equal(await directory!.lookupGroups([GROUP_ID]), directory!.cachedGroups!([GROUP_ID]), 'the same answer, at once or asked');
});

Served('reported once: at start-up, not again at each review', async () => {
  const { served, errors } = setup();
  const { directory, reportNow } = await served;
  reportNow();
  directory!.cachedGroups!([GROUP_ID]);
  await directory!.lookupGroups([GROUP_ID]);
  reportNow();
  assert.is(errors.length, 1);
  assert.match(errors[0]!.message, /^groups cannot be verified in Microsoft Entra ID: neither --directory FILE nor Azure credentials are given/);
  assert.is(errors[0]!.fields['directoryOnError'], 'deny');
});

Served('a policy that does not verify at start-up :: nothing said; said at the first review after it starts verifying', async () => {
  const { served, errors, state } = setup();
  state.verifies = false;
  const { directory, reportNow, problem, readiness } = await served;
  reportNow();
  assert.is(errors.length, 0);
  assert.is(problem(), undefined);
  assert.is(readiness()['state'], 'not used');
  state.verifies = true;
  directory!.cachedGroups!([GROUP_ID]);
  directory!.cachedGroups!([GROUP_ID]);
  assert.is(errors.length, 1);
  assert.is(readiness()['state'], 'not configured');
  assert.match(readiness()['problem'] ?? '', 'AZURE_CLIENT_ID');
});

Served('the directory_configured gauge follows the policy in force at each scrape', async () => {
  const { served, state } = setup();
  const { problem } = await served;
  const metrics = createMetrics(new Registry(), { directoryProblem: problem });
  const gauge = async () => (await metrics.registry.getSingleMetricAsString('entra_rbac_guard_directory_configured')).split('\n').at(-1);
  assert.is(await gauge(), 'entra_rbac_guard_directory_configured 0');
  state.verifies = false;
  assert.is(await gauge(), 'entra_rbac_guard_directory_configured 1');
});

Served('tenant and client set, no secret or token file :: only the missing variable is named', async () => {
  const { served } = setup({ AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', AZURE_CLIENT_ID: '3c2a5f2e-1b4d-4c6e-9f8a-7b6c5d4e3f2a' });
  assert.match((await served).problem() ?? '', 'to use Microsoft Graph, set AZURE_FEDERATED_TOKEN_FILE or AZURE_CLIENT_SECRET (');
});

Served('a snapshot :: configured, never a problem', async () => {
  const served = await serveDirectory(policyWith(), { env: {}, file: new URL('../../examples/directory-snapshot.yaml', import.meta.url).pathname }, {
    policyVerifies: () => true,
    policyOnError: () => 'deny',
    log: () => undefined,
  });
  assert.is(served.problem(), undefined);
  assert.equal(served.readiness(), { state: 'configured', source: 'snapshot directory-snapshot.yaml' });
});

Served.run();
