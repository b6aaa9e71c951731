import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { KctlError } from '../../proto/errors.js';

/**
 * SQLite's own words ("database or disk is full") name neither the file nor the remedy, and reach
 * kctl coded `internal`. A storage failure becomes an io_error naming the database file, and the
 * controller's log says so too (the admin API alone would leave the operator of the service blind).
 */
export function storageError(file: string, err: unknown): KctlError | undefined {
  if (err instanceof KctlError) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const reason = err instanceof Error ? err.message : code;
  const where = `the filesystem holding ${dirname(file)}`;
  if (code === 'SQLITE_FULL') {
    return new KctlError(
      'io_error',
      `State database "${file}" cannot be written: ${where} is full (${reason})`,
      {
        retryable: true,
        cause: err,
        details: {
          file,
          sqlite: code,
          remedy: `free space on ${where}; the controller continues once there is room`,
        },
      },
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN') {
    return new KctlError('io_error', `State database "${file}" cannot be written: ${reason} (${code})`, {
      retryable: code.startsWith('SQLITE_IOERR'),
      cause: err,
      details: {
        file,
        sqlite: code,
        remedy: `check ${where} (space, permissions, read-only mount, disk errors)`,
      },
    });
  }
  return undefined;
}

const LOG_EVERY_MS = 10_000;

/**
 * The database with every statement, exec, pragma and transaction guarded: storage failures are
 * rethrown as storageError and logged (the first at once, then one line per 10 s with a count).
 */
export function guardDatabase(
  db: Database.Database,
  file: string,
  log: Logger | undefined,
): Database.Database {
  let lastLogAt = -Infinity;
  let suppressed = 0;
  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      const mapped = storageError(file, err);
      if (!mapped) throw err;
      const now = Date.now();
      if (now - lastLogAt >= LOG_EVERY_MS) {
        log?.error(
          {
            file,
            sqlite: mapped.details?.sqlite,
            reason: mapped.message,
            ...(suppressed ? { suppressed } : {}),
          },
          'state database write failed',
        );
        lastLogAt = now;
        suppressed = 0;
      } else {
        suppressed++;
      }
      throw mapped;
    }
  };
  const guardStatement = (statement: Database.Statement): Database.Statement => {
    const guardedStatement: Database.Statement = new Proxy(statement, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): unknown => {
          const result = guard(() => (value as (...a: unknown[]) => unknown).apply(target, args));
          // pluck(), raw(), bind() return the statement itself: keep the chain guarded
          return result === target ? guardedStatement : result;
        };
      },
    });
    return guardedStatement;
  };
  const guarded = new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...a: unknown[]) => unknown;
      if (prop === 'prepare') {
        return (sql: string) => guardStatement(guard(() => method.call(target, sql) as Database.Statement));
      }
      if (prop === 'transaction') {
        return (fn: (...a: unknown[]) => unknown) => {
          const run = method.call(target, fn) as Database.Transaction<(...a: unknown[]) => unknown>;
          const wrapped = (...args: unknown[]): unknown => guard(() => run(...args));
          for (const mode of ['deferred', 'immediate', 'exclusive'] as const) {
            Object.assign(wrapped, { [mode]: (...args: unknown[]) => guard(() => run[mode](...args)) });
          }
          return wrapped;
        };
      }
      return (...args: unknown[]): unknown => guard(() => method.apply(target, args));
    },
  });
  return guarded;
}
