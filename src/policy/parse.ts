import { LineCounter, parseDocument } from 'yaml';
import { RULE_IDS, type AllowList, type Mode, type Policy, type RuleAction, type RuleId, type SubjectRef, type TimeBoxedEntry } from './model.ts';
import { isRecord } from '../admission/narrow.ts';
import { closest } from './closest.ts';
import { canonicalGuidOf, isEntraObjectId } from './subjects.ts';

export const POLICY_API_VERSION = 'entra-rbac-guard/v1';

export const DEFAULT_POLICY: Policy = {
  mode: 'enforce',
  adminGroups: [],
  clusterAdminRoles: ['cluster-admin'],
  rules: Object.fromEntries(RULE_IDS.map((rule) => [rule, 'deny'])) as Record<RuleId, RuleAction>,
  allow: {
    users: [],
    groups: [],
    clusterAdminSubjects: [],
    namespaces: [],
    requesters: { usernames: [], groups: [] },
  },
  timeBoxed: [],
  directory: { verify: true, requireSecurityEnabled: true, onError: 'deny', lookup: 'batch' },
};

export interface PolicyProblem {
  /** Where, as a dotted path into the document (`rules.user-subjct`), or `(yaml)` for syntax errors. */
  readonly path: string;
  readonly message: string;
}

export type PolicyParseResult =
  | { readonly ok: true; readonly policy: Policy; readonly warnings: readonly PolicyProblem[] }
  | { readonly ok: false; readonly errors: readonly PolicyProblem[] };

/** Parses a policy document. Every problem is reported (not only the first), each with its path and the fix. */
export function parsePolicy(text: string): PolicyParseResult {
  // prettyErrors: false leaves error.linePos unset, so positions come from our own LineCounter.
  const lineCounter = new LineCounter();
  // logLevel 'error': yaml's warnings (a mapping used as a key…) would go to the process's stderr; such a key is
  // reported below as an unknown field anyway.
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter, logLevel: 'error' });
  if (document.errors.length > 0) {
    return {
      ok: false,
      errors: document.errors.map((error) => {
        const { line, col } = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
        return { path: '(yaml)', message: `${error.message.split('\n')[0]} at line ${line}, column ${col}` };
      }),
    };
  }
  let root: Json;
  try {
    root = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // yaml throws on an alias bomb ("Excessive alias count…"), and the stack gives out on nesting thousands deep.
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { ok: false, errors: [{ path: '(yaml)', message: `cannot be read (${reason}): a policy needs neither many aliases (*name) nor deep nesting; write the values out` }] };
  }
  const reader = new Reader();
  const policy = reader.policy(root ?? {});
  if (reader.errors.length > 0) return { ok: false, errors: reader.errors };
  return { ok: true, policy, warnings: lockoutWarnings(policy) };
}

function lockoutWarnings(policy: Policy): PolicyProblem[] {
  const warnings: PolicyProblem[] = [];
  if (policy.adminGroups.length === 0 && policy.rules['cluster-admin'] === 'deny') {
    warnings.push({
      path: 'adminGroups',
      message:
        'is empty while cluster-admin is denied: no new binding can grant cluster-admin to anyone. ' +
        'Add the object IDs of your AKS admin groups (--aad-admin-group-object-ids)',
    });
  }
  for (const group of policy.allow.requesters.groups) {
    if (group === 'system:masters' || group === 'system:authenticated') {
      warnings.push({
        path: 'allow.requesters.groups',
        message: `exempts every request made through ${group}: list the specific identities instead`,
      });
    }
  }
  return warnings;
}

type Json = unknown;

const TIME_BOX_FIELDS = ['expires', 'reason'];
/** RFC 3339: a date, a time and an offset (Z or ±hh:mm); Date.parse alone would take "2026-12-08" as well. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Reads the untyped document field by field, collecting problems instead of stopping at the first. */
class Reader {
  readonly errors: PolicyProblem[] = [];
  readonly timeBoxed: TimeBoxedEntry[] = [];

