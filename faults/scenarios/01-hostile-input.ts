/**
 * Issue 8, item 1: hostile input. Property-based fuzzing (fast-check 4, structure-aware: recorded reviews mutated) of
 * AdmissionReview bodies, of policy documents and of raw bytes, at least 100,000 cases in a quick run:
 *
 * - most in-process: the route's own path (decode → facts → engine → encode) called directly, and Fastify inject();
 * - at least 5,000 over real TLS to the webhook listening on loopback;
 * - subject names that try to reach another host through the Graph URL, with Microsoft Graph played by the fake,
 *   which records every request it sees.
 *
 * Oracles: no crash, no 5xx, no hang (per-case deadline); each answer a 4xx with a JSON message or a well-formed
 * AdmissionReview echoing the uid; parsePolicy returns a policy or errors and never throws; the process sees no
 * unhandled rejection or uncaught exception; Object.prototype is unchanged; Graph sees only `/groups/<GUID>` lookups.
 * FUZZ_SEED=n repeats a run; FUZZ_SCALE=x multiplies the case counts (default 1 in a quick run, 5 in a full one).
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '../../src/admission/narrow.ts';
import { decodeAdmissionReview } from '../../src/admission/decode.ts';
import { encodeDecision } from '../../src/admission/encode.ts';
import { loadDirectory } from '../../src/config.ts';
import { gatherFacts, type Directory } from '../../src/directory/port.ts';
import { SnapshotDirectory } from '../../src/directory/snapshot.ts';
import { lookupDeadlineMs } from '../../src/http/validate-route.ts';
import { RoleCache, type RbacKind } from '../../src/kube/role-cache.ts';
import { evaluate } from '../../src/policy/engine.ts';
import { RULE_IDS, type Policy } from '../../src/policy/model.ts';
import { factsNeeded } from '../../src/policy/needs.ts';
import { DEFAULT_POLICY, parsePolicy, type PolicyParseResult } from '../../src/policy/parse.ts';
import type { FakeGroup } from '../../test/fakes/graph-fake.ts';
import { startFakes, type Fakes } from '../../test/fakes/harness.ts';
import { LOCAL_FIXTURES } from '../../test/helpers.ts';
import { HttpsClient } from '../lib/client.ts';
import { CONTENT_TYPES, FIXTURE_GROUP_ID, KNOWN_GROUP_IDS, URL_TRICKS, URL_VARIANTS, byteNoise, hostileName, hostileSubjectsReview, mutatedReview, policyDocument, type ReviewCase } from '../lib/hostile.ts';
import { answerProblem, bootstrapReviews, recordedReviews, reviewProblem } from '../lib/reviews.ts';
import { Tally, forEachConcurrently, withDeadline } from '../lib/tally.ts';
import { startWebhook, type InProcessWebhook } from '../lib/webhook.ts';
import { defineScenario, type FaultRow } from '../scenario.ts';

/** Cases per row in a quick run (CI); a full run (FAULTS_QUICK=0) multiplies them by FULL_FACTOR. */
const QUICK_CASES = { pipeline: 45_000, inject: 30_000, noise: 10_000, policy: 12_000, tls: 6_000, directNames: 2_000 } as const;
const FULL_FACTOR = 5;
/** Per-case deadlines: beyond them a case is a hang (measured after the fact too: synchronous work cannot be raced). */
const IN_PROCESS_DEADLINE_MS = 5_000;
const OVER_TLS_DEADLINE_MS = 10_000;
const TLS_CONCURRENCY = 8;

const ADMIN_GROUP = '0b7e1d2c-4a5f-4e3d-8c9b-1a2b3c4d5e6f';
const POLICY: Policy = { ...DEFAULT_POLICY, adminGroups: [ADMIN_GROUP] };

/** What Graph knows: the recorded reviews' group, two thirds of the fuzzer's pool (a third are typos: 404). */
const GROUPS: FakeGroup[] = [
  { id: FIXTURE_GROUP_ID, displayName: 'Payments Team', securityEnabled: true },
  ...KNOWN_GROUP_IDS.slice(0, 16).map((id, index) => ({ id, displayName: `Fuzz team ${index}`, securityEnabled: index % 4 !== 0 })),
];

