import type { Decision, Violation } from '../policy/decision.ts';
import { describeEntry } from '../policy/time-boxed.ts';
import type { AdmissionResponse, AdmissionReviewResponse } from './types.ts';

/** The API server drops a warning longer than this, and keeps at most WARNINGS_TOTAL_BYTES of them all. */
export const WARNING_MAX_CHARS = 256;
export const WARNINGS_TOTAL_BYTES = 4096;
const ANNOTATION_MAX_CHARS = 4000;

/** Builds the AdmissionReview answer: uid echoed, one line per denied violation, warnings the API server keeps. */
export function encodeDecision(uid: string, apiVersion: string, decision: Decision): AdmissionReviewResponse {
  const denied = decision.violations.filter((violation) => violation.action === 'deny');
  const warnings = fitWarnings([...decision.violations.filter((v) => v.action === 'warn').map(warningText), ...decision.notes]);
  const auditAnnotations = annotationsFor(decision);
  const response: AdmissionResponse = {
    uid,
    allowed: decision.allowed,
    ...(decision.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: denied.map((v) => v.message).join('\n') } }),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(auditAnnotations ? { auditAnnotations } : {}),
  };
  return { apiVersion, kind: 'AdmissionReview', response };
}

/** Why a violation was not denied comes first: a warning cut at 256 characters keeps it. */
export function warningText(violation: Violation): string {
  return violation.downgradedBecause ? `Not denied because ${violation.downgradedBecause}: ${violation.message}` : violation.message;
}

/** No newlines (the API server drops such a warning), each cut to 256 characters, all of them within 4 KiB. */
export function fitWarnings(texts: readonly string[]): string[] {
  const fitted: string[] = [];
  let bytes = 0;
  for (const [index, text] of texts.entries()) {
    // Control characters as the API server's check sees them (Go unicode.IsControl: C0, DEL, C1 incl. U+0085 NEL),
    // plus the Unicode line and paragraph separators: a warning must stay on one line.
    const line = truncate(text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' '), WARNING_MAX_CHARS);
    const more = `${texts.length - index} more warnings: see the API server's audit log`;
    const reserve = index < texts.length - 1 ? Buffer.byteLength(more) : 0;
    if (bytes + Buffer.byteLength(line) + reserve > WARNINGS_TOTAL_BYTES) {
      fitted.push(more);
      break;
    }
    fitted.push(line);
    bytes += Buffer.byteLength(line);
  }
  return fitted;
}

/** Keys become `<webhook name>/<key>`: rule IDs are valid qualified names. */
function annotationsFor(decision: Decision): Record<string, string> | undefined {
  const stale = decision.staleGroups ?? [];
  const breakGlass = decision.timeBoxedExemptions ?? [];
  if (decision.violations.length === 0 && stale.length === 0 && breakGlass.length === 0) return undefined;
  const annotations: Record<string, string> = {
    decision: decision.allowed ? (decision.violations.length > 0 ? 'allowed-with-violations' : 'allowed') : 'denied',
  };
  if (stale.length > 0) {
    annotations['directory-stale'] = truncate(stale.map(({ id, reason }) => `${id}: ${reason}`).join(' | '), ANNOTATION_MAX_CHARS);
  }
  if (breakGlass.length > 0) annotations['break-glass'] = truncate(breakGlass.map(describeEntry).join(' | '), ANNOTATION_MAX_CHARS);
  for (const violation of decision.violations) {
    const entry = `${violation.action}: ${violation.message}`;
    const previous = annotations[violation.rule];
    annotations[violation.rule] = truncate(previous ? `${previous} | ${entry}` : entry, ANNOTATION_MAX_CHARS);
  }
  return annotations;
}

function truncate(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}
