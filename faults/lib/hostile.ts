/**
 * Hostile inputs for the fuzzing scenario, as fast-check 4 arbitraries. Structure-aware: most cases start from a real
 * AdmissionReview (recorded from a kube-apiserver, or the API server's own bootstrap RBAC objects) and change one to
 * four things in it, so they get past the envelope checks and reach the deep code; the rest is noise.
 *
 * A case is JSON text, not a value: some shapes cannot be built as JS values and stringified (nesting 20,000 deep
 * overflows JSON.stringify; a key `__proto__` set by assignment changes a prototype instead of adding a key), so the
 * mutator plants markers that `serialize` expands in the text.
 */
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { RULE_IDS } from '../../src/policy/model.ts';

type Json = unknown;
type Container = Record<string, Json> | Json[];

/** Group object IDs the Graph fake knows (and a few it does not): fuzzed bindings reuse them, so the cache absorbs most lookups. */
export const KNOWN_GROUP_IDS = Array.from({ length: 24 }, (_, index) => `${(0x5d2c7b00 + index).toString(16)}-3e4f-4a5b-9c6d-7e8f9a0b1c2d`);
export const FIXTURE_GROUP_ID = '5d2c7b1a-3e4f-4a5b-9c6d-7e8f9a0b1c2d';

/** Subject names that try to reach another host or another Graph resource if pasted into a URL. */
export const URL_TRICKS: readonly string[] = [
  '../../users',
  '..%2F..%2Fusers',
  '%2e%2e/%2e%2e/users',
  '%2e%2e%2f%2e%2e%2fusers',
  'x@evil.com',
  'admin@evil.example',
  'https://evil.example/steal',
  'http://169.254.169.254/metadata/identity/oauth2/token',
  '//evil.example/groups',
  '\\\\evil.example\\share',
  '?$select=id,displayName',
  '$select=*',
  '$batch',
  '/$batch',
  'me',
  'users',
  'users/0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f',
  '#fragment',
  '.',
  '..',
  '',
  ' ',
  '\u0000',
  '%00',
  "x' or '1'='1",
  "$filter=startswith(displayName,'a')",
  `${FIXTURE_GROUP_ID}/../../users`,
  `${FIXTURE_GROUP_ID}/members`,
  `${FIXTURE_GROUP_ID}?$select=*`,
  `${FIXTURE_GROUP_ID}#`,
  `${FIXTURE_GROUP_ID}%2F..%2F..%2Fusers`,
  `${FIXTURE_GROUP_ID}%00`,
  `${FIXTURE_GROUP_ID}\u0000`,
  `${FIXTURE_GROUP_ID}\n`,
  `${FIXTURE_GROUP_ID}\r\nHost: evil.example`,
  `${FIXTURE_GROUP_ID} `,
  ` ${FIXTURE_GROUP_ID}`,
  `${FIXTURE_GROUP_ID}\u2028`,
  FIXTURE_GROUP_ID.toUpperCase(),
  `{${FIXTURE_GROUP_ID}}`,
  FIXTURE_GROUP_ID.replace(/-/g, ''),
  // Full-width digits and Cyrillic letters that look like a GUID.
  FIXTURE_GROUP_ID.replace(/\d/g, (digit) => String.fromCharCode(0xff10 + Number(digit))),
  FIXTURE_GROUP_ID.replace(/a/g, '\u0430').replace(/c/g, '\u0441'),
  `https://graph.microsoft.com/v1.0/groups/${FIXTURE_GROUP_ID}`,
  `https://evil.example/v1.0/groups/${FIXTURE_GROUP_ID}`,
  `${FIXTURE_GROUP_ID}@evil.example`,
  `evil.example/${FIXTURE_GROUP_ID}`,
];

const GUID_AFFIXES = ['/', '/..', '?', '#', '%2f', '%', '@x', ':443', ' ', '\t', '\u0000', '\n', '..', '\\', '&', '=', 'Z', '0', '-'];

