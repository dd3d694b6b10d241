/**
 * The webhook over Fastify's inject() (no socket): recorded AdmissionReviews in, AdmissionReviews out; every kind of
 * bad input answered 4xx with a JSON error; the dependencies (policy, readiness, directory) read as documented.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Directory } from '../../src/directory/port.ts';
import { BODY_LIMIT_BYTES, buildServer, type ServerDependencies, type WebhookServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { lookupDeadlineMs } from '../../src/http/validate-route.ts';
import type { GroupFact } from '../../src/policy/facts.ts';
import type { Policy } from '../../src/policy/model.ts';
import { ADMIN_GROUP_ID, GROUP_ID, M365_GROUP, SECURITY_GROUP, RECORDED_REVIEWS, policyWith, recordedReview } from '../helpers.ts';

/** One self-signed pair for every server of this file: inject() never uses it, but buildServer needs one. */
const TLS = await generateSelfSigned();

const ENFORCE = policyWith();
const AUDIT = policyWith({ mode: 'audit' });
const NOT_CHECKED_NOTE = `Group "${GROUP_ID}" not checked in Microsoft Entra ID: no directory is configured (give --directory FILE or Graph credentials)`;
const UNKNOWN_GROUP_ID = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
const M365_GROUP_ID = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';

type Json = Record<string, any>;

function build(overrides: Partial<ServerDependencies> = {}): WebhookServer {
  return buildServer({ tls: TLS, currentPolicy: () => ENFORCE, ...overrides });
}