  policy(root: Json): Policy {
    const doc = this.record(root, '', ['apiVersion', 'kind', 'mode', 'adminGroups', 'clusterAdminRoles', 'rules', 'allow', 'directory']);
    if (doc['apiVersion'] !== undefined && doc['apiVersion'] !== POLICY_API_VERSION) {
      this.fail('apiVersion', `must be ${POLICY_API_VERSION}, got ${show(doc['apiVersion'])}`);
    }
    if (doc['kind'] !== undefined && doc['kind'] !== 'Policy') this.fail('kind', `must be Policy, got ${show(doc['kind'])}`);
    const defaults = DEFAULT_POLICY;
    const allow = this.record(doc['allow'] ?? {}, 'allow', ['users', 'groups', 'clusterAdminSubjects', 'namespaces', 'requesters']);
    const requesters = this.record(allow['requesters'] ?? {}, 'allow.requesters', ['usernames', 'groups']);
    const directory = this.record(doc['directory'] ?? {}, 'directory', ['verify', 'requireSecurityEnabled', 'onError', 'lookup']);
    return {
      mode: this.oneOf<Mode>(doc['mode'], 'mode', ['enforce', 'audit'], defaults.mode),
      adminGroups: this.objectIds(doc['adminGroups'], 'adminGroups'),
      clusterAdminRoles: this.strings(doc['clusterAdminRoles'], 'clusterAdminRoles', defaults.clusterAdminRoles),
      rules: this.rules(doc['rules']),
      allow: {
        users: this.entries(allow['users'], 'allow.users'),
        groups: this.entries(allow['groups'], 'allow.groups'),
        clusterAdminSubjects: this.subjects(allow['clusterAdminSubjects'], 'allow.clusterAdminSubjects'),
        namespaces: this.entries(allow['namespaces'], 'allow.namespaces'),
        requesters: {
          usernames: this.entries(requesters['usernames'], 'allow.requesters.usernames'),
          groups: this.entries(requesters['groups'], 'allow.requesters.groups'),
        },
      },
      timeBoxed: this.timeBoxed,
      directory: {
        verify: this.boolean(directory['verify'], 'directory.verify', defaults.directory.verify),
        requireSecurityEnabled: this.boolean(
          directory['requireSecurityEnabled'],
          'directory.requireSecurityEnabled',
          defaults.directory.requireSecurityEnabled,
        ),
        onError: this.oneOf(directory['onError'], 'directory.onError', ['deny', 'allow'], defaults.directory.onError),
        lookup: this.oneOf(directory['lookup'], 'directory.lookup', ['batch', 'getByIds'], defaults.directory.lookup),
      },
    };
  }

  private rules(value: Json): Record<RuleId, RuleAction> {
    const rules = { ...DEFAULT_POLICY.rules };
    const configurable = RULE_IDS.filter((rule) => rule !== 'directory-unavailable');
    for (const [key, action] of Object.entries(this.record(value ?? {}, 'rules'))) {
      if (key === 'directory-unavailable') {
        this.fail('rules.directory-unavailable', 'follows directory.onError: set directory.onError to deny or allow instead');
      } else if (!(RULE_IDS as readonly string[]).includes(key)) {
        this.fail(`rules.${key}`, `unknown rule${suggest(key, configurable)}; known rules are ${configurable.join(', ')}`);
      } else {
        rules[key as RuleId] = this.oneOf<RuleAction>(action, `rules.${key}`, ['deny', 'warn', 'off'], 'deny');
      }
    }
    return rules;
  }

  private subjects(value: Json, path: AllowList): SubjectRef[] {
    return this.list(value, path).flatMap((item, index) => {
      const at = `${path}[${index}]`;
      const subject = this.record(item, at, ['kind', 'name', 'namespace', 'apiGroup', ...TIME_BOX_FIELDS]);
      const kind = this.oneOf(subject['kind'], `${at}.kind`, ['User', 'Group', 'ServiceAccount'], undefined);
      const name = this.string(subject['name'], `${at}.name`);
      const namespace = subject['namespace'] === undefined ? undefined : this.string(subject['namespace'], `${at}.namespace`);
      if (kind === 'ServiceAccount' && !namespace) this.fail(`${at}.namespace`, 'is required for a ServiceAccount');
      if (kind === undefined || name === undefined) return [];
      const ref: SubjectRef = { kind, name, ...(namespace ? { namespace } : {}) };
      this.timeBox(subject, path, index, name, ref);
      return [ref];
    });
  }

