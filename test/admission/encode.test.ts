import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WARNINGS_TOTAL_BYTES, WARNING_MAX_CHARS, encodeDecision, fitWarnings, warningText } from '../../src/admission/encode.ts';
import { ADMISSION_V1 } from '../../src/admission/types.ts';
import { allow, type Decision, type Violation } from '../../src/policy/decision.ts';
import { RULE_IDS, type RuleId } from '../../src/policy/model.ts';
import { GROUP_ID } from '../helpers.ts';

const UID = '31d9ae9e-84c2-469f-bf57-c10521ff6452';
const QUALIFIED_NAME_SEGMENT = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function violation(rule: RuleId, action: 'deny' | 'warn', message: string, downgradedBecause?: string): Violation {
  return {
    rule,
    action,
    subject: { kind: 'User', name: 'carol@fabrikam.com' },
    message,
    ...(downgradedBecause ? { downgradedBecause } : {}),
  };
}

function decision(violations: readonly Violation[], notes: readonly string[] = []): Decision {
  return { allowed: !violations.some((v) => v.action === 'deny'), violations, notes };
}

const USER_DENIED = violation('user-subject', 'deny', 'User "carol@fabrikam.com" is bound directly: bind an Entra group instead');
const GROUP_NAME_DENIED = violation('group-format', 'deny', 'Group "Payments Team" is a display name: use the object ID');
const BROAD_WARNED = violation('broad-group', 'warn', 'Group "system:authenticated" grants every signed-in identity', 'mode is audit');

function utf8Bytes(texts: readonly string[]): number {
  return texts.reduce((total, text) => total + Buffer.byteLength(text, 'utf8'), 0);
}

function codePoints(text: string): number {
  return [...text].length;
}

/** Every warning is one line of at most 256 characters, free of control characters, all within 4 KiB. */
function assertFits(warnings: readonly string[]): void {
  for (const warning of warnings) {
    assert.not.match(warning, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, `control character in ${JSON.stringify(warning)}`);
    assert.ok(codePoints(warning) <= WARNING_MAX_CHARS, `${codePoints(warning)} characters > ${WARNING_MAX_CHARS}`);
    assert.ok(warning.length > 0, 'no empty warning');
    assert.not.match(warning, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, 'no broken surrogate pair');
  }
  assert.ok(utf8Bytes(warnings) <= WARNINGS_TOTAL_BYTES, `${utf8Bytes(warnings)} bytes > ${WARNINGS_TOTAL_BYTES}`);
}

// --- envelope -----------------------------------------------------------------------------------------------------

const Envelope = suite('encode :: envelope');

Envelope('encode :: any decision :: uid and apiVersion echoed, kind AdmissionReview', () => {
  const review = encodeDecision(UID, ADMISSION_V1, allow());
  assert.is(review.apiVersion, ADMISSION_V1);
  assert.is(review.kind, 'AdmissionReview');
  assert.is(review.response.uid, UID);
});

Envelope('encode :: another apiVersion :: echoed as given', () => {
  assert.is(encodeDecision('u-2', 'admission.k8s.io/v1beta1', allow()).apiVersion, 'admission.k8s.io/v1beta1');
  assert.is(encodeDecision('u-2', 'admission.k8s.io/v1beta1', allow()).response.uid, 'u-2');
});

Envelope('encode :: allowed with no violations and no notes :: exactly uid and allowed', () => {
  const review = encodeDecision(UID, ADMISSION_V1, allow());
  assert.equal(review, { apiVersion: ADMISSION_V1, kind: 'AdmissionReview', response: { uid: UID, allowed: true } });
  assert.not.ok('status' in review.response);
  assert.not.ok('warnings' in review.response);
  assert.not.ok('auditAnnotations' in review.response);
});

Envelope('encode :: allowed with an exemption :: still no status, warnings or annotations', () => {
  const review = encodeDecision(UID, ADMISSION_V1, allow([], 'namespace kube-system is in allow.namespaces'));
  assert.equal(review.response, { uid: UID, allowed: true });
});

Envelope('encode :: response :: survives JSON round trip unchanged', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED, BROAD_WARNED], ['no directory checked the groups']));
  assert.equal(JSON.parse(JSON.stringify(review)), review);
});

Envelope.run();

// --- denial -------------------------------------------------------------------------------------------------------

const Denial = suite('encode :: denial');

Denial('encode :: one denied violation :: status 403 Forbidden with its message', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED]));
  assert.is(review.response.allowed, false);
  assert.equal(review.response.status, { code: 403, reason: 'Forbidden', message: USER_DENIED.message });
});

Denial('encode :: two denied violations :: one line each, in order', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED, GROUP_NAME_DENIED]));
  assert.equal(review.response.status?.message.split('\n'), [USER_DENIED.message, GROUP_NAME_DENIED.message]);
});

Denial('encode :: denied plus warned violations :: status lists only the denied, warnings only the warned', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED, BROAD_WARNED]));
  assert.is(review.response.status?.message, USER_DENIED.message);
  assert.equal(review.response.warnings, [warningText(BROAD_WARNED)]);
  assert.not.ok(review.response.warnings?.includes(USER_DENIED.message), 'a denial is not repeated as a warning');
});

