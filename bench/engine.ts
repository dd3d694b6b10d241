import { decodeAdmissionReview } from '../src/admission/decode.ts';
import { evaluate } from '../src/policy/engine.ts';
import { factsNeeded } from '../src/policy/needs.ts';
import { DEFAULT_POLICY } from '../src/policy/parse.ts';
import { directoryFacts } from './facts.ts';
import { admissionReview } from './payloads.ts';
import { benchRoleSource } from './roles.ts';
import { fmt, type Row } from './report.ts';

const BATCH = 200;
const BATCHES = 40;

/**
 * Part 3: the pure engine alone on a decoded review (factsNeeded, the role facts of the bound ClusterRole view from a
 * synced role cache, evaluate), the fastest of 40 batches of 200 (the least disturbed by other work on the machine).
 * Every review is decoded afresh, outside the timing, as the webhook decodes each review once.
 */
export function measureEngine(report: (row: Row) => void): Record<string, { microsPerReview: number; reviewsPerSecond: number }> {
  const figures: Record<string, { microsPerReview: number; reviewsPerSecond: number }> = {};
  for (const subjects of [1, 10, 50]) {
    const text = admissionReview(subjects);
    const groups = directoryFacts(subjects);
    const roles = benchRoleSource();
    let best = Infinity;
    for (let batch = 0; batch < BATCHES; batch++) {
      const changes = Array.from({ length: BATCH }, () => decodeAdmissionReview(JSON.parse(text)));
      const started = performance.now();
      for (const change of changes) {
        const needs = factsNeeded(change, DEFAULT_POLICY);
        evaluate(change, DEFAULT_POLICY, { ...groups, roles: roles.factsFor(needs) });
      }
      best = Math.min(best, (performance.now() - started) / BATCH);
    }
    const microsPerReview = best * 1000;
    figures[`${subjects} subjects`] = { microsPerReview, reviewsPerSecond: 1e6 / microsPerReview };
    report([`engine alone: ${subjects} subjects (UPDATE, ClusterRole view known)`, `${fmt(microsPerReview, 1)} µs per review`, `${fmt(1e6 / microsPerReview, 0)} reviews/s`, '']);
  }
  return figures;
}