/** A subject name built to slip through a GUID check: tricks, a GUID with something around it, or a clean GUID. */
export const hostileName: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...URL_TRICKS) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...KNOWN_GROUP_IDS), fc.constantFrom('', ...GUID_AFFIXES), fc.constantFrom('', ...GUID_AFFIXES), fc.string({ maxLength: 6 }))
      .map(([id, before, after, tail]) => `${before}${id}${after}${tail}`),
  },
  { weight: 2, arbitrary: fc.constantFrom(...KNOWN_GROUP_IDS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

/** A `repeat` this many times or more is expanded up to 9.5 MB, past the webhook's 8 MiB body limit. */
const OVERSIZE_TIMES = 50_000;

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Nesting: mostly hundreds of levels, sometimes 20,000 (each costs the YAML parser half a second). */
const depth = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 100, max: 2_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 2_000, max: 20_000 }) });

/** A value that does not belong where it is put, flat (see `hostileValue` for nesting). */
const flatHostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 5, arbitrary: hostileName },
  { weight: 3, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER)) },
  { weight: 2, arbitrary: fc.constantFrom<Json>(true, false, null, [], {}, '', '0', 'null', 'true', '[]', '{}') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 64 }) },
  { weight: 2, arbitrary: fc.constantFrom(...POLLUTION_KEYS).map((key) => pollution(key)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 50_000 }).map((length) => `\u0000LONG:${length}\u0000`) },
);

/** Any hostile value, deep nesting included. Markers (`\u0000DEEP:…`, `\u0000LONG:…`) are expanded by `serialize`. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 19, arbitrary: flatHostileValue },
  { weight: 1, arbitrary: depth.map((levels) => `\u0000DEEP:${levels}\u0000`) },
);

/** `{"__proto__": {"polluted": "yes"}}` as text would parse: an own key, made with defineProperty. */
function pollution(key: string): Record<string, Json> {
  const inner: Record<string, Json> = {};
  Object.defineProperty(inner, 'polluted', { value: 'yes', enumerable: true, writable: true, configurable: true });
  const outer: Record<string, Json> = {};
  const value = key === 'constructor' ? { prototype: inner } : inner;
  Object.defineProperty(outer, key, { value, enumerable: true, writable: true, configurable: true });
  return outer;
}

/** Places the engine reads; targeted mutations go there (a missing container stops the walk). */
const TARGETS: readonly (readonly (string | number)[])[] = [
  ['request', 'uid'],
  ['request', 'operation'],
  ['request', 'kind'],
  ['request', 'kind', 'kind'],
  ['request', 'kind', 'group'],
  ['request', 'namespace'],
  ['request', 'name'],
  ['request', 'userInfo'],
  ['request', 'userInfo', 'username'],
  ['request', 'userInfo', 'groups'],
  ['request', 'userInfo', 'groups', 0],
  ['request', 'dryRun'],
  ['request', 'object'],
  ['request', 'object', 'kind'],
  ['request', 'object', 'metadata'],
  ['request', 'object', 'metadata', 'name'],
  ['request', 'object', 'metadata', 'namespace'],
  ['request', 'object', 'metadata', 'labels'],
  ['request', 'object', 'subjects'],
  ['request', 'object', 'subjects', 0],
  ['request', 'object', 'subjects', 0, 'kind'],
  ['request', 'object', 'subjects', 0, 'name'],
  ['request', 'object', 'subjects', 0, 'namespace'],
  ['request', 'object', 'roleRef'],
  ['request', 'object', 'roleRef', 'kind'],
  ['request', 'object', 'roleRef', 'name'],
  ['request', 'object', 'rules'],
  ['request', 'object', 'rules', 0],
  ['request', 'object', 'rules', 0, 'verbs'],
  ['request', 'object', 'rules', 0, 'resources'],
  ['request', 'object', 'rules', 0, 'apiGroups'],
  ['request', 'object', 'aggregationRule'],
  ['request', 'oldObject'],
  ['request', 'oldObject', 'subjects'],
  ['apiVersion'],
  ['kind'],
  ['request'],
];

type Operation = 'replace' | 'delete' | 'add-key' | 'repeat' | 'nest';