/** Runs `fn` against a fresh server and always closes it. */
async function withServer<T>(overrides: Partial<ServerDependencies>, fn: (app: WebhookServer) => Promise<T>): Promise<T> {
  const app = build(overrides);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

function fixtureText(file: string): string {
  return readFileSync(`${RECORDED_REVIEWS}${file}`, 'utf8');
}

async function postReview(app: WebhookServer, body: string | Json, query = '') {
  return app.inject({
    method: 'POST',
    url: `/validate${query}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A well-formed AdmissionReview answer to `request`: the uid echoed, only the fields the API server knows. */
function assertReviewAnswer(res: { statusCode: number; headers: Record<string, unknown>; body: string }, request: Json): Json {
  assert.is(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const review = JSON.parse(res.body) as Json;
  assert.is(review['apiVersion'], 'admission.k8s.io/v1');
  assert.is(review['kind'], 'AdmissionReview');
  assert.equal(Object.keys(review).sort(), ['apiVersion', 'kind', 'response']);
  const response = review['response'] as Json;
  assert.is(response['uid'], request['request']['uid'], 'request.uid must be echoed');
  for (const key of Object.keys(response)) {
    assert.ok(['uid', 'allowed', 'status', 'warnings', 'auditAnnotations'].includes(key), `unexpected response field ${key}`);
  }
  assert.type(response['allowed'], 'boolean');
  if (response['allowed']) assert.is(response['status'], undefined, 'an allowed review carries no status');
  for (const warning of response['warnings'] ?? []) {
    assert.type(warning, 'string');
    assert.not.match(warning, /[\n\r]/, 'the API server drops a warning with a newline');
    assert.ok([...warning].length <= 256, 'the API server drops a warning over 256 characters');
  }
  return response;
}

function assertDenied(response: Json, rules: readonly string[]): void {
  assert.is(response['allowed'], false);
  assert.equal(Object.keys(response['status']).sort(), ['code', 'message', 'reason']);
  assert.is(response['status']['code'], 403);
  assert.is(response['status']['reason'], 'Forbidden');
  const lines = String(response['status']['message']).split('\n');
  assert.equal(
    lines.map((line) => /\[([a-z-]+)\]/.exec(line)?.[1]),
    [...rules],
    'one line of the 403 message per denied violation, each naming its rule',
  );
  assert.is(response['auditAnnotations']?.['decision'], 'denied');
  for (const rule of rules) assert.match(String(response['auditAnnotations'][rule]), /^deny: /);
}

// ---------------------------------------------------------------------------------------------------------------

interface Expectation {
  readonly test: string;
  readonly allowed: boolean;
  /** Denied rules, in order (one line of status.message each). */
  readonly denied?: readonly string[];
  /** Parts of the 403 message. */
  readonly message?: readonly RegExp[];
  /** The warnings exactly, each as a pattern. */
  readonly warnings: readonly RegExp[];
  /** auditAnnotations.decision, or undefined when there must be no annotations. */
  readonly decision?: 'denied' | 'allowed-with-violations';
}

const escape = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** What the enforce policy (no directory) answers to each recorded review. */
const EXPECTED: Readonly<Record<string, Expectation>> = {
  '01-CREATE-RoleBinding-payments-viewers.json': {
    test: 'Group by object ID :: allowed, with the no-directory note as a warning',
    allowed: true,
    warnings: [escape(NOT_CHECKED_NOTE)],
  },
  '02-CREATE-RoleBinding-carol-admin.json': {
    test: 'User subject :: denied 403 user-subject',
    allowed: false,
    denied: ['user-subject'],
    message: [/^RoleBinding payments\/carol-admin binds User "carol@fabrikam\.com" directly \[user-subject\]: bind a Microsoft Entra group/],
    warnings: [],
    decision: 'denied',
  },
  '03-CREATE-RoleBinding-team-by-name.json': {
    test: 'dry-run, Group by display name :: denied 403 group-format (dry-run decides the same)',
    allowed: false,
    denied: ['group-format'],
    message: [/binds Group "Payments Team" \[group-format\]: a display name never matches/],
    warnings: [],
    decision: 'denied',
  },
  '04-UPDATE-RoleBinding-payments-viewers.json': {
    test: 'UPDATE adding a ServiceAccount :: allowed with the no-directory note',
    allowed: true,
    warnings: [escape(NOT_CHECKED_NOTE)],
  },
  '05-UPDATE-RoleBinding-carol-admin.json': {
    test: 'UPDATE of an object that already binds a User :: allowed, the violation as a warning',
    allowed: true,
    warnings: [/^Not denied because it was already there before this update: RoleBinding payments\/carol-admin binds User "carol@fabrikam\.com" directly \[user-subject\]: /],
    decision: 'allowed-with-violations',
  },
  '06-CREATE-ClusterRoleBinding-payments-cluster-admin.json': {
    test: 'cluster-admin to a group outside adminGroups :: denied 403 cluster-admin',
    allowed: false,
    denied: ['cluster-admin'],
    message: [/^ClusterRoleBinding payments-cluster-admin grants cluster-admin to Group "5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d" \[cluster-admin\]/],
    warnings: [escape(NOT_CHECKED_NOTE)],
    decision: 'denied',
  },
  '07-CREATE-ClusterRoleBinding-everyone-view.json': {
    test: 'system:authenticated :: denied 403 broad-group',
    allowed: false,
    denied: ['broad-group'],
    message: [/^ClusterRoleBinding everyone-view binds Group "system:authenticated" \[broad-group\]/],
    warnings: [],
    decision: 'denied',
  },
  '08-CREATE-ClusterRole-payments-reader.json': {
    test: 'a ClusterRole (RBAC, not a binding) :: allowed silently',
    allowed: true,
    warnings: [],
  },
  '09-DELETE-RoleBinding-carol-admin.json': {
    test: 'DELETE of a binding that binds a User :: allowed (access can always be removed)',
    allowed: true,
    warnings: [],
  },
};

const Recorded = suite('validate: recorded AdmissionReviews');

Recorded('validate :: recorded fixtures :: every one has an expectation here', () => {
  const files = readdirSync(RECORDED_REVIEWS).filter((file) => file.endsWith('.json')).sort();
  assert.equal(files, Object.keys(EXPECTED).sort());
});

for (const [file, expected] of Object.entries(EXPECTED)) {
  Recorded(`validate :: ${file.replace(/\.json$/, '')} :: ${expected.test}`, async () => {
    const request = recordedReview(file);
    await withServer({}, async (app) => {
      const response = assertReviewAnswer(await postReview(app, fixtureText(file), '?timeout=10s'), request);
      assert.is(response['allowed'], expected.allowed);
      if (expected.denied) assertDenied(response, expected.denied);
      for (const pattern of expected.message ?? []) assert.match(response['status']['message'], pattern);
      const warnings: string[] = response['warnings'] ?? [];
      assert.is(warnings.length, expected.warnings.length, `warnings: ${JSON.stringify(warnings)}`);
      expected.warnings.forEach((pattern, index) => assert.match(warnings[index]!, pattern));
      if (expected.decision === undefined) assert.is(response['auditAnnotations'], undefined);
      else assert.is(response['auditAnnotations']['decision'], expected.decision);
    });
  });
}

Recorded('validate :: fixture 05 (UPDATE, pre-existing violation) :: audit annotation says warn, not deny', async () => {
  await withServer({}, async (app) => {
    const response = assertReviewAnswer(await postReview(app, fixtureText('05-UPDATE-RoleBinding-carol-admin.json')), recordedReview('05-UPDATE-RoleBinding-carol-admin.json'));
    assert.match(response['auditAnnotations']['user-subject'], /^warn: RoleBinding payments\/carol-admin binds User "carol@fabrikam\.com"/);
  });
});

Recorded('validate :: the same review twice on one server :: the same answer (no state kept between requests)', async () => {
  await withServer({}, async (app) => {
    const first = await postReview(app, fixtureText('02-CREATE-RoleBinding-carol-admin.json'));
    const second = await postReview(app, fixtureText('02-CREATE-RoleBinding-carol-admin.json'));
    assert.is(first.statusCode, 200);
    assert.is(second.body, first.body);
  });
});

Recorded('validate :: UPDATE with object and oldObject of 3 MiB each :: accepted under BODY_LIMIT_BYTES and judged', async () => {
  const review = recordedReview('04-UPDATE-RoleBinding-payments-viewers.json');
  const padding = 'x'.repeat(3 * 1024 * 1024 - 4096);
  review['request']['object']['metadata']['annotations'] = { 'example.com/padding': padding };
  review['request']['oldObject']['metadata']['annotations'] = { 'example.com/padding': padding };
  const body = JSON.stringify(review);
  assert.ok(body.length > 6_000_000 && body.length < BODY_LIMIT_BYTES, `body is ${body.length} bytes`);
  await withServer({}, async (app) => {
    const response = assertReviewAnswer(await postReview(app, body), review);
    assert.is(response['allowed'], true);
  });
});

Recorded.run();

// ---------------------------------------------------------------------------------------------------------------

const BadInput = suite('validate: bad input');

/** A JSON error as handleError writes it: the HTTP status repeated, a code, a reason and a message; never a stack. */
function assertJsonError(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number): Json {
  assert.is(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assertNoLeak(res.body);
  const error = JSON.parse(res.body) as Json;
  assert.equal(Object.keys(error).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.is(error['statusCode'], status);
  assert.type(error['code'], 'string');
  assert.type(error['message'], 'string');
  assert.ok(error['message'].length > 10, 'the message says what is wrong');
  return error;
}

function assertNoLeak(body: string): void {
  assert.not.match(body, /\n\s+at /, 'a stack trace leaked');
  assert.not.match(body, /"stack"/, 'a stack trace leaked');
  assert.not.match(body, /node_modules|\/src\/|\.ts:\d+/, 'a source path leaked');
}

function mutated(file: string, change: (review: Json) => void): Json {
  const review = recordedReview(file);
  change(review);
  return review;
}

const CAROL = '02-CREATE-RoleBinding-carol-admin.json';

BadInput('validate :: body not JSON :: 400 naming the problem', async () => {
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, '{"apiVersion": "admission.k8s.io/v1", kind: AdmissionReview}'), 400);
    assert.match(error['message'], /not valid JSON/i);
    assert.match(error['message'], /send the AdmissionReview as JSON/, 'the transport hint tells the caller what to do');
  });
});

BadInput('validate :: truncated JSON (half a recorded review) :: 400', async () => {
  const text = fixtureText(CAROL);
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, text.slice(0, Math.floor(text.length / 2))), 400);
    assert.match(error['message'], /not valid JSON/i);
  });
});

BadInput('validate :: empty body :: 400 saying it is empty', async () => {
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, ''), 400);
    assert.match(error['message'], /empty/);
  });
});

BadInput('validate :: text/plain, form-urlencoded or no Content-Type :: 415', async () => {
  await withServer({}, async (app) => {
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, {}] as Record<string, string>[]) {
      const res = await app.inject({ method: 'POST', url: '/validate', headers, payload: Buffer.from(fixtureText(CAROL)) });
      const error = assertJsonError(res, 415);
      assert.match(error['message'], /application\/json/, `for ${JSON.stringify(headers)}`);
      assert.is(error['error'], 'Unsupported Media Type');
    }
  });
});

BadInput('validate :: application/json with a charset :: accepted', async () => {
  await withServer({}, async (app) => {
    const res = await app.inject({
      method: 'POST',
      url: '/validate',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: fixtureText(CAROL),
    });
    assert.is(assertReviewAnswer(res, recordedReview(CAROL))['allowed'], false);
  });
});

BadInput('validate :: body over limit :: 413', async () => {
  const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","padding":"${'x'.repeat(BODY_LIMIT_BYTES)}"}`;
  assert.ok(Buffer.byteLength(body) > BODY_LIMIT_BYTES);
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, body), 413);
    assert.is(error['error'], 'Payload Too Large');
    assert.match(error['message'], /larger than the webhook accepts/);
  });
});