Denial('encode :: allowed decision :: no status even with warned violations', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([BROAD_WARNED]));
  assert.is(review.response.allowed, true);
  assert.not.ok('status' in review.response);
});

Denial.run();

// --- warnings -----------------------------------------------------------------------------------------------------

const Warnings = suite('encode :: warnings');

Warnings('encode :: warned violation with a downgrade reason :: warning names the reason', () => {
  const review = encodeDecision(UID, ADMISSION_V1, decision([BROAD_WARNED]));
  assert.equal(review.response.warnings, [`Not denied because mode is audit: ${BROAD_WARNED.message}`]);
});

Warnings('encode :: warned violation without a downgrade reason :: warning is the message', () => {
  const warned = violation('group-unknown', 'warn', `Group "${GROUP_ID}" does not exist`);
  assert.equal(encodeDecision(UID, ADMISSION_V1, decision([warned])).response.warnings, [warned.message]);
});

Warnings('encode :: notes :: appended after violation warnings', () => {
  const note = 'no directory is configured: group IDs were not checked';
  const review = encodeDecision(UID, ADMISSION_V1, decision([BROAD_WARNED], [note]));
  assert.equal(review.response.warnings, [warningText(BROAD_WARNED), note]);
});

Warnings('encode :: notes only :: warnings without annotations', () => {
  const review = encodeDecision(UID, ADMISSION_V1, allow(['directory unavailable, allowed by directory.onError']));
  assert.equal(review.response.warnings, ['directory unavailable, allowed by directory.onError']);
  assert.not.ok('auditAnnotations' in review.response, 'notes are not violations');
});

for (const [name, character] of [
  ['newline', '\n'],
  ['carriage return', '\r'],
  ['tab', '\t'],
  ['NUL', '\u0000'],
  ['escape', '\u001b'],
  ['DEL', '\u007f'],
  ['next line U+0085', '\u0085'],
  ['C1 control U+009B', '\u009b'],
  ['line separator U+2028', '\u2028'],
  ['paragraph separator U+2029', '\u2029'],
] as const) {
  Warnings(`encode :: warning with a ${name} :: replaced, warning kept on one line`, () => {
    const warned = violation('user-subject', 'warn', `first${character}second`, `reason${character}here`);
    const [warning, ...rest] = encodeDecision(UID, ADMISSION_V1, decision([warned])).response.warnings ?? [];
    assert.equal(rest, []);
    assert.is(warning, 'Not denied because reason here: first second');
  });
}

Warnings('encode :: run of control characters :: one space', () => {
  assert.equal(fitWarnings(['a\r\n\r\nb']), ['a b']);
});

Warnings('encode :: warning of exactly 256 characters :: kept whole', () => {
  const text = 'w'.repeat(WARNING_MAX_CHARS);
  assert.equal(fitWarnings([text]), [text]);
});

Warnings('encode :: warning of 257 characters :: cut to 256 ending in an ellipsis', () => {
  const [warning] = fitWarnings(['w'.repeat(WARNING_MAX_CHARS + 1)]);
  assert.is(codePoints(warning!), WARNING_MAX_CHARS);
  assert.ok(warning!.endsWith('…'));
  assert.is(warning!.slice(0, -1), 'w'.repeat(WARNING_MAX_CHARS - 1));
});

Warnings('encode :: 200 emoji (400 UTF-16 units) :: 200 characters, kept whole', () => {
  const text = '🔐'.repeat(200);
  assert.equal(fitWarnings([text]), [text]);
});

Warnings('encode :: 300 emoji :: cut by characters, never inside a surrogate pair', () => {
  const [warning] = fitWarnings(['🔐'.repeat(300)]);
  assert.is(codePoints(warning!), WARNING_MAX_CHARS);
  assert.is(warning, `${'🔐'.repeat(WARNING_MAX_CHARS - 1)}…`);
  assertFits([warning!]);
});

Warnings('encode :: 50 long warnings :: each cut to 256, total within 4096 bytes, ends with "N more warnings"', () => {
  const violations = Array.from({ length: 50 }, (_, index) =>
    violation('user-subject', 'warn', `User "user${index}@contoso.com" ${'is bound directly '.repeat(30)}`, 'mode is audit'),
  );
  const warnings = encodeDecision(UID, ADMISSION_V1, decision(violations)).response.warnings ?? [];
  assertFits(warnings);
  const last = warnings.at(-1)!;
  const shown = warnings.length - 1;
  assert.ok(shown >= 1 && shown < 50, `some but not all of 50 warnings shown, got ${shown}`);
  assert.is(last, `${50 - shown} more warnings: see the API server's audit log`);
  for (const [index, warning] of warnings.slice(0, -1).entries()) {
    assert.ok(warning.startsWith(`Not denied because mode is audit: User "user${index}@contoso.com"`), 'warnings keep their order');
    assert.is(codePoints(warning), WARNING_MAX_CHARS);
  }
  // As many whole warnings as fit: one more would break the 4 KiB budget with the summary line.
  assert.ok(utf8Bytes(warnings) + Buffer.byteLength(warnings[0]!) > WARNINGS_TOTAL_BYTES);
});

