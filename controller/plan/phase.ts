import type { Logger } from 'pino';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { OpArgs, OpName, OpResult } from '../../proto/ops.js';
import type { Operation, PhaseId } from '../../proto/phases.js';
import type { Change } from '../../proto/results.js';
import type { ResolvedCluster } from './resolved-cluster.js';
import type { Observation } from './observe.js';
import type { JoinMaterialSource } from './join-material.js';

/** What a phase sees when it derives its tasks: the desired cluster and what its hosts report now. */
export interface PlanningContext {
  cluster: ResolvedCluster;
  observed: Observation;
  /** the operation's own arguments (the node `kctl node remove` names) */
  target?: { node: string };
  /** `kctl certs renew`: how long each static pod manifest stays out of the kubelet's sight */
  renew?: { restartWaitMs: number };
}

/** One task a phase derives: its host, a title, its typed input, and how `kctl plan` shows it. */
export interface DerivedTask<I> {
  host: string;
  title: string;
  input: I;
  detail: string;
  changes?: Change[];
}

/** What a running task may do: typed calls to hosts, join material, progress. */
export interface TaskRun {
  cluster: ResolvedCluster;
  material: JoinMaterialSource;
  log: Logger;
  attempt: number;
  progress(message: string): void;
  /**
   * A typed op on a host of the cluster. Each call gets a command id made of the task, its attempt,
   * the call's place in the task and its args, so a task resumed after a controller crash sends the
   * same commands with the same ids and its hosts answer from their journals what already ran.
   */
  call<N extends OpName>(host: string, op: N, args: OpArgs<N>): Promise<OpResult<N>>;
}

/**
 * One phase kind, complete: the engine, `kctl plan`, `--phases` and the CLI help only iterate over
 * the list of these (controller/plan/phases/index.ts). `I` is the phase's task input, journaled as is.
 */
export interface PhaseRecord<I> {
  id: PhaseId;
  /** the operation whose plans hold this phase */
  operation: Operation;
  title: string;
  /** one line for `kctl plan --help` */
  summary: string;
  mode: 'serial' | 'parallel';
  /** tasks at once in a parallel phase */
  concurrency(spec: ClusterSpec): number;
  /** the tasks needed now; none when the hosts are already there */
  tasks(c: PlanningContext): Array<DerivedTask<I>>;
  /** runs one task; returns a secret-free summary for the journal */
  run(input: I, host: string, t: TaskRun): Promise<unknown>;
}

/** Erases a record's input type so records of every phase sit in one list. */
export type AnyPhaseRecord = PhaseRecord<never> & {
  tasks(c: PlanningContext): Array<DerivedTask<unknown>>;
  run(input: unknown, host: string, t: TaskRun): Promise<unknown>;
};

export function phase<I>(record: PhaseRecord<I>): AnyPhaseRecord {
  return record as unknown as AnyPhaseRecord;
}
