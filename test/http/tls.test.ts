/**
 * The webhook over a real HTTPS socket on 127.0.0.1: clients trust only the generated CA, as the API server trusts
 * only the caBundle. Then certificate rotation as serve wires it: watchKeyPair feeding app.server.setSecureContext.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer, type ServerDependencies, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned, loadKeyPair, watchKeyPair, type KeyPair } from '../../src/http/tls.ts';
import type { Policy } from '../../src/policy/model.ts';
import { RECORDED_REVIEWS, policyWith, recordedReview } from '../helpers.ts';

/** Two unrelated CAs, each with a server certificate for 127.0.0.1, ::1 and localhost. */
const FIRST = await generateSelfSigned();
const SECOND = await generateSelfSigned();

type Json = Record<string, any>;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** What the server presented, and the protocol agreed. */
  readonly peer: { readonly subjectaltname: string | undefined; readonly protocol: string | null };
}

interface CallOptions {
  readonly ca?: string | undefined;
  readonly method?: string;
  readonly path?: string;
  readonly body?: string;
  readonly servername?: string;
  readonly timeoutMs?: number;
}

/**
 * One request on a new TLS connection (agent: false: no keep-alive, no session reuse), trusting only `ca`.
 * Rejects on a handshake failure, and after `timeoutMs` at the latest.
 */
function httpsCall(port: number, { ca, method = 'POST', path = '/validate', body, servername, timeoutMs = 5000 }: CallOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        ...(ca === undefined ? {} : { ca }),
        ...(servername === undefined ? {} : { servername }),
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = { subjectaltname: socket.getPeerCertificate?.().subjectaltname, protocol: socket.getProtocol?.() ?? null };
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), peer }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The error a call ends with, or undefined when it succeeded. */
async function callError(port: number, options: CallOptions): Promise<(Error & { code?: string }) | undefined> {
  try {
    await httpsCall(port, options);
    return undefined;
  } catch (error) {
    return error as Error & { code?: string };
  }
}

function fixtureText(file: string): string {
  return readFileSync(`${RECORDED_REVIEWS}${file}`, 'utf8');
}

async function listen(deps: Omit<ServerDependencies, 'currentPolicy'> & { currentPolicy?: () => Policy }): Promise<{ app: WebhookServer; port: number }> {
  const app = buildServer({ currentPolicy: () => policyWith(), ...deps });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await app.close();
    throw error;
  }
  return { app, port: (app.server.address() as AddressInfo).port };
}

/** Polls `check` every 50 ms until it returns true; false after `timeoutMs`. */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

function reviewOf(answer: Answer, request: Json): Json {
  assert.is(answer.status, 200, answer.body);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  const review = JSON.parse(answer.body) as Json;
  assert.is(review['apiVersion'], 'admission.k8s.io/v1');
  assert.is(review['kind'], 'AdmissionReview');
  assert.is(review['response']['uid'], request['request']['uid'], 'uid echoed');
  return review['response'] as Json;
}

// ---------------------------------------------------------------------------------------------------------------

const Https = suite('https: the webhook on a real TLS socket', { app: undefined as WebhookServer | undefined, port: 0, policy: policyWith() as Policy });

Https.before(async (context) => {
  const started = await listen({ tls: FIRST, currentPolicy: () => context.policy });
  context.app = started.app;
  context.port = started.port;
});

Https.after(async (context) => {
  await context.app?.close();
});

Https.after.each((context) => {
  context.policy = policyWith();
});

Https('https :: fixture 02 (User subject) :: denied 403 Forbidden with the rule in the message', async ({ port }) => {
  const file = '02-CREATE-RoleBinding-carol-admin.json';
  const response = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], false);
  assert.is(response['status']['code'], 403);
  assert.is(response['status']['reason'], 'Forbidden');
  assert.match(response['status']['message'], /binds User "carol@fabrikam\.com" directly \[user-subject\]/);
  assert.is(response['auditAnnotations']['decision'], 'denied');
});

Https('https :: fixture 01 (Group by object ID) :: allowed, no status', async ({ port }) => {
  const file = '01-CREATE-RoleBinding-payments-viewers.json';
  const response = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], true);
  assert.is(response['status'], undefined);
});

Https('https :: fixture 05 (UPDATE keeping a User) :: allowed with the violation as a warning', async ({ port }) => {
  const file = '05-UPDATE-RoleBinding-carol-admin.json';
  const response = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], true);
  assert.is(response['warnings'].length, 1);
  assert.match(response['warnings'][0], /^Not denied because it was already there before this update: .*\[user-subject\]/);
  assert.is(response['auditAnnotations']['decision'], 'allowed-with-violations');
});

Https('https :: fixture 04 (UPDATE adding a ServiceAccount) :: allowed', async ({ port }) => {
  const file = '04-UPDATE-RoleBinding-payments-viewers.json';
  const response = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], true);
  assert.is(response['auditAnnotations'], undefined);
});