BadInput('validate :: __proto__ key (top level or nested) :: 400, nothing polluted', async () => {
  const text = fixtureText(CAROL);
  const topLevel = text.replace('"kind": "AdmissionReview",', '"kind": "AdmissionReview", "__proto__": {"polluted": "yes"},');
  const nested = text.replace('"name": "carol-admin",\n    "namespace": "payments",', '"name": "carol-admin", "namespace": "payments", "__proto__": {"polluted": "yes"},');
  assert.ok(topLevel !== text && nested !== text, 'the fixture text was changed');
  await withServer({}, async (app) => {
    for (const body of [topLevel, nested]) {
      assertJsonError(await postReview(app, body), 400);
    }
  });
  assert.is(({} as Json)['polluted'], undefined);
});

BadInput('validate :: constructor.prototype key :: 400', async () => {
  await withServer({}, async (app) => {
    const text = fixtureText(CAROL).replace('"kind": "AdmissionReview",', '"kind": "AdmissionReview", "constructor": {"prototype": {"polluted": "yes"}},');
    assertJsonError(await postReview(app, text), 400);
  });
});

BadInput('validate :: admission.k8s.io/v1beta1 review :: 400 telling to register v1', async () => {
  await withServer({}, async (app) => {
    const body = mutated(CAROL, (review) => (review['apiVersion'] = 'admission.k8s.io/v1beta1'));
    const error = assertJsonError(await postReview(app, body), 400);
    assert.match(error['message'], /admission\.k8s\.io\/v1beta1/);
    assert.match(error['message'], /admissionReviewVersions: \[v1\]/);
  });
});

