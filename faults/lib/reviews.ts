/**
 * AdmissionReviews for the fault scenarios, and the oracle every answer of the webhook must pass.
 *
 * - `recordedReviews()`: the bodies a real kube-apiserver 1.20 sent (test/fixtures/admission-reviews).
 * - `bootstrapReviews()`: the API server's own default RBAC objects (test/fixtures/bootstrap-*.yaml), each wrapped in a
 *   CREATE review as the API server would send it: 100+ more realistic shapes (roles with rules, aggregation).
 * - `wellBehavedReview()`: one ordinary review with a fresh uid (the "good traffic" measured under attack).
 * - `answerProblem(answer, sent)`: undefined when the answer is either a 4xx with a JSON message or a well-formed
 *   AdmissionReview echoing the uid; otherwise what is wrong with it.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { LOCAL_FIXTURES, RECORDED_REVIEWS } from '../../test/helpers.ts';

type Json = Record<string, any>;

export function recordedReviews(): Json[] {
  return readdirSync(RECORDED_REVIEWS)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(`${RECORDED_REVIEWS}${file}`, 'utf8')) as Json);
}

const PLURALS: Readonly<Record<string, string>> = {
  Role: 'roles',
  ClusterRole: 'clusterroles',
  RoleBinding: 'rolebindings',
  ClusterRoleBinding: 'clusterrolebindings',
};

/** Every object of test/fixtures/bootstrap-*.yaml in a CREATE review by `admin`, shaped like the recorded ones. */
export function bootstrapReviews(): Json[] {
  return readdirSync(LOCAL_FIXTURES)
    .filter((file) => file.startsWith('bootstrap-') && file.endsWith('.yaml'))
    .sort()
    .flatMap((file) => ((parseYaml(readFileSync(`${LOCAL_FIXTURES}${file}`, 'utf8')) as Json)['items'] ?? []) as Json[])
    .filter((object) => PLURALS[object['kind']] !== undefined)
    .map((object) => reviewOf(object));
}

/** A CREATE review of an RBAC object, as the API server sends it. */
/** A requester no policy exempts (unlike reviewOf's default, a member of system:masters). */
export const DEVELOPER: Json = { username: 'dev@contoso.com', uid: 'dev', groups: ['system:authenticated'] };
const ADMIN: Json = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };

export function reviewOf(object: Json, operation = 'CREATE', userInfo: Json = ADMIN): Json {
  const kind = String(object['kind']);
  const gvk = { group: 'rbac.authorization.k8s.io', version: 'v1', kind };
  const gvr = { group: 'rbac.authorization.k8s.io', version: 'v1', resource: PLURALS[kind] ?? `${kind.toLowerCase()}s` };
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: randomUUID(),
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name: object['metadata']?.['name'],
      ...(object['metadata']?.['namespace'] ? { namespace: object['metadata']['namespace'] } : {}),
      operation,
      userInfo,
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

const GOOD = recordedReviews()[0]!;

/** Recorded fixture 01 (RoleBinding of ClusterRole view to an Entra group) with a fresh uid. */
export function wellBehavedReview(): Json {
  const review = structuredClone(GOOD);
  review['request']['uid'] = randomUUID();
  return review;
}

/** The request uid a body carries, when it is a string (what a 200 answer must echo). */
export function sentUid(body: string | Buffer | Json): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString());
    } catch {
      return undefined;
    }
  }
  const uid = (value as Json | null)?.['request']?.['uid'];
  return typeof uid === 'string' ? uid : undefined;
}

const RESPONSE_FIELDS = new Set(['uid', 'allowed', 'status', 'warnings', 'auditAnnotations']);

/**
 * The oracle: a 4xx whose body is JSON `{statusCode, code, error, message}` with a message and no stack trace, or a
 * 200 AdmissionReview v1 whose response echoes `uid`, says allowed true or false, and carries only what the API
 * server reads (a denial with code 403 and a message; warnings of one line, at most 256 characters).
 */
export function answerProblem(answer: { readonly status: number; readonly body: string; readonly error?: string }, uid: string | undefined): string | undefined {
  if (answer.status === 0) return `no answer: ${answer.error ?? 'connection closed'}`;
  let body: Json;
  try {
    body = JSON.parse(answer.body) as Json;
  } catch {
    return `HTTP ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 120)}`;
  }
  if (/\n\s+at .+:\d+:\d+/.test(answer.body)) return `HTTP ${answer.status} with a stack trace in the body`;
  if (answer.status >= 400 && answer.status < 500) {
    if (typeof body['message'] !== 'string' || body['message'] === '') return `HTTP ${answer.status} without a message: ${answer.body.slice(0, 120)}`;
    if (body['statusCode'] !== answer.status) return `HTTP ${answer.status} whose body says statusCode ${body['statusCode']}`;
    return undefined;
  }
  if (answer.status !== 200) return `HTTP ${answer.status}: ${answer.body.slice(0, 120)}`;
  return reviewProblem(body, uid);
}

/** What is wrong with an AdmissionReview answer object, if anything. */
export function reviewProblem(review: Json, uid: string | undefined): string | undefined {
  if (review['apiVersion'] !== 'admission.k8s.io/v1' || review['kind'] !== 'AdmissionReview') return 'a 200 that is not an AdmissionReview v1';
  const response = review['response'] as Json | undefined;
  if (typeof response !== 'object' || response === null) return 'an AdmissionReview without a response';
  if (uid === undefined || response['uid'] !== uid) return `response.uid ${JSON.stringify(response['uid'])} does not echo request.uid ${JSON.stringify(uid)}`;
  const extra = Object.keys(response).filter((key) => !RESPONSE_FIELDS.has(key));
  if (extra.length > 0) return `response fields the API server does not know: ${extra.join(', ')}`;
  if (typeof response['allowed'] !== 'boolean') return 'response.allowed is not a boolean';
  if (!response['allowed'] && (response['status']?.['code'] !== 403 || typeof response['status']?.['message'] !== 'string' || response['status']['message'] === '')) {
    return 'a denial without status {code: 403, message}';
  }
  for (const warning of (response['warnings'] ?? []) as unknown[]) {
    if (typeof warning !== 'string' || /[\r\n]/.test(warning) || [...warning].length > 256) return `a warning the API server drops: ${JSON.stringify(warning).slice(0, 80)}`;
  }
  for (const value of Object.values((response['auditAnnotations'] ?? {}) as Json)) {
    if (typeof value !== 'string') return 'an audit annotation that is not a string';
  }
  return undefined;
}
