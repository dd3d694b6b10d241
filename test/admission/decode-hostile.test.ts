/**
 * Inputs the fault suite's fuzzer (faults/scenarios/01-hostile-input.ts) found to break decode: every one must be
 * refused with an InvalidInputError that says what is wrong, in a message of bounded length.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidInputError } from '../../src/admission/narrow.ts';
import { decodeAdmissionReview } from '../../src/admission/decode.ts';
import { recordedReview } from '../helpers.ts';

/** A JSON array nested `depth` deep, parsed from text as the webhook's JSON parser would (no recursion to build it). */
function nested(depth: number): unknown {
  return JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
}

const Hostile = suite('decode :: hostile envelope');

const CASES: readonly [name: string, apiVersion: unknown, kind: unknown, shows: RegExp][] = [
  ['apiVersion an array nested 100,000 deep', nested(100_000), 'AdmissionReview', /got an array AdmissionReview/],
  ['kind an array nested 100,000 deep', 'admission.k8s.io/v1', nested(100_000), /got admission\.k8s\.io\/v1 an array/],
  ['apiVersion a 1 MB string', 'a'.repeat(1_000_000), 'AdmissionReview', /got a{64} AdmissionReview/],
  ['apiVersion an object', { toString: 'x' }, 'AdmissionReview', /got an object AdmissionReview/],
  ['apiVersion a number', 1, 'AdmissionReview', /got number 1 AdmissionReview/],
];

for (const [name, apiVersion, kind, shows] of CASES) {
  Hostile(`decode :: ${name} :: InvalidInputError at apiVersion/kind, message under 300 characters`, () => {
    const review = { ...recordedReview('01-CREATE-RoleBinding-payments-viewers.json'), apiVersion, kind };
    let thrown: unknown;
    try {
      decodeAdmissionReview(review);
    } catch (error) {
      thrown = error;
    }
    assert.instance(thrown, InvalidInputError, `expected InvalidInputError, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)}`);
    const error = thrown as InvalidInputError;
    assert.is(error.path, 'apiVersion/kind');
    assert.match(error.message, shows);
    assert.match(error.message, /admissionReviewVersions: \[v1\]/);
    assert.ok(error.message.length < 300, `message of ${error.message.length} characters`);
  });
}

Hostile.run();