interface Mutation {
  /** A targeted place, or a random walk (each number picks a child). */
  readonly where: { readonly target: readonly (string | number)[] } | { readonly walk: readonly number[] };
  readonly operation: Operation;
  readonly key: string;
  readonly value: Json;
  readonly times: number;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  where: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TARGETS).map((target) => ({ target })) },
    { weight: 2, arbitrary: fc.array(fc.nat(64), { minLength: 1, maxLength: 8 }).map((walk) => ({ walk })) },
  ),
  operation: fc.constantFrom<Operation>('replace', 'replace', 'replace', 'delete', 'add-key', 'repeat', 'nest'),
  key: fc.oneof(fc.constantFrom(...POLLUTION_KEYS, 'kind', 'name', 'subjects', 'uid', ''), fc.string({ unit: 'binary', maxLength: 12 })),
  value: hostileValue,
  // Mostly small; sometimes thousands (a huge array); rarely past the 8 MiB body limit (see serialize).
  times: fc.oneof(
    { weight: 250, arbitrary: fc.integer({ min: 2, max: 50 }) },
    { weight: 20, arbitrary: fc.integer({ min: 1_000, max: 5_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: OVERSIZE_TIMES, max: OVERSIZE_TIMES + 10_000 }) },
  ),
});

/** The parent container and the slot of the place a mutation acts on; undefined when the document has no such place. */
function locate(root: Container, where: Mutation['where']): { parent: Container; slot: string | number } | undefined {
  let parent: Container = root;
  const steps = 'target' in where ? where.target : where.walk;
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    const slot = 'target' in where ? step : pickSlot(parent, step as number);
    if (slot === undefined) return undefined;
    if (index === steps.length - 1) return { parent, slot };
    const child = (parent as Record<string | number, Json>)[slot];
    if (typeof child !== 'object' || child === null) return 'target' in where ? undefined : { parent, slot };
    parent = child as Container;
  }
  return undefined;
}

function pickSlot(container: Container, choice: number): string | number | undefined {
  if (Array.isArray(container)) return container.length === 0 ? undefined : choice % container.length;
  const keys = Object.keys(container);
  return keys.length === 0 ? undefined : keys[choice % keys.length];
}

function setOwn(container: Container, slot: string | number, value: Json): void {
  if (Array.isArray(container) && typeof slot === 'number') container[slot] = value;
  else Object.defineProperty(container, slot, { value, enumerable: true, writable: true, configurable: true });
}

function apply(root: Container, mutation: Mutation): void {
  const place = locate(root, mutation.where);
  if (!place) return;
  const { parent, slot } = place;
  // fast-check hands out the same instance of a constant ({} or []) to many cases: a copy, or later mutations
  // would change (and could tie into a cycle) a value other cases hold too. structuredClone keeps own `__proto__` keys.
  const change = { ...mutation, value: structuredClone(mutation.value) };
  const current = (parent as Record<string | number, Json>)[slot];
  switch (change.operation) {
    case 'replace':
      return setOwn(parent, slot, change.value);
    case 'delete':
      if (Array.isArray(parent) && typeof slot === 'number') parent.splice(slot, 1);
      else delete (parent as Record<string, Json>)[slot as string];
      return;
    case 'add-key':
      if (typeof current === 'object' && current !== null && !Array.isArray(current)) setOwn(current as Container, change.key, change.value);
      else if (Array.isArray(current)) current.push(change.value);
      else setOwn(parent, slot, { [change.key]: change.value });
      return;
    case 'repeat':
      // A huge array of the item (or of the value): expanded in the text, so 60,000 copies cost one string.
      return setOwn(parent, slot, `\u0000HUGE:${change.times}:${JSON.stringify(Array.isArray(current) && current.length > 0 ? current[0] : (current ?? change.value))}\u0000`);
    case 'nest':
      return setOwn(parent, slot, `\u0000WRAP:${change.times}:${JSON.stringify(current ?? change.value)}\u0000`);
  }
}

const MARKER = /"\\u0000(DEEP|LONG|HUGE|WRAP):(\d+)(?::((?:[^"\\]|\\.)*))?\\u0000"/g;

/** JSON text of `value`, with the markers expanded (deep nesting, long strings, huge arrays). */
export function serialize(value: Json): string {
  return JSON.stringify(value).replace(MARKER, (_, kind: string, count: string, payload: string | undefined) => {
    const n = Number(count);
    const inner = payload === undefined ? '' : (JSON.parse(`"${payload}"`) as string);
    switch (kind) {
      case 'DEEP':
        return `${'['.repeat(n)}${']'.repeat(n)}`;
      case 'LONG':
        return JSON.stringify('A'.repeat(n));
      case 'HUGE': {
        // At most 1 MB of copies, or 9.5 MB for the rare oversize case: past the body limit, not past this machine's memory.
        const item = inner || 'null';
        const budget = n >= OVERSIZE_TIMES ? 9_500_000 : 1_000_000;
        return `[${new Array<string>(Math.max(1, Math.min(n, Math.floor(budget / (item.length + 1))))).fill(item).join(',')}]`;
      }
      default:
        return `${'['.repeat(n)}${inner || 'null'}${']'.repeat(n)}`;
    }
  });
}