Https('https :: fixture 09 (DELETE of a User binding) :: allowed', async ({ port }) => {
  const file = '09-DELETE-RoleBinding-carol-admin.json';
  const response = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], true);
  assert.is(response['warnings'], undefined);
  assert.is(response['status'], undefined);
});

Https('https :: fixture 03 (dry-run) :: the same decision as the same review without dryRun', async ({ port }) => {
  const file = '03-CREATE-RoleBinding-team-by-name.json';
  const dryRun = recordedReview(file);
  assert.is(dryRun['request']['dryRun'], true, 'the recording is a server-side dry run');
  const real = recordedReview(file);
  real['request']['dryRun'] = false;
  const dryAnswer = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: JSON.stringify(dryRun) }), dryRun);
  const realAnswer = reviewOf(await httpsCall(port, { ca: FIRST.ca, body: JSON.stringify(real) }), real);
  assert.is(dryAnswer['allowed'], false);
  assert.match(dryAnswer['status']['message'], /\[group-format\]/);
  assert.equal(dryAnswer, realAnswer);
});

Https('https :: uid echo :: a new uid in a recorded review comes back unchanged', async ({ port }) => {
  for (const file of ['01-CREATE-RoleBinding-payments-viewers.json', '02-CREATE-RoleBinding-carol-admin.json', '09-DELETE-RoleBinding-carol-admin.json']) {
    const review = recordedReview(file);
    review['request']['uid'] = randomUUID();
    reviewOf(await httpsCall(port, { ca: FIRST.ca, body: JSON.stringify(review) }), review);
  }
});

Https('https :: audit mode :: the denial of fixture 02 becomes allowed with warnings', async (context) => {
  context.policy = policyWith({ mode: 'audit' });
  const file = '02-CREATE-RoleBinding-carol-admin.json';
  const response = reviewOf(await httpsCall(context.port, { ca: FIRST.ca, body: fixtureText(file) }), recordedReview(file));
  assert.is(response['allowed'], true);
  assert.is(response['status'], undefined);
  assert.match(response['warnings'][0], /^Not denied because the policy is in audit mode: .*\[user-subject\]/);
  assert.is(response['auditAnnotations']['decision'], 'allowed-with-violations');
});

Https('https :: health over TLS :: /healthz 200, unknown route 404 JSON', async ({ port }) => {
  const health = await httpsCall(port, { ca: FIRST.ca, method: 'GET', path: '/healthz' });
  assert.is(health.status, 200);
  assert.equal(JSON.parse(health.body), { status: 'ok' });
  const missing = await httpsCall(port, { ca: FIRST.ca, method: 'GET', path: '/nope' });
  assert.is(missing.status, 404);
  assert.is(JSON.parse(missing.body)['code'], 'ERB_NOT_FOUND');
});

Https('https :: server certificate :: verifies for 127.0.0.1 and localhost by subjectAltName, TLS 1.2 or later', async ({ port }) => {
  const byIp = await httpsCall(port, { ca: FIRST.ca, method: 'GET', path: '/healthz' });
  assert.is(byIp.status, 200);
  assert.match(String(byIp.peer.subjectaltname), /IP Address:127\.0\.0\.1/);
  assert.match(String(byIp.peer.subjectaltname), /DNS:localhost/);
  assert.ok(byIp.peer.protocol === 'TLSv1.2' || byIp.peer.protocol === 'TLSv1.3', `protocol ${byIp.peer.protocol}`);
  const byName = await httpsCall(port, { ca: FIRST.ca, method: 'GET', path: '/healthz', servername: 'localhost' });
  assert.is(byName.status, 200);
});

