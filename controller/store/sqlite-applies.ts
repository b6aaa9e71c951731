import type Database from 'better-sqlite3';
import type { WireError } from '../../proto/errors.js';
import type { ApplyJournal, ApplyRecord, ApplyStatus, StepRecord, StepStatus } from './store.js';

type Row = Record<string, unknown>;
/** SqliteStore's prepared-statement cache */
export type Prepare = (sql: string) => Database.Statement;

/** The apply journal on SQLite (synchronous=FULL: each transition is on disk when the call returns). */
export class SqliteApplyJournal implements ApplyJournal {
  constructor(private readonly statement: Prepare) {}

  createApply(a: { id: string; cluster: string; planHash: string; plan: unknown; now: number }): void {
    this.statement(
      `INSERT INTO applies (id, cluster, plan_hash, plan, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)`,
    ).run(a.id, a.cluster, a.planHash, JSON.stringify(a.plan), a.now);
  }

  latestUnfinished(cluster: string): ApplyRecord | undefined {
    const row = this.statement(
      `SELECT * FROM applies WHERE cluster = ? ORDER BY started_at DESC, rowid DESC LIMIT 1`,
    ).get(cluster) as Row | undefined;
    if (!row) return undefined;
    const apply = applyFromRow(row);
    return apply.status === 'succeeded' ? undefined : apply;
  }

  getApply(id: string): ApplyRecord | undefined {
    const row = this.statement('SELECT * FROM applies WHERE id = ?').get(id) as Row | undefined;
    return row ? applyFromRow(row) : undefined;
  }

  listApplies(limit = 20): ApplyRecord[] {
    return (
      this.statement('SELECT * FROM applies ORDER BY started_at DESC, rowid DESC LIMIT ?').all(limit) as Row[]
    ).map(applyFromRow);
  }

  finishApply(id: string, status: Exclude<ApplyStatus, 'running'>, now: number, error?: WireError): void {
    this.statement('UPDATE applies SET status = ?, finished_at = ?, error = ? WHERE id = ?').run(
      status,
      now,
      error ? JSON.stringify(error) : null,
      id,
    );
  }

  reopenApply(id: string): void {
    this.statement(
      `UPDATE applies SET status = 'running', finished_at = NULL, error = NULL WHERE id = ?`,
    ).run(id);
  }

  steps(applyId: string): StepRecord[] {
    return (this.statement('SELECT * FROM apply_steps WHERE apply_id = ?').all(applyId) as Row[]).map(
      stepFromRow,
    );
  }

  stepStarted(s: { applyId: string; taskId: string; phase: string; host: string; now: number }): number {
    const existing = this.statement(
      'SELECT attempt, status FROM apply_steps WHERE apply_id = ? AND task_id = ?',
    ).get(s.applyId, s.taskId) as { attempt: number; status: StepStatus } | undefined;
    const attempt = existing?.status === 'running' ? existing.attempt : (existing?.attempt ?? 0) + 1;
    this.statement(
      `INSERT INTO apply_steps (apply_id, task_id, phase, host, status, attempt, started_at)
       VALUES (?, ?, ?, ?, 'running', ?, ?)
       ON CONFLICT (apply_id, task_id) DO UPDATE SET status = 'running', attempt = excluded.attempt,
         started_at = excluded.started_at, finished_at = NULL, error = NULL, output = NULL`,
    ).run(s.applyId, s.taskId, s.phase, s.host, attempt, s.now);
    return attempt;
  }

  stepFinished(s: {
    applyId: string;
    taskId: string;
    status: 'done' | 'failed';
    now: number;
    output?: unknown;
    error?: WireError;
  }): void {
    this.statement(
      'UPDATE apply_steps SET status = ?, finished_at = ?, output = ?, error = ? WHERE apply_id = ? AND task_id = ?',
    ).run(
      s.status,
      s.now,
      s.output === undefined ? null : JSON.stringify(s.output),
      s.error ? JSON.stringify(s.error) : null,
      s.applyId,
      s.taskId,
    );
  }
}

/** shared with the PostgreSQL store: the columns are the same, JSON kept as text */
export function applyFromRow(r: Row): ApplyRecord {
  return {
    id: r.id as string,
    cluster: r.cluster as string,
    planHash: r.plan_hash as string,
    plan: JSON.parse(r.plan as string) as unknown,
    status: r.status as ApplyStatus,
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null || r.finished_at === undefined ? null : Number(r.finished_at),
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
  };
}

export function stepFromRow(r: Row): StepRecord {
  return {
    applyId: r.apply_id as string,
    taskId: r.task_id as string,
    phase: r.phase as string,
    host: r.host as string,
    status: r.status as StepStatus,
    attempt: Number(r.attempt),
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null || r.finished_at === undefined ? null : Number(r.finished_at),
    output: r.output ? (JSON.parse(r.output as string) as unknown) : null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
  };
}