/** A Graph request the webhook may make: one group by object ID, or a $batch of those. */
const GROUP_PATH = /^\/(?:v1\.0\/)?groups\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\?(?:\$|%24)select=id,displayName,securityEnabled$/;

export default defineScenario({
  name: 'Hostile input (fuzzing)',
  async run(context) {
    const factor = Number(process.env['FUZZ_SCALE'] ?? (context.quick ? 1 : FULL_FACTOR));
    const count = (row: keyof typeof QUICK_CASES) => Math.max(1, Math.round(QUICK_CASES[row] * factor));
    const seed = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    context.log(`fast-check seed ${seed} (FUZZ_SEED=${seed} repeats this run)`);
    const health = watchProcess();
    const fakes = await startFakes(GROUPS);
    const { directory } = await loadDirectory(POLICY, { env: fakes.env });
    if (!directory) throw new Error('the Graph directory was not configured from the fakes environment');
    const roles = bootstrapRoleCache();
    const webhook = await startWebhook({ policy: POLICY, directory, roles });
    const recorded = recordedReviews();
    const reviews = fc.oneof(
      { weight: 3, arbitrary: mutatedReview(recorded) },
      { weight: 2, arbitrary: mutatedReview(bootstrapReviews()) },
      { weight: 2, arbitrary: hostileSubjectsReview(recorded[0]!) },
    );
    const noise = byteNoise(recorded.map((review) => JSON.stringify(review)));
    const names = { sent: 0 };
    const rows: FaultRow[] = [];
    const step = async (what: string, make: () => Promise<FaultRow> | FaultRow) => {
      const started = performance.now();
      const row = await make();
      rows.push(row);
      context.log(`${what}: ${row.survived}/${row.cases} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    };
    try {
      await step('pipeline', () => pipelineRow(samples(reviews, count('pipeline'), seed), roles, names));
      const urls = fc.oneof(fc.constant('/validate'), fc.constantFrom(...URL_VARIANTS));
      await step('inject', () => injectRow(webhook, samples(fc.tuple(reviews, urls), count('inject'), seed + 1), names));
      await step('noise', () => noiseRow(webhook, samples(noise, count('noise'), seed + 2)));
      await step('policy', () => policyRow(samples(policyDocument, count('policy'), seed + 3)));
      await step('tls', () => tlsRow(webhook, samples(fc.oneof({ weight: 3, arbitrary: reviews.map(asReview) }, { weight: 1, arbitrary: noise }), count('tls'), seed + 4), names));
      await step('graph', () => graphRow(fakes, directory, samples(hostileName, count('directNames'), seed + 5), names));
      rows.push(health.row());
    } finally {
      health.stop();
      await webhook.close();
      await fakes.close();
    }
    return rows;
  },
});

/** `total` values of `arbitrary`, generated lazily in batches (one seed per batch, so a run is repeatable). */
function* samples<T>(arbitrary: fc.Arbitrary<T>, total: number, seed: number): Generator<T> {
  const batch = 500;
  for (let done = 0, round = 0; done < total; done += batch, round++) {
    yield* fc.sample(arbitrary, { numRuns: Math.min(batch, total - done), seed: seed * 7919 + round });
  }
}

const asReview = (value: ReviewCase) => ({ review: value });

// --- rows --------------------------------------------------------------------------------------------------------

/** The route's path called directly, as validate-route.ts calls it, with a snapshot directory (no I/O). */
async function pipelineRow(cases: Iterable<ReviewCase>, roles: RoleCache, names: { sent: number }): Promise<FaultRow> {
  const snapshot = new SnapshotDirectory(
    GROUPS.map(({ id, displayName, securityEnabled }) => ({ id, displayName, securityEnabled })),
    'snapshot fuzz',
  );
  const tally = new Tally();
  for (const fuzzCase of cases) {
    names.sent += fuzzCase.hostileNames ?? 0;
    const started = performance.now();
    let problem: string | undefined;
    try {
      problem = await withDeadline(IN_PROCESS_DEADLINE_MS, judge(fuzzCase, snapshot, roles));
    } catch (error) {
      problem = describe(error);
    }
    tally.record(performance.now() - started, problem ?? overDeadline(started, fuzzCase.text));
  }
  return tally.row('fuzz: AdmissionReview bodies, in-process decode→facts→engine→encode', 'structure-aware (recorded + bootstrap reviews mutated, hostile subject names); decode may only refuse with InvalidInputError');
}

async function judge(fuzzCase: ReviewCase, directory: Directory, roles: RoleCache): Promise<string | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(fuzzCase.text);
  } catch {
    return undefined; // Not JSON: the transport answers 400 before decode (the noise row covers it).
  }
  let change;
  try {
    change = decodeAdmissionReview(body);
  } catch (error) {
    if (error instanceof InvalidInputError && error.message.length > 0) return undefined;
    return `decode threw ${describe(error)} instead of InvalidInputError`;
  }
  const needs = factsNeeded(change, POLICY);
  const directoryFacts = await gatherFacts(needs, directory, () => AbortSignal.timeout(lookupDeadlineMs(undefined)));
  const decision = evaluate(change, POLICY, { ...directoryFacts, roles: roles.factsFor(needs) });
  return reviewProblem(JSON.parse(JSON.stringify(encodeDecision(change.uid, change.apiVersion, decision))) as Record<string, unknown>, fuzzCase.uid);
}

/** Fastify's inject(): body parsing, limits, the error handler and the Graph-backed directory, with no socket. */
async function injectRow(webhook: InProcessWebhook, cases: Iterable<[ReviewCase, string]>, names: { sent: number }): Promise<FaultRow> {
  const tally = new Tally();
  for (const [fuzzCase, url] of cases) {
    names.sent += fuzzCase.hostileNames ?? 0;
    const started = performance.now();
    let problem: string | undefined;
    try {
      const response = await withDeadline(
        IN_PROCESS_DEADLINE_MS,
        webhook.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: fuzzCase.text }),
      );
      problem = withCause(answerProblem({ status: response.statusCode, body: response.body }, fuzzCase.uid), webhook);
    } catch (error) {
      problem = describe(error);
    }
    tally.record(performance.now() - started, problem ?? overDeadline(started, fuzzCase.text));
  }
  return tally.row('fuzz: AdmissionReview bodies, Fastify inject() (Graph directory)', 'the full route: JSON parser, proto-poisoning guard, 8 MiB limit, error handler, ?timeout= variants; Graph fake behind the cache');
}

/** Bytes at /validate: recorded reviews cut, flipped and spliced, and random bytes, under odd content types and URLs. */
async function noiseRow(webhook: InProcessWebhook, cases: Iterable<{ body: Buffer; contentType: string | undefined; path: string }>): Promise<FaultRow> {
  const tally = new Tally();
  for (const noise of cases) {
    const started = performance.now();
    let problem: string | undefined;
    try {
      const response = await withDeadline(
        IN_PROCESS_DEADLINE_MS,
        webhook.app.inject({ method: 'POST', url: noise.path, headers: noise.contentType === undefined ? {} : { 'content-type': noise.contentType }, payload: noise.body }),
      );
      problem = withCause(answerProblem({ status: response.statusCode, body: response.body }, uidIn(noise.body)), webhook);
    } catch (error) {
      problem = describe(error);
    }
    tally.record(performance.now() - started, problem);
  }
  return tally.row('fuzz: raw byte noise at /validate, Fastify inject()', `mangled recorded reviews and random bytes; ${new Set(CONTENT_TYPES).size} content types; ${URL_VARIANTS.length} URL variants incl. ?timeout= abuse`);
}

/** parsePolicy never throws: it returns a policy that has every field the engine reads, or errors with paths. */
function policyRow(documents: Iterable<string>): FaultRow {
  const tally = new Tally();
  for (const text of documents) {
    const started = performance.now();
    let problem: string | undefined;
    try {
      problem = policyProblem(parsePolicy(text));
    } catch (error) {
      problem = `parsePolicy threw ${describe(error)} for ${JSON.stringify(text.slice(0, 80))}`;
    }
    tally.record(performance.now() - started, problem ?? overDeadline(started, text));
  }
  return tally.row('fuzz: policy documents, parsePolicy in-process', 'valid policies mutated (YAML and JSON), YAML tricks (alias bombs, tags, merge keys, __proto__), deep nesting, noise');
}

function policyProblem(result: PolicyParseResult): string | undefined {
  if (!result.ok) {
    const bad = result.errors.length === 0 || result.errors.some((error) => typeof error.path !== 'string' || typeof error.message !== 'string' || error.message === '');
    return bad ? `errors without a path and a message: ${JSON.stringify(result.errors).slice(0, 200)}` : undefined;
  }
  const { policy } = result;
  const strings = (list: unknown) => Array.isArray(list) && list.every((item) => typeof item === 'string' && item !== '');
  if (!['enforce', 'audit'].includes(policy.mode)) return `mode ${JSON.stringify(policy.mode)} accepted`;
  if (!strings(policy.adminGroups) || !strings(policy.clusterAdminRoles)) return 'adminGroups or clusterAdminRoles accepted with a non-string';
  if (!Object.hasOwn(policy.rules, 'cluster-admin') || Object.keys(policy.rules).some((rule) => !(RULE_IDS as readonly string[]).includes(rule))) return `rules ${JSON.stringify(policy.rules)} accepted`;
  if (Object.values(policy.rules).some((action) => !['deny', 'warn', 'off'].includes(action))) return `a rule action ${JSON.stringify(policy.rules)} accepted`;
  const { allow, directory } = policy;
  if (![allow.users, allow.groups, allow.namespaces, allow.requesters.usernames, allow.requesters.groups].every(strings)) return 'an allow list accepted with a non-string';
  if (typeof directory.verify !== 'boolean' || typeof directory.requireSecurityEnabled !== 'boolean' || !['deny', 'allow'].includes(directory.onError)) return `directory ${JSON.stringify(directory)} accepted`;
  return undefined;
}

type TlsCase = { review: ReviewCase } | { body: Buffer; contentType: string | undefined; path: string };

/** The same cases over real TLS to the listening webhook, TLS_CONCURRENCY at a time on kept-alive connections. */
async function tlsRow(webhook: InProcessWebhook, cases: Iterable<TlsCase>, names: { sent: number }): Promise<FaultRow> {
  const client = new HttpsClient(webhook.origin, { ca: webhook.ca, maxSockets: TLS_CONCURRENCY });
  const tally = new Tally();
  let reviews = 0;
  try {
    await forEachConcurrently(cases, TLS_CONCURRENCY, async (fuzzCase) => {
      let answer;
      let uid: string | undefined;
      if ('review' in fuzzCase) {
        reviews += 1;
        names.sent += fuzzCase.review.hostileNames ?? 0;
        uid = fuzzCase.review.uid;
        answer = await client.postJson('/validate', fuzzCase.review.text, { timeoutMs: OVER_TLS_DEADLINE_MS });
      } else {
        uid = uidIn(fuzzCase.body);
        const headers: Record<string, string> = fuzzCase.contentType === undefined ? {} : { 'content-type': fuzzCase.contentType };
        answer = await client.request('POST', fuzzCase.path, fuzzCase.body, { headers, timeoutMs: OVER_TLS_DEADLINE_MS });
      }
      tally.record(answer.ms, withCause(answerProblem(answer, uid), webhook));
    });
  } finally {
    client.close();
  }
  return tally.row('fuzz: reviews and byte noise over real TLS (listening webhook)', `${reviews} structure-aware reviews, ${tally.cases - reviews} noise bodies; ${TLS_CONCURRENCY} kept-alive connections`);
}

/**
 * Every request the Graph fake saw during the run is a GUID lookup; and hostile names handed straight to the Graph
 * directory (past the engine's own GUID filter) are refused there without a request.
 */
async function graphRow(fakes: Fakes, directory: Directory, direct: Iterable<string>, names: { sent: number }): Promise<FaultRow> {
  const tally = new Tally();
  const list = [...new Set([...URL_TRICKS, ...direct])].filter((name) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(name));
  for (let index = 0; index < list.length; index += 25) {
    const batch = list.slice(index, index + 25);
    const started = performance.now();
    const facts = await directory.lookupGroups(batch, AbortSignal.timeout(OVER_TLS_DEADLINE_MS));
    const ms = (performance.now() - started) / batch.length;
    for (const name of batch) {
      const fact = facts.get(name);
      tally.record(ms, fact?.state === 'unavailable' && /not an Entra object ID/.test(fact.reason) ? undefined : `hostile name ${JSON.stringify(name)} answered ${JSON.stringify(fact)}`);
    }
  }
  // The names sent through the webhook survived unless Graph saw a request that is not a GUID lookup.
  const requests = fakes.graph.requests;
  let lookups = 0;
  const groups = new Set<string>();
  const wrongRequests: string[] = [];
  for (const request of requests) {
    const urls = request.method === 'POST' && /^\/(?:v1\.0\/)?\$batch$/.test(request.url) ? (request.batchUrls ?? ['(a $batch without requests)']) : [request.url];
    const wrong = urls.filter((url) => !GROUP_PATH.test(url.startsWith('/') ? url : `/${url}`));
    lookups += urls.length;
    for (const url of urls) groups.add(url.replace(/^\/(?:v1\.0\/)?/, '').split('?')[0]!);
    if (wrong.length > 0) wrongRequests.push(`Graph saw ${request.method} ${request.url} ${JSON.stringify(wrong)}`);
  }
  for (let index = 0; index < names.sent; index++) tally.record(0, wrongRequests[index]);
  for (const problem of wrongRequests.slice(names.sent)) tally.record(0, problem);
  return tally.row(
    'Graph URL injection: hostile subject names',
    `${names.sent} hostile names through the webhook + ${list.length} straight into the Graph directory (refused there, no request); the Graph fake saw ${requests.length} requests (${lookups} lookups of ${groups.size} groups), each /groups/<GUID> or a $batch of them`,
  );
}

// --- process health ----------------------------------------------------------------------------------------------

/** Watches for unhandled rejections and uncaught exceptions, and remembers Object.prototype as it was. */
function watchProcess(): { row(): FaultRow; stop(): void } {
  const seen: string[] = [];
  const onRejection = (reason: unknown) => seen.push(`unhandled rejection: ${describe(reason)}`);
  const onException = (error: unknown) => seen.push(`uncaught exception: ${describe(error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  const before = Object.getOwnPropertyNames(Object.prototype).sort().join(',');
  return {
    row() {
      const after = Object.getOwnPropertyNames(Object.prototype).sort().join(',');
      const probe = {} as Record<string, unknown>;
      const checks = [
        seen.length === 0 ? undefined : seen[0],
        after === before && probe['polluted'] === undefined && Object.getPrototypeOf(probe) === Object.prototype ? undefined : `Object.prototype changed: ${after}`,
        Array.prototype.hasOwnProperty('polluted') ? 'Array.prototype changed' : undefined,
      ];
      const tally = new Tally();
      for (const problem of checks) tally.record(0, problem);
      return { ...tally.row('process after every case above', 'no unhandled rejection or uncaught exception; Object.prototype and Array.prototype unchanged'), worstLatencyMs: undefined };
    },
    stop() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

// --- helpers -----------------------------------------------------------------------------------------------------

/** The API server's default RBAC objects (test/fixtures/bootstrap-*.yaml) in a role cache that has listed everything. */
function bootstrapRoleCache(): RoleCache {
  const cache = new RoleCache();
  for (const file of ['bootstrap-roles-kube-apiserver-1.20.yaml', 'bootstrap-rbac-kube-apiserver-1.20.yaml']) {
    const items = ((parseYaml(readFileSync(`${LOCAL_FIXTURES}${file}`, 'utf8')) as { items?: Record<string, any>[] }).items ?? []);
    for (const item of items) if (['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].includes(item['kind'])) cache.upsert(item['kind'] as RbacKind, item);
  }
  for (const kind of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'] as const) cache.markListed(kind);
  return cache;
}

function uidIn(body: Buffer): string | undefined {
  try {
    const uid = (JSON.parse(body.toString('utf8')) as Record<string, any> | null)?.['request']?.['uid'];
    return typeof uid === 'string' ? uid : undefined;
  } catch {
    return undefined;
  }
}

/** A hang, when a case took longer than its deadline even though it ended. */
function overDeadline(started: number, input: string): string | undefined {
  const ms = performance.now() - started;
  return ms > IN_PROCESS_DEADLINE_MS ? `hang: ${ms.toFixed(0)} ms for ${input.length} characters starting ${JSON.stringify(input.slice(0, 60))}` : undefined;
}

/** A problem with the server's last 5xx cause appended, when there was one. */
function withCause(problem: string | undefined, webhook: InProcessWebhook): string | undefined {
  if (problem === undefined || !/^HTTP 5/.test(problem)) return problem;
  return `${problem} — server: ${webhook.serverErrors.at(-1) ?? 'no error recorded'}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
