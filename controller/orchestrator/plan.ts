import { createHash } from 'node:crypto';

/** What a task asks of a host; the runner maps each kind to typed agent ops. */
export type TaskKind =
  | 'preflight'
  | 'prepare'
  | 'init'
  | 'join-material'
  | 'join-control-plane'
  | 'join-worker'
  | 'cni'
  | 'verify';

export interface Task {
  /** unique within a plan and stable across re-plans of the same spec: `${phase}/${host}` */
  id: string;
  phase: string;
  host: string;
  kind: TaskKind;
  title: string;
  /** the desired state the task converges to; never secrets (those are minted at run time) */
  input: Record<string, unknown>;
}

export interface Phase {
  id: string;
  title: string;
  /** serial phases run one task at a time, in order; parallel ones up to `concurrency` at once */
  mode: 'serial' | 'parallel';
  concurrency: number;
  tasks: Task[];
}

export interface ClusterPlan {
  cluster: string;
  phases: Phase[];
}

/** Canonical JSON: object keys sorted, so equal plans hash equally whatever built them. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The plan's identity: a stale plan (hosts or spec changed since) has another hash. */
export function clusterPlanHash(plan: ClusterPlan): string {
  return `sha256:${createHash('sha256').update(canonicalJson(plan)).digest('hex')}`;
}
