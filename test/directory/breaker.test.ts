import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CircuitBreaker, parseRetryAfter, type Admission, type BreakerState, type Permit } from '../../src/directory/breaker.ts';

interface Context {
  now: number;
  random: number;
  changes: [BreakerState, string][];
  breaker: CircuitBreaker;
}

function permit(admission: Admission): Permit {
  if (!admission.allowed) throw new assert.Assertion({ message: `refused: ${admission.reason}`, operator: 'allowed', expects: true, actual: false });
  return admission.permit;
}

function refusal(admission: Admission): { reason: string; throttled: boolean } {
  if (admission.allowed) throw new assert.Assertion({ message: 'admitted, expected a refusal', operator: 'allowed', expects: false, actual: true });
  return admission;
}

const breaker = suite<Context>('breaker', {} as Context);
breaker.before.each((context) => {
  context.now = 0;
  context.random = 0.5;
  context.changes = [];
  context.breaker = new CircuitBreaker({
    now: () => context.now,
    random: () => context.random,
    onStateChange: (state, reason) => context.changes.push([state, reason]),
  });
});

breaker('closed :: admits every call, successes keep it closed', ({ breaker }) => {
  for (let index = 0; index < 5; index++) permit(breaker.admit()).succeeded();
  assert.is(breaker.state, 'closed');
  const concurrent = [permit(breaker.admit()), permit(breaker.admit())];
  assert.is(concurrent.filter((p) => p.probe).length, 0);
});

breaker('429 with Retry-After :: open for exactly that window, refusals say so, then one probe', (context) => {
  const { breaker } = context;
  assert.is(permit(breaker.admit()).throttled(30_000), 'Microsoft Graph is throttling (Retry-After 30s)');
  assert.is(breaker.state, 'open');
  context.now = 29_999;
  assert.equal(refusal(breaker.admit()), { allowed: false, reason: 'Microsoft Graph is throttling (Retry-After 30s)', throttled: true } as never);
  context.now = 30_000;
  assert.is(breaker.state, 'half-open');
  const probe = permit(breaker.admit());
  assert.ok(probe.probe);
  assert.match(refusal(breaker.admit()).reason, /throttling/, 'only one probe at a time');
  probe.succeeded();
  assert.is(breaker.state, 'closed');
  permit(breaker.admit());
  assert.equal(context.changes.map(([state]) => state), ['open', 'half-open', 'closed']);
});

breaker('429 :: a probe throttled again reopens for the new window', (context) => {
  const { breaker } = context;
  permit(breaker.admit()).throttled(10_000);
  context.now = 10_000;
  permit(breaker.admit()).throttled(60_000);
  context.now = 69_999;
  assert.is(breaker.state, 'open');
  context.now = 70_000;
  assert.is(breaker.state, 'half-open');
});

breaker('429 :: a bogus Retry-After is capped (default 10 min)', (context) => {
  permit(context.breaker.admit()).throttled(24 * 3600_000);
  context.now = 600_000;
  assert.is(context.breaker.state, 'half-open');
});

breaker('429 without Retry-After :: backs off like a failure, refusals say throttling', (context) => {
  assert.is(permit(context.breaker.admit()).throttled(undefined), 'Microsoft Graph is throttling (no Retry-After given)');
  const refused = refusal(context.breaker.admit());
  assert.ok(refused.throttled);
  context.now = 750;
  assert.is(context.breaker.state, 'half-open');
});

breaker('5xx :: exponential backoff with jitter, capped at 60 s', (context) => {
  const { breaker } = context;
  const windows: number[] = [];
  for (let failure = 0; failure < 10; failure++) {
    const start = context.now;
    permit(breaker.admit()).failed('Microsoft Graph answered HTTP 503');
    windows.push(breaker.retryInMs);
    context.now = start + breaker.retryInMs;
    assert.is(breaker.state, 'half-open');
  }
  // Equal jitter at random 0.5: three quarters of 1 s, 2 s, 4 s, …, then the 60 s cap.
  assert.equal(windows, [750, 1500, 3000, 6000, 12_000, 24_000, 45_000, 45_000, 45_000, 45_000]);
});

