import type Database from 'better-sqlite3';
import type { WireError } from '../../proto/errors.js';

export type ApplyStatus = 'running' | 'succeeded' | 'failed';
export type StepStatus = 'running' | 'done' | 'failed';

export interface ApplyRecord {
  id: string;
  cluster: string;
  /** what was asked for (spec, hosts, operation): a later request for the same thing resumes this apply */
  planHash: string;
  plan: unknown;
  status: ApplyStatus;
  startedAt: number;
  finishedAt: number | null;
  error: WireError | null;
}

export interface StepRecord {
  applyId: string;
  taskId: string;
  phase: string;
  host: string;
  status: StepStatus;
  attempt: number;
  startedAt: number;
  finishedAt: number | null;
  output: unknown;
  error: WireError | null;
}

type Row = Record<string, unknown>;

/**
 * The apply journal. Every task transition is committed (synchronous=FULL) before the orchestrator
 * moves on, so a controller killed at any point resumes from exactly what finished.
 */
export class ApplyStore {
  constructor(private readonly db: Database.Database) {}

  createApply(a: { id: string; cluster: string; planHash: string; plan: unknown; now: number }): void {
    this.db
      .prepare(
        `INSERT INTO applies (id, cluster, plan_hash, plan, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)`,
      )
      .run(a.id, a.cluster, a.planHash, JSON.stringify(a.plan), a.now);
  }

  /** The newest apply of a cluster that did not succeed: what `kctl apply` resumes. */
  latestUnfinished(cluster: string): ApplyRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM applies WHERE cluster = ? ORDER BY started_at DESC, rowid DESC LIMIT 1`)
      .get(cluster) as Row | undefined;
    if (!row) return undefined;
    const apply = applyFromRow(row);
    return apply.status === 'succeeded' ? undefined : apply;
  }

  getApply(id: string): ApplyRecord | undefined {
    const row = this.db.prepare('SELECT * FROM applies WHERE id = ?').get(id) as Row | undefined;
    return row ? applyFromRow(row) : undefined;
  }

  listApplies(limit = 20): ApplyRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM applies ORDER BY started_at DESC, rowid DESC LIMIT ?')
        .all(limit) as Row[]
    ).map(applyFromRow);
  }

  finishApply(id: string, status: Exclude<ApplyStatus, 'running'>, now: number, error?: WireError): void {
    this.db
      .prepare('UPDATE applies SET status = ?, finished_at = ?, error = ? WHERE id = ?')
      .run(status, now, error ? JSON.stringify(error) : null, id);
  }

  reopenApply(id: string): void {
    this.db
      .prepare(`UPDATE applies SET status = 'running', finished_at = NULL, error = NULL WHERE id = ?`)
      .run(id);
  }

  steps(applyId: string): StepRecord[] {
    return (this.db.prepare('SELECT * FROM apply_steps WHERE apply_id = ?').all(applyId) as Row[]).map(
      stepFromRow,
    );
  }

  /**
   * Written before the task is sent to its host. A task found 'running' was cut short by a crash:
   * it keeps its attempt number, so the commands it sends again carry the same ids and are answered
   * from the agents' journals instead of running twice. A failed task's next try is a new attempt.
   */
  stepStarted(s: { applyId: string; taskId: string; phase: string; host: string; now: number }): number {
    const existing = this.db
      .prepare('SELECT attempt, status FROM apply_steps WHERE apply_id = ? AND task_id = ?')
      .get(s.applyId, s.taskId) as { attempt: number; status: StepStatus } | undefined;
    const attempt = existing?.status === 'running' ? existing.attempt : (existing?.attempt ?? 0) + 1;
    this.db
      .prepare(
        `INSERT INTO apply_steps (apply_id, task_id, phase, host, status, attempt, started_at)
         VALUES (?, ?, ?, ?, 'running', ?, ?)
         ON CONFLICT (apply_id, task_id) DO UPDATE SET status = 'running', attempt = excluded.attempt,
           started_at = excluded.started_at, finished_at = NULL, error = NULL, output = NULL`,
      )
      .run(s.applyId, s.taskId, s.phase, s.host, attempt, s.now);
    return attempt;
  }

  /** Written after the host answered. `output` must hold no secrets. */
  stepFinished(s: {
    applyId: string;
    taskId: string;
    status: 'done' | 'failed';
    now: number;
    output?: unknown;
    error?: WireError;
  }): void {
    this.db
      .prepare(
        'UPDATE apply_steps SET status = ?, finished_at = ?, output = ?, error = ? WHERE apply_id = ? AND task_id = ?',
      )
      .run(
        s.status,
        s.now,
        s.output === undefined ? null : JSON.stringify(s.output),
        s.error ? JSON.stringify(s.error) : null,
        s.applyId,
        s.taskId,
      );
  }
}

function applyFromRow(r: Row): ApplyRecord {
  return {
    id: r.id as string,
    cluster: r.cluster as string,
    planHash: r.plan_hash as string,
    plan: JSON.parse(r.plan as string) as unknown,
    status: r.status as ApplyStatus,
    startedAt: r.started_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
  };
}

function stepFromRow(r: Row): StepRecord {
  return {
    applyId: r.apply_id as string,
    taskId: r.task_id as string,
    phase: r.phase as string,
    host: r.host as string,
    status: r.status as StepStatus,
    attempt: r.attempt as number,
    startedAt: r.started_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    output: r.output ? (JSON.parse(r.output as string) as unknown) : null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
  };
}