BadInput('validate :: JSON that is not an AdmissionReview :: 400 with message', async () => {
  const bodies: [string, RegExp][] = [
    ['{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}', /expected admission\.k8s\.io\/v1 AdmissionReview, got v1 Pod/],
    ['{"hello":"world"}', /expected admission\.k8s\.io\/v1 AdmissionReview/],
    ['[1,2,3]', /body: must be an object, got an array/],
    ['"AdmissionReview"', /body: must be an object/],
    ['42', /body: must be an object/],
    ['null', /body: must be an object, got null/],
  ];
  await withServer({}, async (app) => {
    for (const [body, pattern] of bodies) {
      const error = assertJsonError(await postReview(app, body), 400);
      assert.is(error['code'], 'ERB_INVALID_REVIEW');
      assert.match(error['message'], /^Not a valid admission\.k8s\.io\/v1 AdmissionReview: /);
      assert.match(error['message'], pattern, `for ${body}`);
    }
  });
});

BadInput('validate :: no request.uid :: 400 naming request.uid', async () => {
  await withServer({}, async (app) => {
    const missing = assertJsonError(await postReview(app, mutated(CAROL, (review) => delete review['request']['uid'])), 400);
    assert.match(missing['message'], /request\.uid: is required/);
    const empty = assertJsonError(await postReview(app, mutated(CAROL, (review) => (review['request']['uid'] = ''))), 400);
    assert.match(empty['message'], /request\.uid: must not be empty/);
    const number = assertJsonError(await postReview(app, mutated(CAROL, (review) => (review['request']['uid'] = 7))), 400);
    assert.match(number['message'], /request\.uid: must be a string/);
  });
});

BadInput('validate :: object kind mismatching request.kind :: 400 naming both', async () => {
  await withServer({}, async (app) => {
    const object = assertJsonError(
      await postReview(app, mutated(CAROL, (review) => (review['request']['object']['kind'] = 'ClusterRoleBinding'))),
      400,
    );
    assert.match(object['message'], /request\.object\.kind: is string "ClusterRoleBinding" but request\.kind\.kind is "RoleBinding"/);
    const old = assertJsonError(
      await postReview(app, mutated('05-UPDATE-RoleBinding-carol-admin.json', (review) => (review['request']['oldObject']['kind'] = 'Secret'))),
      400,
    );
    assert.match(old['message'], /request\.oldObject\.kind/);
  });
});

BadInput('validate :: missing request or request.kind :: 400 with a readable type (not "undefined")', async () => {
  await withServer({}, async (app) => {
    const noRequest = assertJsonError(await postReview(app, mutated(CAROL, (review) => delete review['request'])), 400);
    assert.match(noRequest['message'], /request: must be an object/);
    const noKind = assertJsonError(await postReview(app, mutated(CAROL, (review) => delete review['request']['kind'])), 400);
    assert.match(noKind['message'], /request\.kind: must be an object/);
    for (const error of [noRequest, noKind]) assert.not.match(error['message'], /undefined/);
  });
});