Warnings('encode :: 50 long multi-byte warnings :: bytes, not characters, bound the total', () => {
  const texts = Array.from({ length: 50 }, (_, index) => `${index}: ${'Ünïcödé ✓ 組 🔐 '.repeat(40)}`);
  const warnings = fitWarnings(texts);
  assertFits(warnings);
  assert.match(warnings.at(-1)!, /^\d+ more warnings: /);
  const shown = warnings.length - 1;
  assert.is(warnings.at(-1), `${50 - shown} more warnings: see the API server's audit log`);
  // Characters alone would allow 16 warnings of 256; UTF-8 bytes must allow fewer.
  assert.ok(shown < 16, `${shown} multi-byte warnings of 256 characters cannot fit in 4096 bytes`);
});

Warnings('encode :: warnings that fit :: all kept, no summary line', () => {
  const texts = Array.from({ length: 10 }, (_, index) => `warning ${index}`);
  assert.equal(fitWarnings(texts), texts);
});

Warnings('encode :: total exactly at the limit :: no summary line', () => {
  // 16 warnings of 256 ASCII characters: exactly 4096 bytes.
  const texts = Array.from({ length: 16 }, (_, index) => `${String(index).padStart(2, '0')}${'x'.repeat(WARNING_MAX_CHARS - 2)}`);
  assert.equal(fitWarnings(texts), texts);
  assert.is(utf8Bytes(texts), WARNINGS_TOTAL_BYTES);
});

Warnings('encode :: one byte over the limit :: summary line, still within the limit', () => {
  const texts = [
    ...Array.from({ length: 15 }, () => 'x'.repeat(WARNING_MAX_CHARS)),
    'é'.repeat(WARNING_MAX_CHARS / 2 + 1),
  ];
  const warnings = fitWarnings(texts);
  assertFits(warnings);
  assert.match(warnings.at(-1)!, /more warnings: see the API server's audit log$/);
});

Warnings('encode :: no warnings :: empty list', () => {
  assert.equal(fitWarnings([]), []);
});

Warnings.run();

// --- audit annotations --------------------------------------------------------------------------------------------

const Annotations = suite('encode :: audit annotations');

Annotations('encode :: denied :: decision denied and one key per rule', () => {
  const annotations = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED, GROUP_NAME_DENIED, BROAD_WARNED])).response.auditAnnotations;
  assert.equal(annotations, {
    decision: 'denied',
    'user-subject': `deny: ${USER_DENIED.message}`,
    'group-format': `deny: ${GROUP_NAME_DENIED.message}`,
    'broad-group': `warn: ${BROAD_WARNED.message}`,
  });
});

Annotations('encode :: allowed with warned violations :: decision allowed-with-violations', () => {
  const annotations = encodeDecision(UID, ADMISSION_V1, decision([BROAD_WARNED])).response.auditAnnotations;
  assert.is(annotations?.['decision'], 'allowed-with-violations');
  assert.is(annotations?.['broad-group'], `warn: ${BROAD_WARNED.message}`);
});

Annotations('encode :: two violations of one rule :: one key, both entries', () => {
  const second = violation('user-subject', 'deny', 'User "dave@fabrikam.com" is bound directly');
  const annotations = encodeDecision(UID, ADMISSION_V1, decision([USER_DENIED, second])).response.auditAnnotations;
  assert.equal(Object.keys(annotations ?? {}).sort(), ['decision', 'user-subject']);
  assert.is(annotations?.['user-subject'], `deny: ${USER_DENIED.message} | deny: ${second.message}`);
});

Annotations('encode :: every rule violated :: every key a valid qualified-name segment of at most 63 characters', () => {
  const violations = RULE_IDS.map((rule) => violation(rule, 'warn', `${rule} violated`));
  const annotations = encodeDecision(UID, ADMISSION_V1, decision(violations)).response.auditAnnotations ?? {};
  assert.equal(Object.keys(annotations).sort(), ['decision', ...RULE_IDS].sort());
  for (const key of Object.keys(annotations)) {
    assert.match(key, QUALIFIED_NAME_SEGMENT, `${key} is not a qualified-name segment`);
    assert.ok(key.length <= 63, `${key} is longer than 63 characters`);
  }
});

Annotations('encode :: many violations of one rule :: value bounded', () => {
  const violations = Array.from({ length: 200 }, (_, index) => violation('user-subject', 'deny', `User "user${index}@contoso.com" ${'x'.repeat(100)}`));
  const value = encodeDecision(UID, ADMISSION_V1, decision(violations)).response.auditAnnotations?.['user-subject'] ?? '';
  assert.ok(codePoints(value) <= 4000, `annotation value of ${codePoints(value)} characters`);
  assert.ok(value.endsWith('…'), 'a cut value says it was cut');
});

Annotations.run();
