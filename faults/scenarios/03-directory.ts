/**
 * Issue 8, item 3: directory faults. The webhook as it runs in production (`dist/bin.js serve`, TLS on loopback) with
 * the Entra token fake and the Graph fake, reached through a TCP relay that can refuse connections or put a server
 * with a wrong certificate in Graph's place. Two webhooks run side by side, one per `directory.onError` policy.
 *
 * For each fault: reviews naming never-seen groups (so no cache can answer) are each answered before the API server's
 * timeout (`?timeout=2s`, so the webhook's lookup deadline is 1 s), with the decision onError asks for (deny; or allow
 * with a warning) and a message naming the cause. Then the fault ends and, with nothing restarted, a review is
 * answered with the group found again: the time that takes is the recovery time (the circuit breaker's backoff).
 */
import { randomUUID } from 'node:crypto';
import { FaultRelay } from '../lib/directory-faults-relay.ts';
import { startBadTlsServer, type BadTlsServer } from '../lib/directory-faults-tls.ts';
import { groupBindingReview, startWebhook, type Answered, type SpawnedWebhook } from '../lib/directory-faults-webhook.ts';
import { defineScenario, type FaultRow, type ScenarioContext } from '../scenario.ts';
import { startFakes, type Fakes } from '../../test/fakes/harness.ts';

/** What the API server sends; the webhook's lookup deadline is then max(200, min(0.6 × 2 s, 2 s − 1 s)) = 1 s. */
const WEBHOOK_TIMEOUT = '2s';
const API_SERVER_GIVES_UP_MS = 2_000;
/** The breaker's longest backoff (60 s) plus a lookup: recovery must come within this. */
const RECOVERY_LIMIT_MS = 65_000;
const BURST = 4;

type OnError = 'deny' | 'allow';
const POLICIES: readonly OnError[] = ['deny', 'allow'];
const policyYaml = (onError: OnError) => `apiVersion: entra-rbac-guard/v1\nkind: Policy\ndirectory:\n  onError: ${onError}\n`;

/** Everything a fault may break and mend. */
interface Lab {
  readonly fakes: Fakes;
  readonly relay: FaultRelay;
  readonly graphPort: number;
  readonly badTls: Record<'untrusted' | 'wrong-hostname', BadTlsServer>;
}

interface DirectoryFault {
  readonly fault: string;
  /** The cause, as the deny message and the warning (cut at 256 characters by the API server) must name it. */
  readonly cause: RegExp;
  /** A fault of the sign-in: fresh webhooks start with it in place, before any token is cached. */
  readonly beforeFirstToken?: boolean;
  /**
   * How long calls made during the fault may still end in failure after it is cleared (a hung call ends at Graph's
   * 5 s deadline): recovery is measured again once they have, so their late failures do not spill into the next fault.
   */
  readonly lingersMs?: number;
  inject(lab: Lab): Promise<void> | void;
  clear(lab: Lab): Promise<void> | void;
}

const graphFailure = (failure: NonNullable<Fakes['graph']['failure']>) => (lab: Lab) => void (lab.fakes.graph.failure = failure);
const heal = (lab: Lab) => lab.fakes.graph.heal();