export interface ReviewCase {
  /** The body to send. */
  readonly text: string;
  /** request.uid as sent, when it is a string. */
  readonly uid: string | undefined;
  /** How many hostile subject names it carries (hostileSubjectsReview only). */
  readonly hostileNames?: number;
}

/** A real review (one of `seeds`) with a fresh uid and one to four mutations. */
export function mutatedReview(seeds: readonly Json[]): fc.Arbitrary<ReviewCase> {
  return fc.record({ seed: fc.nat(seeds.length - 1), uid: fc.uuid(), changes: fc.array(mutation, { minLength: 1, maxLength: 4 }) }).map(({ seed, uid, changes }) => {
    const review = structuredClone(seeds[seed]) as Record<string, any>;
    if (review['request'] && typeof review['request'] === 'object') review['request']['uid'] = uid;
    for (const change of changes) apply(review, change);
    return { text: serialize(review), uid: uidOf(review) };
  });
}

/** A real binding review whose subjects are 1–30 hostile names (Groups mostly, some Users). */
export function hostileSubjectsReview(seed: Json): fc.Arbitrary<ReviewCase> {
  const subject = fc.record({ kind: fc.constantFrom('Group', 'Group', 'Group', 'User'), name: hostileName });
  // One review in twenty also names a group nobody has looked up yet: a cache miss, so Graph is asked under the deadline.
  const fresh = fc.oneof(
    { weight: 19, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uuid().map((id) => ({ kind: 'Group', name: id })) },
  );
  return fc.record({ uid: fc.uuid(), subjects: fc.array(subject, { minLength: 1, maxLength: 30 }), fresh, old: fc.boolean() }).map(({ uid, subjects: hostile, fresh, old }) => {
    const subjects = fresh ? [...hostile, fresh] : hostile;
    const review = structuredClone(seed) as Record<string, any>;
    const request = review['request'];
    request['uid'] = uid;
    request['object']['subjects'] = subjects.map(({ kind, name }) => ({ kind, apiGroup: 'rbac.authorization.k8s.io', name }));
    if (old) {
      request['operation'] = 'UPDATE';
      request['oldObject'] = { ...request['object'], subjects: subjects.slice(0, 1).map(({ kind, name }) => ({ kind, apiGroup: 'rbac.authorization.k8s.io', name })) };
    }
    return { text: JSON.stringify(review), uid, hostileNames: hostile.length };
  });
}

/** request.uid as the text will carry it once `serialize` has expanded the markers (cheaper than parsing the text). */
function uidOf(review: Record<string, any>): string | undefined {
  const request = review['request'];
  const uid = typeof request === 'object' && request !== null && !Array.isArray(request) ? request['uid'] : undefined;
  if (typeof uid !== 'string') return undefined;
  const marker = /^\u0000(DEEP|LONG|HUGE|WRAP):(\d+)/.exec(uid);
  if (!marker) return uid;
  return marker[1] === 'LONG' ? 'A'.repeat(Number(marker[2])) : undefined;
}

export interface NoiseCase {
  readonly body: Buffer;
  readonly contentType: string | undefined;
  readonly path: string;
}

/** Content types for noise; `application/json` more often, as clients send it. */
export const CONTENT_TYPES: readonly (string | undefined)[] = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/JSON',
  'application/json;;;',
  'application/merge-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  '',
  undefined,
];

/** URLs a client may POST a review to: the webhook's own, with ?timeout= abused, and near misses. */
export const URL_VARIANTS: readonly string[] = [
  '/validate',
  '/validate',
  '/validate',
  '/validate?timeout=10s',
  '/validate?timeout=0s',
  '/validate?timeout=30s',
  '/validate?timeout=abc',
  '/validate?timeout=99999999999999999999s',
  '/validate?timeout=10000000s',
  '/validate?timeout=-5s',
  '/validate?timeout=1e309s',
  '/validate?timeout=10s&timeout=20s',
  '/validate?__proto__[polluted]=yes',
  '/validate?constructor[prototype][polluted]=yes',
  '/validate/',
  '//validate',
  '/validate/../healthz',
  '/VALIDATE',
  '/validate%00',
  '/validate#x',
];

