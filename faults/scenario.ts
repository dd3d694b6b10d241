/**
 * The fault suite's contract: each file in faults/scenarios/ default-exports one Scenario, and `make faults`
 * (faults/run.ts) runs them in file-name order and prints one table of every row.
 */

/** One line of the table: an attack or fault, how many cases were tried, how many the webhook survived. */
export interface FaultRow {
  /** What was tried, e.g. `fuzz: AdmissionReview bodies (structure-aware)` or `Graph 429 storm, no Retry-After`. */
  readonly fault: string;
  readonly cases: number;
  /** Cases that ended as they must (a well-formed answer in time, the expected decision, no crash). */
  readonly survived: number;
  /** The slowest answer among the cases, in ms; undefined where latency means nothing (e.g. a static check). */
  readonly worstLatencyMs?: number | undefined;
  /** What "survived" meant here, or a figure worth keeping (p99 of good requests under attack, the shed point…). */
  readonly note?: string;
  /**
   * Set when the check could not run on this machine for a reason outside the webhook (the only case: the registry
   * does not serve npm's audit endpoint). Such a row is printed as NOT RUN with this reason and listed at the end;
   * it fails the run only with FAULTS_STRICT=1. Anything the check did find still fails the run.
   */
  readonly notRun?: string;
}

export interface ScenarioContext {
  /** True in CI (`FAULTS_QUICK=1`, the default for `make faults`): keep the run short; false for a full run. */
  readonly quick: boolean;
  /** The soak's length in minutes (`SOAK_MINUTES`, default 2 in quick runs, 30 otherwise). */
  readonly soakMinutes: number;
  /** Progress lines, on standard error. */
  readonly log: (message: string) => void;
}

export interface Scenario {
  /** Short, shown as the table's section heading. */
  readonly name: string;
  run(context: ScenarioContext): Promise<readonly FaultRow[]>;
}

export function defineScenario(scenario: Scenario): Scenario {
  return scenario;
}