const FAULTS: readonly DirectoryFault[] = [
  {
    fault: 'Graph down (connection refused)',
    cause: /Microsoft Graph could not be reached \(fetch failed \(ECONNREFUSED/,
    inject: (lab) => lab.relay.refuse(),
    clear: (lab) => lab.relay.forwardTo(lab.graphPort),
  },
  {
    fault: 'Graph slow beyond the deadline (3 s > 1 s)',
    cause: /Microsoft Graph did not answer before the review's deadline/,
    inject: (lab) => void (lab.fakes.graph.latencyMs = 3_000),
    clear: (lab) => void (lab.fakes.graph.latencyMs = 0),
  },
  { fault: 'Graph hangs (never answers)', cause: /Microsoft Graph did not answer/, inject: graphFailure({ kind: 'hang' }), clear: heal, lingersMs: 5_500 },
  { fault: 'Graph 429 storm, Retry-After 2 s', cause: /Microsoft Graph is throttling \(Retry-After 2s\)/, inject: graphFailure({ kind: 'throttle', retryAfterSeconds: 2 }), clear: heal },
  {
    fault: 'Graph 429 storm, no Retry-After',
    cause: /Microsoft Graph is throttling \(no Retry-After given\)/,
    inject: graphFailure({ kind: 'throttle', retryAfterSeconds: undefined }),
    clear: heal,
  },
  {
    fault: 'Graph 5xx (500, 502, 504, then 503)',
    cause: /Microsoft Graph answered HTTP 50[0-4]/,
    inject: (lab) => {
      lab.fakes.graph.failNext({ kind: 'status', status: 500, code: 'generalException' }, { kind: 'status', status: 502 }, { kind: 'status', status: 504 });
      lab.fakes.graph.failure = { kind: 'status', status: 503 };
    },
    clear: heal,
  },
  { fault: 'Graph body cut short (Content-Length > body)', cause: /Microsoft Graph's answer was cut short/, inject: graphFailure({ kind: 'truncated' }), clear: heal },
  { fault: 'Graph body not JSON (broken JSON)', cause: /Microsoft Graph sent a malformed answer \(not JSON\)/, inject: graphFailure({ kind: 'malformed' }), clear: heal },
  { fault: 'Graph body not JSON (text/html page)', cause: /Microsoft Graph sent a malformed answer/, inject: graphFailure({ kind: 'not-json' }), clear: heal },
  {
    fault: 'TLS: Graph certificate from an untrusted CA',
    cause: /Microsoft Graph could not be reached \(fetch failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    inject: (lab) => lab.relay.forwardTo(lab.badTls.untrusted.port),
    clear: (lab) => lab.relay.forwardTo(lab.graphPort),
  },
  {
    fault: 'TLS: Graph certificate for another host name',
    cause: /Microsoft Graph could not be reached \(fetch failed \(ERR_TLS_CERT_ALTNAME_INVALID/,
    inject: (lab) => lab.relay.forwardTo(lab.badTls['wrong-hostname'].port),
    clear: (lab) => lab.relay.forwardTo(lab.graphPort),
  },
  {
    fault: 'token endpoint down (no token yet)',
    cause: /authentication to Microsoft Entra ID failed: the sign-in endpoint https:\/\/127\.0\.0\.1:\d+ could/,
    beforeFirstToken: true,
    inject: (lab) => void (lab.fakes.entra.mode = 'down'),
    clear: (lab) => void (lab.fakes.entra.mode = 'ok'),
  },
  {
    fault: 'token endpoint answers invalid_client',
    cause: /authentication to Microsoft Entra ID failed: invalid_client/,
    beforeFirstToken: true,
    inject: (lab) => void (lab.fakes.entra.mode = 'invalid_client'),
    clear: (lab) => void (lab.fakes.entra.mode = 'ok'),
  },
];

type Pair = Record<OnError, SpawnedWebhook>;

interface CaseResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly problem?: string;
}

export default defineScenario({
  name: 'Directory faults (Microsoft Graph, Entra ID sign-in)',
  async run(context) {
    const reviewsPerPolicy = context.quick ? 8 : 40;
    const fakes = await startFakes([]);
    const graphPort = Number(new URL(fakes.graph.endpoint).port);
    const cleanups: Array<() => Promise<void>> = [() => fakes.close()];
    const started: SpawnedWebhook[] = [];
    try {
      const relay = await FaultRelay.start(graphPort);
      cleanups.push(() => relay.close());
      const [untrusted, wrongHostname] = await Promise.all([startBadTlsServer('untrusted'), startBadTlsServer('wrong-hostname')]);
      cleanups.push(() => untrusted.close(), () => wrongHostname.close());
      const lab: Lab = { fakes, relay, graphPort, badTls: { untrusted, 'wrong-hostname': wrongHostname } };
      const env = { ...fakes.env, ENTRA_RBAC_GUARD_GRAPH_ENDPOINT: relay.endpoint };
      const startPair = async (): Promise<Pair> => {
        const [deny, allow] = await Promise.all(POLICIES.map((onError) => startWebhook({ policyYaml: policyYaml(onError), env })));
        started.push(deny!, allow!);
        return { deny: deny!, allow: allow! };
      };

      const rows: FaultRow[] = [];
      let pair = await startPair();
      await expectRecovered(pair, lab, 'warm-up');
      for (const fault of FAULTS) {
        if (fault.beforeFirstToken) {
          await Promise.all(POLICIES.map((onError) => pair[onError].stop()));
          await fault.inject(lab);
          pair = await startPair();
        } else {
          await fault.inject(lab);
        }
        rows.push(await underFault(context, fault, pair, lab, reviewsPerPolicy));
      }
      rows.push(await tokenEndpointDownWithTokenCached(context, pair, lab, reviewsPerPolicy));
      rows.push(noCrash(context, started));
      return rows;
    } finally {
      await Promise.allSettled(started.map((webhook) => webhook.stop()));
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
});

/** Reviews under the fault, then the fault cleared and the time until both webhooks find groups again. */
async function underFault(context: ScenarioContext, fault: DirectoryFault, pair: Pair, lab: Lab, reviewsPerPolicy: number): Promise<FaultRow> {
  const graphCallsBefore = lab.fakes.graph.calls;
  const results = (await Promise.all(POLICIES.map((onError) => reviewInBursts(reviewsPerPolicy, () => judgeUnavailable(pair[onError], onError, fault.cause))))).flat();
  const graphCalls = lab.fakes.graph.calls - graphCallsBefore;
  await fault.clear(lab);
  const cleared = performance.now();
  const recovery = await Promise.all(POLICIES.map((onError) => timeToRecovery(pair[onError], lab)));
  let relapse: CaseResult[] = [];
  if (fault.lingersMs !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, fault.lingersMs! - (performance.now() - cleared))));
    relapse = await Promise.all(POLICIES.map((onError) => timeToRecovery(pair[onError], lab)));
  }
  const all = [...results, ...recovery, ...relapse];
  for (const problem of new Set(all.filter((result) => !result.ok).map((result) => result.problem))) context.log(`✘ ${fault.fault}: ${problem}`);
  const recovered =
    `recovered in ${formatSeconds(recovery.map((result) => result.ms))}` +
    (relapse.length > 0 ? `, again ${formatSeconds(relapse.map((result) => result.ms))} after the calls it hung timed out` : '');
  context.log(`${fault.fault}: ${recovered}`);
  return {
    fault: fault.fault,
    cases: all.length,
    survived: all.filter((result) => result.ok).length,
    worstLatencyMs: Math.max(...results.map((result) => result.ms)),
    note: `deny & allow+warning, cause named; ${recovered}${fault.fault.startsWith('Graph') ? `; ${graphCalls} Graph calls for ${results.length} reviews` : ''}`,
  };
}

/** A review of a never-seen group, answered in time with the decision onError asks for and the cause named. */
async function judgeUnavailable(webhook: SpawnedWebhook, onError: OnError, cause: RegExp): Promise<CaseResult> {
  const review = groupBindingReview(randomUUID());
  const answered = await webhook.review(review.body, WEBHOOK_TIMEOUT);
  const problem = wellFormed(answered, review.uid) ?? (onError === 'deny' ? deniedWithCause(answered, cause) : allowedWithWarning(answered, cause));
  return { ok: problem === undefined, ms: answered.ms, ...(problem ? { problem: `onError ${onError}: ${problem}` } : {}) };
}

function wellFormed(answered: Answered, uid: string): string | undefined {
  if (answered.status !== 200 || !answered.answer) return `no AdmissionReview (HTTP ${answered.status}${answered.error ? `: ${answered.error}` : ''})`;
  if (answered.answer.uid !== uid) return `the answer's uid ${answered.answer.uid} is not the review's ${uid}`;
  if (answered.ms >= API_SERVER_GIVES_UP_MS) return `answered after ${Math.round(answered.ms)} ms: the API server gives up at ${API_SERVER_GIVES_UP_MS} ms`;
  return undefined;
}

function deniedWithCause(answered: Answered, cause: RegExp): string | undefined {
  const message = answered.answer?.status?.message ?? '';
  if (answered.answer?.allowed !== false) return `allowed, expected a denial: ${JSON.stringify(answered.answer)}`;
  if (!message.includes('[directory-unavailable]')) return `denied, but not by directory-unavailable: ${message}`;
  if (!cause.test(message)) return `the denial does not name the cause (${cause}): ${message}`;
  return undefined;
}

function allowedWithWarning(answered: Answered, cause: RegExp): string | undefined {
  const warning = answered.answer?.warnings?.find((text) => text.includes('[directory-unavailable]'));
  if (answered.answer?.allowed !== true) return `denied, expected allowed with a warning: ${answered.answer?.status?.message}`;
  if (!warning) return `allowed without the directory-unavailable warning: ${JSON.stringify(answered.answer?.warnings)}`;
  if (!cause.test(warning)) return `the warning does not name the cause (${cause}): ${warning}`;
  return undefined;
}

/** Polls with a new group the Graph fake knows until the webhook finds it (allowed, no warning). */
async function timeToRecovery(webhook: SpawnedWebhook, lab: Lab): Promise<CaseResult> {
  const started = performance.now();
  let last = '';
  while (performance.now() - started < RECOVERY_LIMIT_MS) {
    const found = await reviewOfKnownGroup(webhook, lab);
    if (found.ok) return { ok: true, ms: performance.now() - started };
    last = found.problem ?? '';
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { ok: false, ms: performance.now() - started, problem: `not recovered within ${RECOVERY_LIMIT_MS / 1000} s; last answer: ${last}` };
}

async function reviewOfKnownGroup(webhook: SpawnedWebhook, lab: Lab): Promise<CaseResult> {
  const id = randomUUID();
  lab.fakes.graph.groups.set(id, { id, displayName: `Faults ${id.slice(0, 8)}`, securityEnabled: true });
  const review = groupBindingReview(id);
  const answered = await webhook.review(review.body, WEBHOOK_TIMEOUT);
  const problem =
    wellFormed(answered, review.uid) ??
    (answered.answer?.allowed === true && !answered.answer.warnings?.length ? undefined : `the group was not found: ${JSON.stringify(answered.answer)}`);
  return { ok: problem === undefined, ms: answered.ms, ...(problem ? { problem } : {}) };
}

async function expectRecovered(pair: Pair, lab: Lab, what: string): Promise<void> {
  for (const onError of POLICIES) {
    const result = await timeToRecovery(pair[onError], lab);
    if (!result.ok) throw new Error(`${what} (onError ${onError}): ${result.problem}`);
  }
}

/** A cached token (valid about an hour) carries the webhook through a sign-in outage: groups are still found. */
async function tokenEndpointDownWithTokenCached(context: ScenarioContext, pair: Pair, lab: Lab, reviewsPerPolicy: number): Promise<FaultRow> {
  await expectRecovered(pair, lab, 'before the cached-token case');
  lab.fakes.entra.mode = 'down';
  try {
    const results = (await Promise.all(POLICIES.map((onError) => reviewInBursts(reviewsPerPolicy, () => reviewOfKnownGroup(pair[onError], lab))))).flat();
    for (const problem of new Set(results.filter((result) => !result.ok).map((result) => result.problem))) context.log(`✘ token endpoint down, token cached: ${problem}`);
    return {
      fault: 'token endpoint down, token cached',
      cases: results.length,
      survived: results.filter((result) => result.ok).length,
      worstLatencyMs: Math.max(...results.map((result) => result.ms)),
      note: 'groups still found: the token (≈1 h) outlives the outage',
    };
  } finally {
    lab.fakes.entra.mode = 'ok';
  }
}

/** No webhook process ended by itself or wrote to standard error (an uncaught exception, a stack trace). */
function noCrash(context: ScenarioContext, webhooks: readonly SpawnedWebhook[]): FaultRow {
  const problems = webhooks.map((webhook) => webhook.crashed() ?? (webhook.stderr().trim() || undefined) ?? (webhook.log().some((line) => (line.level ?? 0) >= 60) ? 'a fatal log line' : undefined));
  for (const problem of problems) if (problem) context.log(`✘ a webhook process: ${problem.slice(0, 500)}`);
  return {
    fault: 'webhook processes: no crash, no stack trace',
    cases: webhooks.length,
    survived: problems.filter((problem) => problem === undefined).length,
    note: 'none exited by itself; empty stderr; no fatal log line',
  };
}

/** `count` cases, `BURST` at a time. */
async function reviewInBursts(count: number, one: () => Promise<CaseResult>): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (let done = 0; done < count; done += BURST) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(BURST, count - done) }, one))));
  }
  return results;
}

function formatSeconds(values: readonly number[]): string {
  return values.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(' / ');
}