/** Bytes for POST: random, or a recorded review cut, flipped or spliced; with a Content-Type and a path. */
export function byteNoise(seedTexts: readonly string[]): fc.Arbitrary<NoiseCase> {
  const mangled = fc
    .record({ seed: fc.nat(seedTexts.length - 1), at: fc.nat(), cut: fc.boolean(), insert: fc.uint8Array({ maxLength: 16 }), flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 8 }) })
    .map(({ seed, at, cut, insert, flips }) => {
      const bytes = Buffer.from(seedTexts[seed]!, 'utf8');
      const position = at % (bytes.length + 1);
      let result = cut ? bytes.subarray(0, position) : Buffer.concat([bytes.subarray(0, position), Buffer.from(insert), bytes.subarray(position)]);
      result = Buffer.from(result);
      for (const [where, value] of flips) if (result.length > 0) result[where % result.length] = value;
      return result;
    });
  return fc.record({
    body: fc.oneof({ weight: 3, arbitrary: mangled }, { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)) }),
    contentType: fc.constantFrom(...CONTENT_TYPES),
    path: fc.constantFrom(...URL_VARIANTS),
  });
}

/** Block-style YAML of a JSON text; the JSON itself (which is YAML) when it nests too deep to convert. */
function blockYaml(json: string): string {
  try {
    return toYaml(JSON.parse(json), { aliasDuplicateObjects: false });
  } catch {
    return json;
  }
}

// --- policy documents ------------------------------------------------------------------------------------------

const VALID_ID = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';

