/**
 * `?timeout=` as a client other than the API server may send it: the fault suite's fuzzer found that
 * `?timeout=10000000s` made the directory deadline larger than AbortSignal.timeout takes, and the review a 500.
 * The deadline is now read as at most the API server's own maximum of 30 s.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Directory } from '../../src/directory/port.ts';
import { buildServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { lookupDeadlineMs } from '../../src/http/validate-route.ts';
import { GROUP_ID, policyWith, recordedReview } from '../helpers.ts';

const TLS = await generateSelfSigned();

/** A directory with no cache: every review with a group waits for it under the deadline ?timeout= gives. */
const UNCACHED: Directory = {
  source: 'test directory',
  lookupGroups: async (ids) => new Map(ids.map((id) => [id, { state: 'found', displayName: 'Payments Team', securityEnabled: true }])),
};

const Timeout = suite('validate :: ?timeout= abuse');

for (const timeout of ['31s', '10000000s', '99999999999999999999s']) {
  Timeout(`lookupDeadlineMs :: ${timeout} :: read as 30 s (18 s for lookups)`, () => {
    assert.is(lookupDeadlineMs(timeout), 18_000);
  });

  Timeout(`validate :: ?timeout=${timeout} with a lookup to wait for :: an AdmissionReview, not a 500`, async () => {
    const app = buildServer({ tls: TLS, currentPolicy: () => policyWith(), directory: UNCACHED });
    try {
      const review = recordedReview('01-CREATE-RoleBinding-payments-viewers.json');
      assert.is(review['request']['object']['subjects'][0]['name'], GROUP_ID);
      const res = await app.inject({ method: 'POST', url: `/validate?timeout=${timeout}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });
      assert.is(res.statusCode, 200, res.body);
      assert.is(JSON.parse(res.body).response.uid, review['request']['uid']);
    } finally {
      await app.close();
    }
  });
}

Timeout.run();
