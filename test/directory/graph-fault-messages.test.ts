/**
 * What a directory fault says, through the real @azure/identity and Graph SDK against the loopback fakes: the reason
 * must name the cause (an unreachable sign-in endpoint, an answer cut short), not an SDK code and a link.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CircuitBreaker } from '../../src/directory/breaker.ts';
import { credentialFromEnvironment, resolveEndpoints } from '../../src/directory/credentials.ts';
import { CONFIGURATION_ERROR, GraphDirectory, type GraphDirectoryOptions } from '../../src/directory/graph.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import type { FakeGroup } from '../fakes/graph-fake.ts';
import { startFakes, within, type Fakes } from '../fakes/harness.ts';

const PAYMENTS: FakeGroup = { id: '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d', displayName: 'Payments Team', securityEnabled: true };

interface Context {
  fakes: Fakes;
}

function directory(fakes: Fakes, options: Partial<GraphDirectoryOptions> = {}): GraphDirectory {
  const endpoints = resolveEndpoints({}, fakes.env);
  const chosen = credentialFromEnvironment(endpoints, fakes.env);
  if (!chosen) throw new Error('the test environment configures no credential');
  return new GraphDirectory({
    credential: chosen.credential,
    graphEndpoint: endpoints.graphEndpoint,
    authorityHost: endpoints.authorityHost,
    deadlineMs: 3000,
    breaker: new CircuitBreaker({ random: () => 0.5 }),
    ...options,
  });
}

async function reasonFor(target: GraphDirectory, id = PAYMENTS.id): Promise<string> {
  const fact: GroupFact | undefined = (await within(10_000, target.lookupGroups([id]), 'lookupGroups')).get(id);
  if (fact?.state !== 'unavailable') throw new assert.Assertion({ message: `expected unavailable, got ${JSON.stringify(fact)}`, operator: 'state', expects: 'unavailable', actual: fact?.state });
  return fact.reason;
}

const Messages = suite<Context>('Graph directory: fault reasons name the cause', {} as Context);

Messages.before.each(async (context) => {
  context.fakes = await startFakes([PAYMENTS]);
});

Messages.after.each(async (context) => {
  await context.fakes.close();
});

Messages('token endpoint down before the first token :: names the sign-in endpoint, not only MSAL\'s endpoints_resolution_error', async ({ fakes }) => {
  fakes.entra.mode = 'down';
  const reason = await reasonFor(directory(fakes));
  assert.match(reason, /^authentication to Microsoft Entra ID failed: the sign-in endpoint https:\/\/127\.0\.0\.1:\d+ could not be reached/);
  assert.match(reason, /\(endpoints_resolution_error\); check that the webhook can reach it over HTTPS and that AZURE_TENANT_ID is right$/);
  assert.is(fakes.graph.calls, 0);
});

Messages('token endpoint down when a new token is needed :: names the sign-in endpoint, not only MSAL\'s network_error', async ({ fakes }) => {
  const endpoints = resolveEndpoints({}, fakes.env);
  const chosen = credentialFromEnvironment(endpoints, fakes.env)!;
  // One credential, as in the webhook: its first token works (the sign-in metadata is then known)…
  const first = directory(fakes, { credential: chosen.credential });
  assert.is((await first.lookupGroups([PAYMENTS.id])).get(PAYMENTS.id)?.state, 'found');
  fakes.entra.mode = 'down';
  // …and the next token it needs (here for another scope, as when the first expires) meets the endpoint down.
  const reason = await reasonFor(directory(fakes, { credential: chosen.credential, scope: 'https://graph.contoso.test/.default' }));
  assert.match(reason, /^authentication to Microsoft Entra ID failed: the sign-in endpoint https:\/\/127\.0\.0\.1:\d+ could not be reached for a token \(network_error\)/);
});

Messages('sign-in refused (invalid_client) :: the directory\'s own words are kept', async ({ fakes }) => {
  fakes.entra.mode = 'invalid_client';
  assert.match(await reasonFor(directory(fakes)), /^authentication to Microsoft Entra ID failed: invalid_client: .*AADSTS7000215/);
});

Messages('sign-in refused (invalid_client) :: named a configuration error, with what to fix', async ({ fakes }) => {
  fakes.entra.mode = 'invalid_client';
  const reason = await reasonFor(directory(fakes));
  assert.ok(reason.includes(`; ${CONFIGURATION_ERROR}: check the client secret (its value, not its ID; not expired) or the federated credential of AZURE_CLIENT_ID`), reason);
});

Messages('token endpoint down :: no configuration error (an outage may pass)', async ({ fakes }) => {
  fakes.entra.mode = 'down';
  assert.not.ok((await reasonFor(directory(fakes))).includes(CONFIGURATION_ERROR));
});

const TOKEN_FAILURES = [
  ['sign-in refused (invalid_client)', 'invalid_client'],
  ['token endpoint down', 'down'],
] as const;
for (const [what, mode] of TOKEN_FAILURES) {
  Messages(`${what} :: the breaker opens: the next lookups are answered at once with the reason, no token request, no Graph call`, async ({ fakes }) => {
    const states: string[] = [];
    const target = directory(fakes, { breaker: new CircuitBreaker({ random: () => 0.5, onStateChange: (state) => states.push(state) }) });
    fakes.entra.mode = mode;
    const first = await reasonFor(target);
    const tokenRequests = fakes.entra.requests.length;
    for (let index = 0; index < 5; index += 1) {
      const later = await reasonFor(target);
      assert.ok(later.startsWith(first), `the same cause: ${later}`);
      assert.match(later, /Microsoft Graph is not called again for \d+s$/);
    }
    assert.is(fakes.entra.requests.length, tokenRequests, 'no token request while the breaker is open');
    assert.is(fakes.graph.calls, 0);
    assert.equal(states, ['open']);
  });
}

Messages('no authority host given :: says where to look', async ({ fakes }) => {
  fakes.entra.mode = 'down';
  assert.match(await reasonFor(directory(fakes, { authorityHost: undefined })), /the sign-in endpoint \(AZURE_AUTHORITY_HOST\) could not be reached/);
});

Messages('Graph answer cut short (Content-Length larger than the body, then closed) :: "cut short", not "not JSON"', async ({ fakes }) => {
  fakes.graph.failNext({ kind: 'truncated' });
  assert.is(await reasonFor(directory(fakes)), "Microsoft Graph's answer was cut short (the connection closed before the whole body arrived)");
});

Messages('Graph answer not JSON :: still "malformed answer (not JSON)"', async ({ fakes }) => {
  fakes.graph.failNext({ kind: 'malformed' });
  assert.is(await reasonFor(directory(fakes)), 'Microsoft Graph sent a malformed answer (not JSON)');
});

Messages.run();