/** A valid policy as a value: what `mutatedPolicy` starts from. */
const validPolicy = fc.record(
  {
    apiVersion: fc.constant('entra-rbac-guard/v1'),
    kind: fc.constant('Policy'),
    mode: fc.constantFrom('enforce', 'audit'),
    adminGroups: fc.array(fc.constantFrom(VALID_ID, ...KNOWN_GROUP_IDS), { maxLength: 3 }),
    clusterAdminRoles: fc.array(fc.constantFrom('cluster-admin', 'admin', 'platform-superuser'), { maxLength: 3 }),
    rules: fc.dictionary(fc.constantFrom(...RULE_IDS.filter((rule) => rule !== 'directory-unavailable')), fc.constantFrom('deny', 'warn', 'off'), { maxKeys: 4 }),
    allow: fc.record(
      {
        users: fc.array(fc.constantFrom('alice@contoso.com', 'bob@contoso.com'), { maxLength: 2 }),
        groups: fc.array(fc.constantFrom(VALID_ID), { maxLength: 1 }),
        clusterAdminSubjects: fc.array(fc.record({ kind: fc.constantFrom('User', 'Group'), name: fc.constantFrom('alice@contoso.com', VALID_ID) }), { maxLength: 2 }),
        namespaces: fc.array(fc.constantFrom('kube-system', 'payments'), { maxLength: 2 }),
        requesters: fc.record({ usernames: fc.array(fc.constantFrom('system:serviceaccount:flux-system:kustomize-controller'), { maxLength: 1 }), groups: fc.constant([]) }),
      },
      { requiredKeys: [] },
    ),
    directory: fc.record({ verify: fc.boolean(), requireSecurityEnabled: fc.boolean(), onError: fc.constantFrom('deny', 'allow') }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const POLICY_TARGETS: readonly (readonly (string | number)[])[] = [
  ['apiVersion'],
  ['kind'],
  ['mode'],
  ['adminGroups'],
  ['adminGroups', 0],
  ['clusterAdminRoles'],
  ['clusterAdminRoles', 0],
  ['rules'],
  ['allow'],
  ['allow', 'users'],
  ['allow', 'clusterAdminSubjects'],
  ['allow', 'clusterAdminSubjects', 0],
  ['allow', 'clusterAdminSubjects', 0, 'kind'],
  ['allow', 'requesters'],
  ['allow', 'requesters', 'groups'],
  ['directory'],
  ['directory', 'onError'],
  ['directory', 'verify'],
];

/** YAML written by hand to hit the parser where a serializer never goes. */
const YAML_TRICKS: readonly string[] = [
  // Billion laughs: aliases that expand exponentially.
  'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n',
  'mode: !!js/function "function () { return 1 }"\n',
  'mode: !!binary aGVsbG8=\n',
  'adminGroups: !!set {a, b}\n',
  'adminGroups: !!omap [a: 1]\n',
  'mode: !custom enforce\n',
  'mode: !!timestamp 2001-12-14\n',
  'mode: !!int 12\n',
  'mode: !!float .nan\n',
  'base: &base {mode: audit}\n<<: *base\n',
  '<<: {mode: audit, __proto__: {polluted: yes}}\n',
  '__proto__: {polluted: yes}\nmode: enforce\n',
  '__proto__:\n  mode: audit\n',
  'constructor: {prototype: {polluted: yes}}\n',
  'allow:\n  __proto__: {users: [x]}\n',
  'rules:\n  __proto__: deny\n  constructor: warn\n  toString: off\n  hasOwnProperty: deny\n',
  'mode: enforce\nmode: audit\n',
  '---\nmode: enforce\n---\nmode: audit\n',
  '\uFEFFmode: enforce\n',
  'mode: "enforce\u0000"\n',
  'mode:\tenforce\n',
  'mode: enforce\r\nadminGroups: []\r\n',
  '? [a, b]\n: c\n',
  '? {mode: audit}\n: x\n',
  '[mode, enforce]\n',
  '"just a string"\n',
  '42\n',
  'null\n',
  '~\n',
  '',
  '%YAML 1.1\n---\nmode: enforce\n',
  '%TAG ! tag:evil.example,2000:\n---\nmode: !x enforce\n',
  'adminGroups: [*undefined]\n',
  'mode: &a *a\n',
  'a: &a [*a]\n',
  'adminGroups: 0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f\n',
  'adminGroups: [0B7E1D2C-4A5F-4E3D-8C9B-1A2B3C4D5E6F, "{0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f}"]\n',
  'clusterAdminRoles: [yes, no, on, off, 0x1F, 1e3, .inf]\n',
  'directory: {verify: yes, requireSecurityEnabled: "true", onError: Deny}\n',
];

/** YAML nesting: past the parser's own limit (about 1,000 levels) now and then; each such case costs it 0.1–0.3 s. */
const policyDepth = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 20, max: 600 }) }, { weight: 1, arbitrary: fc.integer({ min: 600, max: 5_000 }) });

/** A policy document: a valid one with hostile changes, hand-written YAML tricks, deep nesting, or noise. */
export const policyDocument: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 24,
    arbitrary: fc
      .record({ policy: validPolicy, changes: fc.array(fc.record({ target: fc.constantFrom(...POLICY_TARGETS), value: flatHostileValue, delete: fc.boolean() }), { maxLength: 3 }), flow: fc.boolean() })
      .map(({ policy, changes, flow }) => {
        const document = structuredClone(policy) as Record<string, Json>;
        for (const change of changes) {
          apply(document, { where: { target: change.target }, operation: change.delete ? 'delete' : 'replace', key: '', value: change.value, times: 0 });
        }
        // JSON is YAML: the markers' expansions (deep nesting, long strings) stay valid.
        const json = serialize(document);
        return flow ? json : blockYaml(json);
      }),
  },
  { weight: 8, arbitrary: fc.constantFrom(...YAML_TRICKS) },
  {
    weight: 1,
    arbitrary: fc.tuple(policyDepth, fc.constantFrom('[', '{a: ', '- ', '  ')).map(([depth, opener]) => {
      if (opener === '- ' || opener === '  ') return Array.from({ length: Math.min(depth, 300) }, (_, level) => `${'  '.repeat(level)}${opener === '- ' ? '- ' : 'a:'}`).join('\n');
      return `mode: ${opener.repeat(depth)}x${(opener === '[' ? ']' : '}').repeat(depth)}\n`;
    }),
  },
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...': -[]{}&*!|>\'"%@`#,?\n\t\r<=~'.split(''), 'a', 'mode', 'rules', 'allow', '0'), maxLength: 200 }) },
);
