import type { RbacKind } from '../kube/role-cache.ts';

/** What an audit reports while it runs: objects listed per kind, then Entra groups resolved. */
export interface AuditProgress {
  listed(kind: RbacKind, count: number, expected: number | undefined): void;
  groups(resolved: number, total: number): void;
  /** The work is over: clear the line before the report is printed. */
  done(): void;
}

export const SILENT_PROGRESS: AuditProgress = { listed: () => undefined, groups: () => undefined, done: () => undefined };

export interface ProgressState {
  readonly listed: ReadonlyMap<RbacKind, { readonly count: number; readonly expected: number | undefined }>;
  readonly groups?: { readonly resolved: number; readonly total: number } | undefined;
}

const PLURAL: Readonly<Record<RbacKind, string>> = {
  ClusterRole: 'ClusterRoles',
  Role: 'Roles',
  ClusterRoleBinding: 'ClusterRoleBindings',
  RoleBinding: 'RoleBindings',
};

/** `listed 62 ClusterRoles, 500/1200 RoleBindings · groups 80/2000` */
export function progressLine(state: ProgressState): string {
  const kinds = [...state.listed].map(([kind, { count, expected }]) => `${expected !== undefined && expected > count ? `${count}/${expected}` : count} ${PLURAL[kind]}`);
  const groups = state.groups ? ` · groups resolved ${state.groups.resolved}/${state.groups.total}` : '';
  return `entra-rbac-guard audit: listed ${kinds.join(', ') || 'nothing yet'}${groups}`;
}

/** Rewrites one line of a terminal in place (carriage return, erase line); the last write erases it. */
export function terminalProgress(write: (text: string) => void): AuditProgress {
  const listed = new Map<RbacKind, { count: number; expected: number | undefined }>();
  let groups: { resolved: number; total: number } | undefined;
  const draw = () => write(`\r\x1b[2K${progressLine({ listed, groups })}`);
  return {
    listed(kind, count, expected) {
      listed.set(kind, { count, expected });
      draw();
    },
    groups(resolved, total) {
      groups = { resolved, total };
      draw();
    },
    done: () => write('\r\x1b[2K'),
  };
}