breaker('5xx :: each opening tells the listener the failure itself, without the wait that grows between probes', (context) => {
  const told: Array<[string, string]> = [];
  const local = new CircuitBreaker({ now: () => context.now, random: () => 0.5, onStateChange: (state, reason, cause) => state === 'open' && told.push([reason, cause]) });
  for (let failure = 0; failure < 3; failure++) {
    permit(local.admit()).failed('Microsoft Graph answered HTTP 503');
    context.now += local.retryInMs;
  }
  assert.equal(told.map(([, cause]) => cause), Array(3).fill('Microsoft Graph answered HTTP 503'));
  assert.equal(new Set(told.map(([reason]) => reason)).size, 3, 'the reasons name each wait');
});

breaker('5xx :: jitter spreads the window between half and all of the backoff', (_context) => {
  const windows = [0, 0.999_999].map((random) => {
    const local = new CircuitBreaker({ now: () => 0, random: () => random, baseBackoffMs: 8000 });
    permit(local.admit()).failed('x');
    return local.retryInMs;
  });
  assert.is(windows[0], 4000);
  assert.ok((windows[1] ?? 0) > 7999 && (windows[1] ?? 0) <= 8000);
  let clock = 0;
  const capped = new CircuitBreaker({ now: () => clock, random: () => 0.999_999, baseBackoffMs: 1000, maxBackoffMs: 60_000 });
  for (let failure = 0; failure < 12; failure++) {
    permit(capped.admit()).failed('x');
    assert.ok(capped.retryInMs <= 60_000, `window ${capped.retryInMs}`);
    clock += capped.retryInMs;
  }
  assert.ok(clock > 5 * 60_000, 'the windows did grow to the cap');
});

breaker('5xx :: refusal names the failure and when Graph is called again', (context) => {
  permit(context.breaker.admit()).failed('Microsoft Graph did not answer within 5000 ms');
  assert.equal(refusal(context.breaker.admit()), {
    allowed: false,
    reason: 'Microsoft Graph did not answer within 5000 ms; Microsoft Graph is not called again for 1s',
    throttled: false,
  } as never);
});

breaker('success after recovery :: resets the backoff', (context) => {
  const { breaker } = context;
  permit(breaker.admit()).failed('x');
  context.now += breaker.retryInMs;
  permit(breaker.admit()).failed('x');
  context.now += breaker.retryInMs;
  permit(breaker.admit()).succeeded();
  permit(breaker.admit()).failed('x');
  assert.is(breaker.retryInMs, 750, 'back to the first step');
});

breaker('late outcomes :: a call admitted before the breaker opened neither closes nor extends it', (context) => {
  const { breaker } = context;
  const early = permit(breaker.admit());
  const other = permit(breaker.admit());
  const third = permit(breaker.admit());
  permit(breaker.admit()).throttled(30_000);
  early.succeeded();
  assert.is(breaker.state, 'open', 'an earlier success does not close a throttled breaker');
  other.failed('HTTP 500');
  assert.is(breaker.retryInMs, 30_000, 'an earlier failure does not replace the Retry-After window');
  third.throttled(90_000);
  assert.is(breaker.retryInMs, 90_000, 'a longer Retry-After from Graph is honoured');
});

breaker('probe released :: a cancelled probe lets the next call probe', (context) => {
  const { breaker } = context;
  permit(breaker.admit()).failed('x');
  context.now += breaker.retryInMs;
  permit(breaker.admit()).released();
  assert.ok(permit(breaker.admit()).probe);
});

breaker('permits :: a second outcome on one permit is ignored', (context) => {
  const single = permit(context.breaker.admit());
  single.failed('x');
  context.now += context.breaker.retryInMs;
  single.failed('x');
  assert.is(context.breaker.state, 'half-open');
});

breaker('parseRetryAfter :: seconds, HTTP date, junk', () => {
  assert.is(parseRetryAfter('30', 0), 30_000);
  assert.is(parseRetryAfter(' 0 ', 0), 0);
  assert.is(parseRetryAfter(new Date(90_000).toUTCString(), 30_000), 60_000);
  assert.is(parseRetryAfter(new Date(0).toUTCString(), 30_000), 0);
  assert.is(parseRetryAfter('soon', 0), undefined);
  assert.is(parseRetryAfter('-5', 0), undefined);
  assert.is(parseRetryAfter(undefined, 0), undefined);
  assert.is(parseRetryAfter(null, 0), undefined);
});

breaker.run();