  /** An allow-list of names: each a plain string, or `{name, expires?, reason?}` (a break-glass entry). */
  private entries(value: Json, path: AllowList): string[] {
    return this.list(value, path).flatMap((item, index) => {
      const at = `${path}[${index}]`;
      if (!isRecord(item)) {
        const text = this.string(item, at);
        return text === undefined ? [] : [text];
      }
      const entry = this.record(item, at, ['name', ...TIME_BOX_FIELDS]);
      const name = this.string(entry['name'], `${at}.name`);
      if (name === undefined) return [];
      this.timeBox(entry, path, index, name);
      return [name];
    });
  }

  /** Reads `expires` and `reason` of an entry; one with `expires` is time-boxed. */
  private timeBox(entry: Record<string, Json>, list: AllowList, index: number, name: string, subject?: SubjectRef): void {
    const at = `${list}[${index}]`;
    const reason = entry['reason'] === undefined ? undefined : this.string(entry['reason'], `${at}.reason`);
    if (entry['expires'] === undefined) return;
    const expires = entry['expires'];
    const expiresAtMs = typeof expires === 'string' && RFC3339.test(expires) ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(expiresAtMs)) {
      this.fail(`${at}.expires`, `must be an RFC 3339 time with its offset, like "2026-12-08T18:00:00Z", got ${show(expires)}`);
      return;
    }
    this.timeBoxed.push({ list, index, name, ...(subject ? { subject } : {}), expires: expires as string, expiresAtMs, ...(reason ? { reason } : {}) });
  }

  private objectIds(value: Json, path: string): string[] {
    const ids = this.strings(value, path, []);
    ids.forEach((id, index) => {
      if (!isEntraObjectId(id)) {
        // Suggest a spelling only for a GUID written differently; a lower-cased display name is not an object ID.
        const canonical = canonicalGuidOf(id);
        this.fail(
          `${path}[${index}]`,
          `${show(id)} is not an Entra object ID: use the group's object ID as a lower-case GUID` +
            (canonical ? ` (${canonical})` : ' (a display name never appears in the groups claim)'),
        );
      }
    });
    return ids;
  }

  private record(value: Json, path: string, known?: readonly string[]): Record<string, Json> {
    if (!isRecord(value)) {
      this.fail(path || '(document)', `must be a mapping, got ${show(value)}`);
      return {};
    }
    if (known) {
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) {
          this.fail(path ? `${path}.${key}` : key, `unknown field${suggest(key, known)}; known fields are ${known.join(', ')}`);
        }
      }
    }
    return value as Record<string, Json>;
  }

  private list(value: Json, path: string): Json[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(path, `must be a list, got ${show(value)}`);
      return [];
    }
    return value;
  }

  private strings(value: Json, path: string, fallback: readonly string[]): string[] {
    if (value === undefined) return [...fallback];
    return this.list(value, path).flatMap((item, index) => {
      const text = this.string(item, `${path}[${index}]`);
      return text === undefined ? [] : [text];
    });
  }

  private string(value: Json, path: string): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.fail(path, `must be a non-empty string, got ${show(value)}`);
    return undefined;
  }

  private boolean(value: Json, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    this.fail(path, `must be true or false, got ${show(value)}`);
    return fallback;
  }

  private oneOf<T extends string>(value: Json, path: string, allowed: readonly T[], fallback: T): T;
  private oneOf<T extends string>(value: Json, path: string, allowed: readonly T[], fallback: undefined): T | undefined;
  private oneOf<T extends string>(value: Json, path: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    if (value === undefined && fallback !== undefined) return fallback;
    if (allowed.includes(value as T)) return value as T;
    this.fail(path, `must be one of ${allowed.join(', ')}, got ${show(value)}`);
    return fallback;
  }

  private fail(path: string, message: string): void {
    this.errors.push({ path, message });
  }
}

function show(value: Json): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

function suggest(word: string, candidates: readonly string[]): string {
  const close = closest(word, candidates);
  return close ? ` (did you mean ${close}?)` : '';
}

export function formatProblems(problems: readonly PolicyProblem[]): string {
  return problems.map((problem) => `${problem.path}: ${problem.message}`).join('\n');
}
