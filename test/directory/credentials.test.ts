import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CLOUDS, DirectoryConfigError, credentialFromEnvironment, resolveEndpoints, type Cloud } from '../../src/directory/credentials.ts';
import { JWT_BEARER_ASSERTION_TYPE } from '../fakes/entra-token-fake.ts';
import { CLIENT_ID, CLIENT_SECRET, FEDERATED_TOKEN, TENANT_ID, startFakes, within, type Fakes } from '../fakes/harness.ts';

// ---------------------------------------------------------------------------------------------------------------
const endpoints = suite('credentials :: endpoints');

const CLOUD_TABLE: [Cloud, string, string][] = [
  ['public', 'https://graph.microsoft.com', 'https://login.microsoftonline.com'],
  ['usgov', 'https://graph.microsoft.us', 'https://login.microsoftonline.us'],
  ['usgov-dod', 'https://dod-graph.microsoft.us', 'https://login.microsoftonline.us'],
  ['china', 'https://microsoftgraph.chinacloudapi.cn', 'https://login.chinacloudapi.cn'],
];

for (const [cloud, graph, authority] of CLOUD_TABLE) {
  endpoints(`cloud ${cloud} :: its Graph and authority hosts, Microsoft's own (discovery on, no custom host)`, () => {
    assert.equal(resolveEndpoints({ cloud }, {}), {
      cloud,
      graphEndpoint: graph,
      graphHostname: new URL(graph).hostname,
      customGraphHost: false,
      scope: `${graph}/.default`,
      authorityHost: authority,
      disableInstanceDiscovery: false,
    });
  });
}

endpoints('default :: public cloud', () => {
  assert.is(resolveEndpoints({}, {}).graphEndpoint, CLOUDS.public.graphEndpoint);
});

endpoints('ENTRA_RBAC_GUARD_GRAPH_ENDPOINT :: overrides the cloud; a custom host; scope on its origin', () => {
  const resolved = resolveEndpoints({ cloud: 'usgov' }, { ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: 'https://127.0.0.1:8444/' });
  assert.is(resolved.graphEndpoint, 'https://127.0.0.1:8444');
  assert.is(resolved.graphHostname, '127.0.0.1', 'the hostname without the port, as the Graph SDK compares customHosts');
  assert.ok(resolved.customGraphHost);
  assert.is(resolved.scope, 'https://127.0.0.1:8444/.default');
  assert.is(resolved.authorityHost, CLOUDS.usgov.authorityHost);
});

endpoints('--graph-endpoint :: wins over the environment; /v1.0 and trailing slashes dropped', () => {
  const resolved = resolveEndpoints({ graphEndpoint: 'https://graph.private.example/proxy/v1.0/' }, { ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: 'https://ignored.example' });
  assert.is(resolved.graphEndpoint, 'https://graph.private.example/proxy');
  assert.is(resolved.scope, 'https://graph.private.example/.default');
});

