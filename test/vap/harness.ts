/**
 * The backstop as the API server runs it, with a real CEL implementation (@bufbuild/cel, with the strings extension
 * Kubernetes enables): match the request against matchConstraints, evaluate the matchConditions first, then the
 * variables in order and each validation; `object`, `oldObject` (null on CREATE) and `request` bound as the API server
 * binds them, `params` absent. failurePolicy is Ignore, so any CEL error skips the policy: it is recorded, and the tests
 * require none.
 */
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { Binding, Subject, UserInfo } from '../../src/admission/types.ts';
import { decodeAdmissionReview } from '../../src/admission/decode.ts';
import { readSelector } from '../../src/admission/role.ts';
import { BACKSTOP_RULES } from '../../src/backstop/rules/index.ts';
import type { KubeObject } from '../../src/backstop/generate.ts';
import type { Decision } from '../../src/policy/decision.ts';
import { evaluate } from '../../src/policy/engine.ts';
import { NO_DIRECTORY } from '../../src/policy/facts.ts';
import { RESOURCE_OF } from '../../src/kube/inventory.ts';
import type { RbacKind } from '../../src/kube/role-cache.ts';
import { selectorMatches } from '../../src/policy/privileges.ts';
import type { Policy, RuleId } from '../../src/policy/model.ts';

type Json = Record<string, any>;

/** What the API server sends admission: the request, with the object and old object as JSON. */
export interface AdmissionRequest {
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE';
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly resource: { readonly group: string; readonly version: string; readonly resource: string };
  readonly namespace?: string;
  readonly name?: string;
  readonly userInfo: UserInfo;
  readonly object: Json | null;
  readonly oldObject: Json | null;
}

export interface Finding {
  readonly rule: RuleId;
  readonly message: string;
}

export interface BackstopVerdict {
  /** Failed validations of policies whose binding denies. */
  readonly denied: readonly Finding[];
  /** Failed validations of policies whose binding warns (audit mode included). */
  readonly warned: readonly Finding[];
  /** CEL errors: each made its policy be ignored (failurePolicy Ignore). */
  readonly errors: readonly string[];
}

const ENV = celEnv({ funcs: strings });
const planned = new Map<string, ReturnType<typeof plan>>();

function run(expression: string, bindings: Record<string, unknown>): unknown {
  let program = planned.get(expression);
  if (!program) {
    program = plan(ENV, parse(expression));
    planned.set(expression, program);
  }
  try {
    return program(bindings as never);
  } catch (error) {
    return { celThrew: String(error) };
  }
}

function failed(value: unknown): value is object {
  return isCelError(value) || (typeof value === 'object' && value !== null && 'celThrew' in value);
}

/** JSON as CEL values: objects become maps (a plain object is not one to @bufbuild/cel). */
export function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') return new Map(Object.entries(value).map(([key, item]) => [key, toCel(item)]));
  return value;
}

function ruleOf(validation: Json): RuleId {
  const rule = BACKSTOP_RULES.find((candidate) => validation['expression'] === `size(variables.${candidate.variable}) == 0`);
  if (!rule) throw new Error(`a validation that is no rule's: ${validation['expression']}`);
  return rule.id;
}

/** The generated objects, judged for one request. */
export function runBackstop(objects: readonly KubeObject[], request: AdmissionRequest): BackstopVerdict {
  const denied: Finding[] = [];
  const warned: Finding[] = [];
  const errors: string[] = [];
  const bindings = {
    object: toCel(request.object),
    oldObject: toCel(request.oldObject),
    request: toCel(requestFields(request)),
  };
  for (const policy of objects.filter((object) => object.kind === 'ValidatingAdmissionPolicy')) {
    const spec = policy['spec'] as Json;
    const binding = objects.find((object) => object.kind === 'ValidatingAdmissionPolicyBinding' && (object['spec'] as Json)['policyName'] === policy.metadata.name);
    if (!binding || !matches(spec['matchConstraints'], request)) continue;
    const findings = judge(spec, bindings, errors, policy.metadata.name);
    const actions = (binding['spec'] as Json)['validationActions'] as string[];
    (actions.includes('Deny') ? denied : warned).push(...findings);
  }
  return { denied, warned, errors };
}

function requestFields(request: AdmissionRequest): Json {
  const { object: _object, oldObject: _oldObject, ...fields } = request;
  return fields;
}