Https('https :: a name the certificate does not carry :: rejected by the client', async ({ port }) => {
  const error = await callError(port, { ca: FIRST.ca, method: 'GET', path: '/healthz', servername: 'webhook.example.com' });
  assert.ok(error, 'the handshake should fail');
  assert.is(error!.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

Https('https :: a client that does not trust the CA :: handshake fails, no review answered', async ({ port }) => {
  const body = fixtureText('02-CREATE-RoleBinding-carol-admin.json');
  for (const [who, ca] of [
    ['system roots only', undefined],
    ['another CA', SECOND.ca],
  ] as const) {
    const error = await callError(port, { ca, body });
    assert.ok(error, `${who}: the request should fail`);
    assert.match(String(error!.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/, `${who}: ${error!.code} ${error!.message}`);
  }
});

Https('https :: plain HTTP to the TLS port :: no AdmissionReview comes back', async ({ port }) => {
  const body = fixtureText('02-CREATE-RoleBinding-carol-admin.json');
  const outcome = await new Promise<{ error?: Error; status?: number; body?: string }>((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/validate', agent: false, headers: { 'content-type': 'application/json' }, timeout: 3000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => resolve({ error }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 3000 ms')));
    req.on('error', (error) => resolve({ error }));
    req.end(body);
  });
  if (outcome.error) {
    assert.not.match(outcome.error.message, /no answer within/, 'the server should drop the connection, not leave it hanging');
  } else {
    assert.not.match(String(outcome.body), /AdmissionReview/);
    assert.ok(outcome.status !== 200, `plain HTTP got ${outcome.status}`);
  }
  // And the TLS port still serves TLS clients afterwards.
  assert.is((await httpsCall(port, { ca: FIRST.ca, method: 'GET', path: '/healthz' })).status, 200);
});

Https.run();

// ---------------------------------------------------------------------------------------------------------------

const Rotation = suite('https: certificate rotation (watchKeyPair + setSecureContext)');

interface Rotating {
  readonly app: WebhookServer;
  readonly port: number;
  readonly certPath: string;
  readonly keyPath: string;
  readonly errors: Error[];
  readonly reloads: KeyPair[];
}

/** Files on disk, a server started from them, and the watcher wired as serve wires it. Always torn down. */
async function withRotatingServer(fn: (server: Rotating) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'erg-tls-'));
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  await writeFile(keyPath, FIRST.key, { mode: 0o600 });
  await writeFile(certPath, FIRST.cert);
  let app: WebhookServer | undefined;
  let stop: (() => void) | undefined;
  try {
    const started = await listen({ tls: await loadKeyPair(certPath, keyPath) });
    app = started.app;
    const errors: Error[] = [];
    const reloads: KeyPair[] = [];
    const server = started.app;
    stop = watchKeyPair(
      certPath,
      keyPath,
      (next) => {
        reloads.push(next);
        server.server.setSecureContext({ key: next.key, cert: next.cert });
      },
      (error) => errors.push(error),
      100,
    );
    // Let the watcher take its first look before anything changes.
    await new Promise((resolve) => setTimeout(resolve, 250));
    await fn({ app: started.app, port: started.port, certPath, keyPath, errors, reloads });
  } finally {
    stop?.();
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Replaces both files the way a Secret volume update does: each written aside, then renamed into place. */
async function rotateTo(server: Rotating, pair: KeyPair): Promise<void> {
  await writeFile(`${server.keyPath}.new`, pair.key, { mode: 0o600 });
  await writeFile(`${server.certPath}.new`, pair.cert);
  await rename(`${server.keyPath}.new`, server.keyPath);
  await rename(`${server.certPath}.new`, server.certPath);
}

const trusts = (port: number, ca: string) => async () => (await callError(port, { ca, method: 'GET', path: '/healthz', timeoutMs: 2000 })) === undefined;

Rotation('rotation :: files rotated to a pair from another CA :: new connections verify with the new CA and not the old', async () => {
  await withRotatingServer(async (server) => {
    assert.ok(await trusts(server.port, FIRST.ca)(), 'serves the first certificate at start');
    assert.not.ok(await trusts(server.port, SECOND.ca)(), 'the second CA does not verify the first certificate');
    await rotateTo(server, SECOND);
    assert.ok(await eventually(trusts(server.port, SECOND.ca), 5000), 'a new connection should verify with the new CA');
    assert.not.ok(await trusts(server.port, FIRST.ca)(), 'the old CA must no longer verify');
    assert.ok(server.reloads.length >= 1);
    assert.is(server.reloads.at(-1)!.cert, SECOND.cert);
    const file = '02-CREATE-RoleBinding-carol-admin.json';
    const response = reviewOf(await httpsCall(server.port, { ca: SECOND.ca, body: fixtureText(file) }), recordedReview(file));
    assert.is(response['allowed'], false, 'still judging after the rotation');
  });
});

Rotation('rotation :: garbage written to the certificate file :: reported through onError, previous certificate keeps serving', async () => {
  await withRotatingServer(async (server) => {
    assert.ok(await trusts(server.port, FIRST.ca)());
    await writeFile(server.certPath, 'this is not a PEM certificate\n');
    assert.ok(await eventually(() => server.errors.length > 0, 5000), 'the broken file should be reported through onError');
    assert.equal(server.reloads, [], 'nothing was loaded');
    assert.ok(await trusts(server.port, FIRST.ca)(), 'the previous certificate keeps serving');
    assert.not.ok(await trusts(server.port, SECOND.ca)());
    // A good pair written afterwards is picked up.
    await rotateTo(server, SECOND);
    assert.ok(await eventually(trusts(server.port, SECOND.ca), 5000), 'recovers when a valid pair arrives');
  });
});

Rotation('rotation :: a certificate whose key does not match :: reported through onError, previous certificate keeps serving', async () => {
  await withRotatingServer(async (server) => {
    await writeFile(server.certPath, SECOND.cert);
    assert.ok(await eventually(() => server.errors.length > 0, 5000), 'the mismatched pair should be reported through onError');
    assert.match(server.errors[0]!.message, /key|mismatch/i);
    assert.equal(server.reloads, []);
    assert.ok(await trusts(server.port, FIRST.ca)(), 'the previous certificate keeps serving');
  });
});

Rotation.run();
