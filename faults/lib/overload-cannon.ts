/**
 * Load from autocannon (programmatic API) for scenarios 06 (overload) and 08 (soak): POST /validate over kept-alive
 * TLS connections, every answer checked by the caller's oracle against the uid its request carried, and latencies
 * kept per HTTP status (judged answers and shed ones are told apart).
 */
import autocannon from 'autocannon';

export interface Body {
  readonly text: string;
  /** request.uid inside `text`: what a 200 answer must echo. */
  readonly uid: string;
}

export interface CannonOptions {
  readonly origin: string;
  readonly ca: string;
  readonly connections: number;
  readonly seconds: number;
  /** Requests per second, all connections together; as fast as answers come when omitted. */
  readonly overallRate?: number;
  /** A request with no answer after this long counts as a timeout (autocannon's unit: seconds). */
  readonly timeoutSeconds: number;
  /** The body of each request, in turn. */
  readonly nextBody: () => Body;
  /** What is wrong with an answer, or undefined when it is as it must be. */
  readonly check: (status: number, body: string, uid: string) => string | undefined;
  /** Default `/validate?timeout=10s`, as the API server calls with timeoutSeconds 10. */
  readonly path?: string;
}

export interface CannonResult {
  /** Latencies (ms, client side) by HTTP status. */
  readonly latencies: ReadonlyMap<number, readonly number[]>;
  readonly answered: number;
  /** Answers the oracle refused, and the first few reasons. */
  readonly refused: number;
  readonly problems: readonly string[];
  /** Connection errors and requests with no answer in time. */
  readonly errors: number;
  readonly timeouts: number;
  readonly seconds: number;
}

interface Context {
  uid?: string;
}

export async function cannon(options: CannonOptions): Promise<CannonResult> {
  const latencies = new Map<number, number[]>();
  const problems: string[] = [];
  let refused = 0;
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${options.origin}${options.path ?? '/validate?timeout=10s'}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: options.connections,
        duration: options.seconds,
        timeout: options.timeoutSeconds,
        ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
        tlsOptions: { ca: options.ca },
        requests: [
          {
            setupRequest: (request, context) => {
              const body = options.nextBody();
              (context as Context).uid = body.uid;
              return { ...request, body: body.text };
            },
            onResponse: (status, body, context) => {
              const problem = options.check(status, body, (context as Context).uid ?? '');
              if (problem === undefined) return;
              refused += 1;
              if (problems.length < 5) problems.push(problem);
            },
          },
        ],
      },
      (error, result) => (error ? reject(error as Error) : resolve(result)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      const list = latencies.get(status) ?? [];
      list.push(ms);
      latencies.set(status, list);
    });
  });
  return {
    latencies,
    answered: [...latencies.values()].reduce((sum, list) => sum + list.length, 0),
    refused,
    problems,
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    seconds: (performance.now() - started) / 1000,
  };
}