BadInput('validate :: a binding whose subjects is a string :: 400 naming request.object.subjects', async () => {
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, mutated(CAROL, (review) => (review['request']['object']['subjects'] = 'carol'))), 400);
    assert.match(error['message'], /request\.object\.subjects: must be a list, got string "carol"/);
  });
});

BadInput('validate :: unknown operation :: 400', async () => {
  await withServer({}, async (app) => {
    const error = assertJsonError(await postReview(app, mutated(CAROL, (review) => (review['request']['operation'] = 'PATCH'))), 400);
    assert.match(error['message'], /request\.operation: must be one of CREATE, UPDATE, DELETE, CONNECT/);
  });
});

BadInput('routes :: unknown route :: 404 JSON naming the routes served', async () => {
  await withServer({}, async (app) => {
    const error = assertJsonError(await app.inject({ method: 'GET', url: '/mutate?x=1' }), 404);
    assert.is(error['code'], 'ERB_NOT_FOUND');
    assert.match(error['message'], /No route GET \/mutate/);
    assert.match(error['message'], /POST \/validate/);
    assertJsonError(await app.inject({ method: 'POST', url: '/', payload: {} }), 404);
  });
});

BadInput('routes :: GET /validate :: 404 or 405, never a review', async () => {
  await withServer({}, async (app) => {
    const res = await app.inject({ method: 'GET', url: '/validate' });
    assert.ok(res.statusCode === 404 || res.statusCode === 405, `got ${res.statusCode}`);
    assertJsonError(res, res.statusCode);
    assert.not.match(res.body, /AdmissionReview"/);
  });
});

BadInput('validate :: every bad input above, in one sweep :: never 500, always a JSON error without stack', async () => {
  const text = fixtureText(CAROL);
  const cases: { name: string; headers?: Record<string, string>; body: string; method?: 'POST' | 'GET' | 'PUT' | 'DELETE'; url?: string }[] = [
    { name: 'not json', body: 'not json at all' },
    { name: 'binary', body: '\u0000\u0001\u0002\u00ff' },
    { name: 'empty', body: '' },
    { name: 'text/plain', body: text, headers: { 'content-type': 'text/plain' } },
    { name: 'xml', body: '<AdmissionReview/>', headers: { 'content-type': 'application/xml' } },
    { name: 'proto', body: '{"__proto__":{"x":1}}' },
    { name: 'v1beta1', body: text.replace('admission.k8s.io/v1"', 'admission.k8s.io/v1beta1"') },
    { name: 'request is a list', body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]}' },
    { name: 'kind is a string', body: text.replace(/"kind": \{[^}]*\}/, '"kind": "RoleBinding"') },
    { name: 'groups not strings', body: text.replace('"system:masters",', '42,') },
    { name: 'subject without name', body: text.replace('"name": "carol@fabrikam.com"', '"nom": "carol"') },
    { name: 'subjects list of strings', body: text.replace(/"subjects": \[[^\]]*\]/, '"subjects": ["carol"]') },
    { name: 'roleRef null', body: text.replace(/"roleRef": \{[^}]*\}/, '"roleRef": null') },
    { name: 'metadata a list', body: JSON.stringify(mutated(CAROL, (review) => (review['request']['object']['metadata'] = [{ name: 'carol-admin' }]))) },
    { name: 'userInfo a string', body: JSON.stringify(mutated(CAROL, (review) => (review['request']['userInfo'] = 'admin'))) },
    { name: 'deep nesting', body: `${'['.repeat(5000)}${']'.repeat(5000)}` },
    { name: 'PUT /validate', body: text, method: 'PUT' },
    { name: 'DELETE /healthz', body: '', method: 'DELETE', url: '/healthz' },
  ];
  await withServer({}, async (app) => {
    for (const { name, headers, body, method, url } of cases) {
      const res = await app.inject({
        method: method ?? 'POST',
        url: url ?? '/validate',
        headers: headers ?? { 'content-type': 'application/json' },
        payload: body,
      });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: got ${res.statusCode} ${res.body}`);
      assertJsonError(res, res.statusCode);
    }
  });
});

BadInput('validate :: timeout query that is not N s (or repeated) :: still answered', async () => {
  await withServer({}, async (app) => {
    for (const query of ['?timeout=abc', '?timeout=1s&timeout=2s', '?timeout=', '?timeout=-5s', '?timeout=%zz', '?timeout[]=3s']) {
      const response = assertReviewAnswer(await postReview(app, fixtureText(CAROL), query), recordedReview(CAROL));
      assert.is(response['allowed'], false, query);
    }
  });
});

BadInput('validate :: the policy provider throws :: 500 with a generic message, no detail or stack', async () => {
  const currentPolicy = (): Policy => {
    throw new Error('cannot read /etc/secret/policy.yaml at Object.<anonymous> (/work/main/src/x.ts:1:1)');
  };
  await withServer({ currentPolicy }, async (app) => {
    const res = await postReview(app, fixtureText(CAROL));
    assert.is(res.statusCode, 500);
    assertNoLeak(res.body);
    const error = JSON.parse(res.body) as Json;
    assert.is(error['message'], 'internal error: see the webhook log');
    assert.not.match(res.body, /secret/);
  });
});

BadInput.run();

// ---------------------------------------------------------------------------------------------------------------

const Health = suite('health and readiness');

Health('healthz :: GET :: 200 ok', async () => {
  await withServer({}, async (app) => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.is(res.statusCode, 200);
    assert.equal(res.json(), { status: 'ok' });
  });
});

Health('readyz :: no readiness dependency :: 200 ready', async () => {
  await withServer({}, async (app) => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(res.statusCode, 200);
    assert.equal(res.json(), { status: 'ready' });
  });
});

Health('readyz :: readiness dependency read per request :: 200, then 503 when not ready, then 200 again', async () => {
  let ready = true;
  let calls = 0;
  const readiness = () => {
    calls++;
    return { ready, detail: { policy: 'policy.yaml', mode: 'enforce' } };
  };
  await withServer({ readiness }, async (app) => {
    const first = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(first.statusCode, 200);
    assert.equal(first.json(), { status: 'ready', policy: 'policy.yaml', mode: 'enforce' });
    ready = false;
    const second = await app.inject({ method: 'GET', url: '/readyz' });
    assert.is(second.statusCode, 503);
    assert.equal(second.json(), { status: 'not ready', policy: 'policy.yaml', mode: 'enforce' });
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.is(health.statusCode, 200, 'liveness does not follow readiness');
    ready = true;
    assert.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    assert.is(calls, 3);
  });
});

Health.run();

// ---------------------------------------------------------------------------------------------------------------

const Dependencies = suite('validate: policy and directory dependencies');

Dependencies('validate :: unknown kind (a Pod review) :: allowed with a warning naming the kind', async () => {
  const review = mutated(CAROL, (r) => {
    r['request']['kind'] = { group: '', version: 'v1', kind: 'Pod' };
    r['request']['resource'] = { group: '', version: 'v1', resource: 'pods' };
    r['request']['object'] = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'payments' }, spec: { containers: [] } };
  });
  const directory = recordingDirectory(() => new Map());
  await withServer({ directory }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, review), review);
    assert.is(response['allowed'], true);
    assert.equal(response['warnings'], ["entra-rbac-guard does not evaluate Pod: only RBAC objects; check the webhook's rules"]);
    assert.is(response['auditAnnotations'], undefined);
    assert.equal(directory.calls, [], 'a Pod needs no directory lookup');
  });
});

Dependencies('validate :: audit mode policy :: every denial becomes allowed with warnings and annotations', async () => {
  const enforcing = build();
  const auditing = build({ currentPolicy: () => AUDIT });
  try {
    for (const [file, rule] of [
      ['02-CREATE-RoleBinding-carol-admin.json', 'user-subject'],
      ['03-CREATE-RoleBinding-team-by-name.json', 'group-format'],
      ['06-CREATE-ClusterRoleBinding-payments-cluster-admin.json', 'cluster-admin'],
      ['07-CREATE-ClusterRoleBinding-everyone-view.json', 'broad-group'],
    ] as const) {
      const denied = assertReviewAnswer(await postReview(enforcing, fixtureText(file)), recordedReview(file));
      assertDenied(denied, [rule]);
      const response = assertReviewAnswer(await postReview(auditing, fixtureText(file)), recordedReview(file));
      assert.is(response['allowed'], true, file);
      assert.is(response['status'], undefined);
      // The denial message after the reason, cut to the API server's 256 characters when longer.
      const full = [...`Not denied because the policy is in audit mode: ${denied['status']['message']}`];
      const expected = full.length <= 256 ? full.join('') : `${full.slice(0, 255).join('')}…`;
      assert.is((response['warnings'] as string[])[0], expected, file);
      assert.is(response['auditAnnotations']['decision'], 'allowed-with-violations');
      assert.is(response['auditAnnotations'][rule], `warn: ${denied['status']['message']}`);
    }
  } finally {
    await Promise.all([enforcing.close(), auditing.close()]);
  }
});

Dependencies('validate :: currentPolicy switched between two requests :: the decision follows it', async () => {
  let policy: Policy = ENFORCE;
  let reads = 0;
  const currentPolicy = () => {
    reads++;
    return policy;
  };
  await withServer({ currentPolicy }, async (app) => {
    const enforced = assertReviewAnswer(await postReview(app, fixtureText(CAROL)), recordedReview(CAROL));
    assert.is(enforced['allowed'], false);
    policy = AUDIT;
    const audited = assertReviewAnswer(await postReview(app, fixtureText(CAROL)), recordedReview(CAROL));
    assert.is(audited['allowed'], true);
    policy = policyWith({ allow: { ...ENFORCE.allow, users: ['carol@fabrikam.com'] } });
    const allowListed = assertReviewAnswer(await postReview(app, fixtureText(CAROL)), recordedReview(CAROL));
    assert.is(allowListed['allowed'], true);
    assert.is(allowListed['warnings'], undefined, 'an allow-listed user is no violation at all');
    policy = ENFORCE;
    assert.is(assertReviewAnswer(await postReview(app, fixtureText(CAROL)), recordedReview(CAROL))['allowed'], false);
    assert.is(reads, 4, 'read once per request');
  });
});

interface RecordingDirectory extends Directory {
  readonly calls: { ids: string[]; signal: AbortSignal | undefined; abortedAtCall: boolean }[];
}

function recordingDirectory(answer: (ids: readonly string[]) => ReadonlyMap<string, GroupFact> | Promise<ReadonlyMap<string, GroupFact>>): RecordingDirectory {
  const calls: RecordingDirectory['calls'] = [];
  return {
    source: 'test directory',
    calls,
    async lookupGroups(ids, signal) {
      calls.push({ ids: [...ids], signal, abortedAtCall: signal?.aborted ?? false });
      return answer(ids);
    },
  };
}

const FACTS: Readonly<Record<string, GroupFact>> = {
  [GROUP_ID]: SECURITY_GROUP,
  [ADMIN_GROUP_ID]: { state: 'found', displayName: 'AKS admins', securityEnabled: true },
  [M365_GROUP_ID]: M365_GROUP,
};

const snapshotLike = (ids: readonly string[]) => new Map(ids.map((id): [string, GroupFact] => [id, FACTS[id] ?? { state: 'not-found' }]));

Dependencies('validate :: directory :: asked exactly the lower-case Entra object IDs, each once, in one call', async () => {
  const allowListedGuid = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
  const review = mutated('01-CREATE-RoleBinding-payments-viewers.json', (r) => {
    const g = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });
    r['request']['object']['subjects'] = [
      g(GROUP_ID),
      g(ADMIN_GROUP_ID),
      g(GROUP_ID),
      g('Payments Team'),
      g(GROUP_ID.toUpperCase()),
      g(`{${ADMIN_GROUP_ID}}`),
      g(allowListedGuid),
      g('system:serviceaccounts:payments'),
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: UNKNOWN_GROUP_ID },
      { kind: 'ServiceAccount', name: 'reporter', namespace: 'payments' },
    ];
  });
  const directory = recordingDirectory(snapshotLike);
  const policy = policyWith({ allow: { ...ENFORCE.allow, groups: [allowListedGuid] } });
  await withServer({ directory, currentPolicy: () => policy }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, review, '?timeout=10s'), review);
    assert.is(directory.calls.length, 1);
    assert.equal(directory.calls[0]!.ids.sort(), [GROUP_ID, ADMIN_GROUP_ID].sort());
    assert.ok(directory.calls[0]!.signal instanceof AbortSignal, 'the lookup gets the deadline as an AbortSignal');
    assert.is(directory.calls[0]!.abortedAtCall, false);
    // The request is still judged on its other subjects.
    assert.is(response['allowed'], false);
    assert.ok(!String(response['status']['message']).includes('[group-unknown]'), 'both looked-up groups exist');
  });
});

Dependencies('validate :: directory :: not asked for DELETE, a ClusterRole, or a binding without Entra groups', async () => {
  const directory = recordingDirectory(snapshotLike);
  await withServer({ directory }, async (app) => {
    for (const file of ['09-DELETE-RoleBinding-carol-admin.json', '08-CREATE-ClusterRole-payments-reader.json', CAROL, '07-CREATE-ClusterRoleBinding-everyone-view.json']) {
      assertReviewAnswer(await postReview(app, fixtureText(file)), recordedReview(file));
    }
    assert.equal(directory.calls, []);
  });
});

Dependencies('validate :: directory :: UPDATE asks for the groups of the new object only', async () => {
  const review = mutated('04-UPDATE-RoleBinding-payments-viewers.json', (r) => {
    r['request']['oldObject']['subjects'] = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: M365_GROUP_ID }];
  });
  const directory = recordingDirectory(snapshotLike);
  await withServer({ directory }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, review), review);
    assert.equal(directory.calls.map((call) => call.ids), [[GROUP_ID]]);
    assert.is(response['allowed'], true);
    assert.is(response['warnings'], undefined, 'with a directory the no-directory note is gone');
  });
});

Dependencies('validate :: directory answers :: unknown GUID denied group-unknown, Microsoft 365 group denied group-not-security-enabled', async () => {
  const review = mutated('01-CREATE-RoleBinding-payments-viewers.json', (r) => {
    const g = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });
    r['request']['object']['subjects'] = [g(GROUP_ID), g(UNKNOWN_GROUP_ID), g(M365_GROUP_ID)];
  });
  await withServer({ directory: recordingDirectory(snapshotLike) }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, review), review);
    assertDenied(response, ['group-unknown', 'group-not-security-enabled']);
    assert.match(response['status']['message'], new RegExp(`Group "${UNKNOWN_GROUP_ID}" \\[group-unknown\\]: no group with this object ID exists in Microsoft Entra ID \\(test directory\\)`));
    assert.match(response['status']['message'], /\("Payments \(Microsoft 365\)"\) \[group-not-security-enabled\]/);
  });
});

Dependencies('validate :: directory fails :: directory-unavailable denies by default, allows with a warning under onError allow', async () => {
  const failing: Directory = {
    source: 'failing directory',
    lookupGroups: async () => {
      throw new Error('Microsoft Graph answered 503');
    },
  };
  const file = '01-CREATE-RoleBinding-payments-viewers.json';
  await withServer({ directory: failing }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, fixtureText(file)), recordedReview(file));
    assertDenied(response, ['directory-unavailable']);
    assert.match(response['status']['message'], /could not check the group in Microsoft Entra ID \(Microsoft Graph answered 503\)/);
  });
  const lenient = policyWith({ directory: { ...ENFORCE.directory, onError: 'allow' } });
  await withServer({ directory: failing, currentPolicy: () => lenient }, async (app) => {
    const response = assertReviewAnswer(await postReview(app, fixtureText(file)), recordedReview(file));
    assert.is(response['allowed'], true);
    assert.ok((response['warnings'] as string[]).some((warning) => warning.includes('[directory-unavailable]')));
  });
});

Dependencies('lookupDeadlineMs :: from the API server timeout :: 60 % or timeout - 1 s, at least 200 ms, 10 s default', () => {
  assert.is(lookupDeadlineMs('2s'), 1000);
  assert.is(lookupDeadlineMs('10s'), 6000);
  assert.is(lookupDeadlineMs('30s'), 18000);
  assert.is(lookupDeadlineMs('1s'), 200);
  assert.is(lookupDeadlineMs(undefined), 6000);
  assert.is(lookupDeadlineMs('abc'), 6000);
});

/** Resolves with the inject() result, or with 'timed out' after `ms`: a hanging request fails the test instead of hanging it. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const silentDirectories: [string, Directory][] = [
  [
    'a directory that never answers but honours the signal',
    {
      source: 'silent directory',
      lookupGroups: (_ids, signal) =>
        new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('lookup aborted at the deadline')), { once: true })),
    },
  ],
  [
    'a directory that never answers and ignores the signal',
    { source: 'deaf directory', lookupGroups: () => new Promise(() => undefined) },
  ],
];

for (const [name, directory] of silentDirectories) {
  Dependencies(`validate :: ${name}, ?timeout=2s :: answered directory-unavailable (deny) at the 1 s deadline`, async () => {
    const file = '01-CREATE-RoleBinding-payments-viewers.json';
    const app = build({ directory });
    try {
      const started = performance.now();
      const res = await within(4000, postReview(app, fixtureText(file), '?timeout=2s'));
      const elapsed = performance.now() - started;
      assert.ok(res !== 'timed out', 'the review was never answered');
      assert.ok(elapsed >= lookupDeadlineMs('2s') - 50, `answered after ${Math.round(elapsed)} ms, before the deadline`);
      assert.ok(elapsed < 1800, `answered after ${Math.round(elapsed)} ms: the API server gives up at 2 s`);
      const response = assertReviewAnswer(res, recordedReview(file));
      assertDenied(response, ['directory-unavailable']);
      assert.match(response['status']['message'], /could not check the group in Microsoft Entra ID \(/);
    } finally {
      await within(2000, app.close());
    }
  });
}

Dependencies.run();
