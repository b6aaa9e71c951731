import { createHash } from 'node:crypto';
import type { Operation, PhaseId } from '../../proto/phases.js';

/**
 * One unit of work on one host. Plain data: the whole plan is journaled when an apply starts, and a
 * resumed apply runs the journaled tasks, not a plan made again from a cluster that has moved.
 */
export interface Task {
  /** unique within a plan: `${phase}/${host}` */
  id: string;
  phase: PhaseId;
  host: string;
  title: string;
  /** the phase's typed input; never secrets (those are minted at run time) */
  input: unknown;
}

export interface Phase {
  id: PhaseId;
  title: string;
  /** serial phases run one task at a time, in order; parallel ones up to `concurrency` at once */
  mode: 'serial' | 'parallel';
  concurrency: number;
  tasks: Task[];
}

export interface ClusterPlan {
  cluster: string;
  operation: Operation;
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

export function sha256Of(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}

/** The plan's identity: a stale plan (hosts or spec changed since) has another hash. */
export function clusterPlanHash(plan: ClusterPlan): string {
  return sha256Of(plan);
}