function judge(spec: Json, bindings: Record<string, unknown>, errors: string[], name: string): Finding[] {
  for (const condition of spec['matchConditions'] as Json[]) {
    const result = run(condition['expression'], bindings);
    if (failed(result)) {
      errors.push(`${name} matchCondition ${condition['name']}: ${String((result as Json)['message'] ?? (result as Json)['celThrew'])}`);
      return [];
    }
    if (result !== true) return [];
  }
  const variables = new Map<string, unknown>();
  const scope = { ...bindings, variables };
  for (const variable of spec['variables'] as Json[]) {
    const value = run(variable['expression'], scope);
    if (failed(value)) {
      errors.push(`${name} variable ${variable['name']}: ${String((value as Json)['message'] ?? (value as Json)['celThrew'])}`);
      return [];
    }
    variables.set(variable['name'], value);
  }
  const findings: Finding[] = [];
  for (const validation of spec['validations'] as Json[]) {
    const passed = run(validation['expression'], scope);
    if (failed(passed)) {
      errors.push(`${name} validation ${validation['expression']}: ${String((passed as Json)['message'])}`);
      return [];
    }
    if (passed === true) continue;
    const message = run(validation['messageExpression'], scope);
    if (failed(message) || typeof message !== 'string') {
      errors.push(`${name} messageExpression of ${ruleOf(validation)}: ${String((message as Json)?.['message'])}`);
      findings.push({ rule: ruleOf(validation), message: '' });
      continue;
    }
    findings.push({ rule: ruleOf(validation), message });
  }
  return findings;
}

/** matchConstraints: the resource rules, and the namespaceSelector on the namespace's name label (cluster-scoped objects always match). */
function matches(constraints: Json, request: AdmissionRequest): boolean {
  const byRule = (constraints['resourceRules'] as Json[]).some(
    (rule) =>
      rule['apiGroups'].includes(request.resource.group) &&
      rule['apiVersions'].includes(request.resource.version) &&
      rule['operations'].includes(request.operation) &&
      rule['resources'].includes(request.resource.resource),
  );
  if (!byRule) return false;
  const selector = constraints['namespaceSelector'] as Json | undefined;
  if (!selector || !request.namespace) return true;
  return selectorMatches(readSelector(selector, 'matchConstraints.namespaceSelector'), { 'kubernetes.io/metadata.name': request.namespace });
}

// --- the same request for the engine -------------------------------------------------------------------------------

/** The webhook's decision on the same request: the engine with no directory and no role facts, at `nowMs`. */
export function runEngine(request: AdmissionRequest, policy: Policy, nowMs: number): Decision {
  const change = decodeAdmissionReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'backstop-test', ...request } });
  return evaluate(change, policy, { ...NO_DIRECTORY, now: nowMs });
}

/** A binding as the API server holds it (JSON), with creationTimestamp when given. */
export function bindingObject(binding: Binding, creationTimestamp?: string): Json {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: binding.kind,
    metadata: {
      ...(binding.name ? { name: binding.name } : { generateName: 'generated-' }),
      ...(binding.kind === 'RoleBinding' ? { namespace: binding.namespace } : {}),
      ...(creationTimestamp ? { creationTimestamp } : {}),
    },
    subjects: binding.subjects.map(subjectObject),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: binding.roleRef.kind, name: binding.roleRef.name },
  };
}

function subjectObject(subject: Subject): Json {
  return subject.kind === 'ServiceAccount'
    ? { kind: 'ServiceAccount', name: subject.name, namespace: subject.namespace ?? '' }
    : { kind: subject.kind, apiGroup: 'rbac.authorization.k8s.io', name: subject.name, ...(subject.namespace ? { namespace: subject.namespace } : {}) };
}

/** The request the API server sends for a write of `object` (and `oldObject` on UPDATE). */
export function admissionRequest(operation: 'CREATE' | 'UPDATE', object: Json, oldObject: Json | null, userInfo: UserInfo): AdmissionRequest {
  const kind = object['kind'] as string;
  const namespace = object['metadata']?.['namespace'] as string | undefined;
  return {
    operation,
    kind: { group: 'rbac.authorization.k8s.io', version: 'v1', kind },
    resource: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: RESOURCE_OF[kind as RbacKind] ?? kind.toLowerCase() },
    ...(namespace ? { namespace } : {}),
    ...(object['metadata']?.['name'] ? { name: object['metadata']['name'] } : {}),
    userInfo,
    object,
    oldObject,
  };
}

/** On CREATE the API server sets creationTimestamp (to the second) before validating admission: `nowMs` as it would. */
export function stampedAt(request: AdmissionRequest, nowMs: number): AdmissionRequest {
  if (request.operation !== 'CREATE' || !request.object) return request;
  const creationTimestamp = new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return { ...request, object: { ...request.object, metadata: { ...request.object['metadata'], creationTimestamp } } };
}