endpoints('AZURE_AUTHORITY_HOST :: overrides; instance discovery off only for a host that is not Microsoft\'s', () => {
  assert.is(resolveEndpoints({}, { AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/' }).disableInstanceDiscovery, false);
  const custom = resolveEndpoints({}, { AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9443' });
  assert.is(custom.authorityHost, 'https://127.0.0.1:9443');
  assert.is(custom.disableInstanceDiscovery, true);
  assert.is(resolveEndpoints({ authorityHost: 'https://login.example.org' }, { AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us' }).disableInstanceDiscovery, true);
});

endpoints('empty environment variables :: ignored', () => {
  assert.is(resolveEndpoints({}, { ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: '', AZURE_AUTHORITY_HOST: ' ' }).graphEndpoint, 'https://graph.microsoft.com');
});

const BAD: [string, Parameters<typeof resolveEndpoints>[0], NodeJS.ProcessEnv, RegExp][] = [
  ['plain http', { graphEndpoint: 'http://graph.microsoft.com' }, {}, /must use https:\/\//],
  ['not a URL', {}, { ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: 'graph.microsoft.com' }, /is not a URL/],
  ['credentials in the URL', { graphEndpoint: 'https://user:pw@graph.example' }, {}, /must not carry credentials/],
  ['a query', { graphEndpoint: 'https://graph.example/?x=1' }, {}, /a query/],
  ['an authority with a path', {}, { AZURE_AUTHORITY_HOST: 'https://login.example/tenant' }, /must be an origin/],
  ['an unknown cloud', { cloud: 'azure-germany' as Cloud }, {}, /unknown cloud "azure-germany"; known clouds are public, usgov, usgov-dod, china/],
];
for (const [name, options, env, message] of BAD) {
  endpoints(`refused :: ${name}`, () => {
    assert.throws(() => resolveEndpoints(options, env), (error: unknown) => error instanceof DirectoryConfigError && message.test(error.message));
  });
}

// ---------------------------------------------------------------------------------------------------------------
const choice = suite('credentials :: which credential');

const MICROSOFT = { authorityHost: 'https://login.microsoftonline.com', disableInstanceDiscovery: false };
const IDS = { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID };

choice('nothing configured :: undefined (existence is then not checked)', () => {
  assert.is(credentialFromEnvironment(MICROSOFT, {}), undefined);
  assert.is(credentialFromEnvironment(MICROSOFT, IDS), undefined);
});

choice('AZURE_FEDERATED_TOKEN_FILE :: workload identity, even with a client secret present', () => {
  const chosen = credentialFromEnvironment(MICROSOFT, { ...IDS, AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token', AZURE_CLIENT_SECRET: 'x' });
  assert.is(chosen?.kind, 'workload-identity');
  assert.instance(chosen?.credential, WorkloadIdentityCredential);
  assert.match(chosen?.description ?? '', /workload identity \(client 3b9a1c2d-.*token file \/var\/run\/secrets/);
});

choice('AZURE_CLIENT_SECRET :: client secret; the secret is not in the description', () => {
  const chosen = credentialFromEnvironment(MICROSOFT, { ...IDS, AZURE_CLIENT_SECRET: CLIENT_SECRET });
  assert.is(chosen?.kind, 'client-secret');
  assert.instance(chosen?.credential, ClientSecretCredential);
  assert.not.ok(chosen?.description.includes(CLIENT_SECRET));
});

choice('managed identity :: only when asked, user-assigned with AZURE_CLIENT_ID', () => {
  assert.is(credentialFromEnvironment(MICROSOFT, {}), undefined);
  const system = credentialFromEnvironment({ ...MICROSOFT, managedIdentity: true }, {});
  assert.is(system?.kind, 'managed-identity');
  assert.instance(system?.credential, ManagedIdentityCredential);
  assert.is(system?.description, 'system-assigned managed identity');
  assert.is(credentialFromEnvironment({ ...MICROSOFT, managedIdentity: true }, { AZURE_CLIENT_ID: CLIENT_ID })?.description, `managed identity (client ${CLIENT_ID})`);
});

choice('half-configured :: an error naming what is missing', () => {
  assert.throws(
    () => credentialFromEnvironment(MICROSOFT, { AZURE_FEDERATED_TOKEN_FILE: '/token' }),
    (error: unknown) => error instanceof DirectoryConfigError && /AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID and AZURE_CLIENT_ID are not/.test(error.message),
  );
  assert.throws(
    () => credentialFromEnvironment(MICROSOFT, { AZURE_CLIENT_SECRET: 'x', AZURE_TENANT_ID: TENANT_ID }),
    (error: unknown) => error instanceof DirectoryConfigError && /AZURE_CLIENT_SECRET is set but AZURE_CLIENT_ID is not/.test(error.message),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// The real @azure/identity against the loopback Entra token endpoint.
const tokens = suite<{ fakes: Fakes }>('credentials :: tokens from the Entra fake', {} as { fakes: Fakes });
tokens.before(async (context) => {
  context.fakes = await startFakes();
});
tokens.after(async (context) => {
  await context.fakes.close();
});
tokens.before.each((context) => {
  context.fakes.entra.mode = 'ok';
  context.fakes.entra.requests.length = 0;
  context.fakes.entra.tokenRequests.length = 0;
});

function fromEnv(env: NodeJS.ProcessEnv) {
  const resolved = resolveEndpoints({}, env);
  const chosen = credentialFromEnvironment(resolved, env);
  if (!chosen) throw new Error('no credential');
  return { chosen, scope: resolved.scope };
}

tokens('workload identity :: the federated token file is the client assertion; token issued', async ({ fakes }) => {
  const { chosen, scope } = fromEnv(fakes.env);
  const token = await within(10_000, chosen.credential.getToken(scope));
  assert.is(token?.token, fakes.entra.accessToken);
  const [request] = fakes.entra.tokenRequests;
  assert.is(fakes.entra.tokenRequests.length, 1);
  assert.is(request?.clientAssertion, FEDERATED_TOKEN);
  assert.is(request?.clientAssertionType, JWT_BEARER_ASSERTION_TYPE);
  assert.is(request?.clientId, CLIENT_ID);
  assert.is(request?.tenant, TENANT_ID);
  assert.is(request?.scope, scope);
  assert.is(request?.usedClientSecret, false);
  assert.equal(
    fakes.entra.requests.map((r) => `${r.method} ${r.path}`),
    [`GET /${TENANT_ID}/v2.0/.well-known/openid-configuration`, `POST /${TENANT_ID}/oauth2/v2.0/token`],
    'only the OpenID configuration and the token endpoint: no instance discovery',
  );
});

tokens('workload identity :: a token file the fake does not expect is refused (the fake checks what arrived)', async ({ fakes }) => {
  const wrongFile = join(fakes.directory, 'another-token');
  await writeFile(wrongFile, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3RoZXI6b3RoZXIifQ.c2ln');
  const { chosen, scope } = fromEnv({ ...fakes.env, AZURE_FEDERATED_TOKEN_FILE: wrongFile });
  await within(10_000, chosen.credential.getToken(scope)).then(
    () => assert.unreachable('a token was issued for the wrong assertion'),
    (error: Error) => assert.match(error.message, /AADSTS700213|invalid_client/),
  );
  assert.is(fakes.entra.tokenRequests.at(-1)?.issued, false);
  assert.is.not(fakes.entra.tokenRequests.at(-1)?.clientAssertion, FEDERATED_TOKEN);
});

tokens('client secret :: token issued', async ({ fakes }) => {
  const { AZURE_FEDERATED_TOKEN_FILE: _file, ...rest } = fakes.env;
  const { chosen, scope } = fromEnv({ ...rest, AZURE_CLIENT_SECRET: CLIENT_SECRET });
  const token = await within(10_000, chosen.credential.getToken(scope));
  assert.is(token?.token, fakes.entra.accessToken);
  assert.ok(fakes.entra.tokenRequests.at(-1)?.usedClientSecret);
  assert.is(fakes.entra.tokenRequests.at(-1)?.clientAssertion, undefined);
});

tokens('client secret :: a wrong secret is invalid_client', async ({ fakes }) => {
  const { AZURE_FEDERATED_TOKEN_FILE: _file, ...rest } = fakes.env;
  const { chosen, scope } = fromEnv({ ...rest, AZURE_CLIENT_SECRET: 'not-the-secret' });
  await within(10_000, chosen.credential.getToken(scope)).then(
    () => assert.unreachable('a token was issued for a wrong secret'),
    (error: Error) => assert.match(error.message, /invalid_client/),
  );
});

endpoints.run();
choice.run();
tokens.run();
