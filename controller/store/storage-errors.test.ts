import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { KctlError } from '../../proto/errors.js';
import { SqliteStore } from './sqlite-store.js';
import { storageError } from './storage-errors.js';

describe('state database storage failures', () => {
  let dir: string;
  let lines: Array<Record<string, unknown>>;
  const log = () =>
    pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-dbfull-'));
    lines = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a full database is an io_error naming the file, and the controller log says so', () => {
    const file = join(dir, 'state.db');
    const store = new SqliteStore(file, { log: log() });
    // SQLite answers SQLITE_FULL at its page limit exactly as on a full disk
    const pages = store.database.pragma('page_count', { simple: true }) as number;
    store.database.pragma(`max_page_count = ${pages + 2}`);
    let thrown: unknown;
    for (let i = 0; i < 200 && thrown === undefined; i++) {
      try {
        store.audit({ actor: 'test', action: 'fill', target: null, details: { pad: 'x'.repeat(2000), i } });
      } catch (err) {
        thrown = err;
      }
    }
    expect(thrown).toBeInstanceOf(KctlError);
    const e = thrown as KctlError;
    expect(e.code).toBe('io_error');
    expect(e.retryable).toBe(true);
    expect(e.message).toBe(
      `State database "${file}" cannot be written: the filesystem holding ${dir} is full (database or disk is full)`,
    );
    expect(e.details).toMatchObject({ file, sqlite: 'SQLITE_FULL' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: 'state database write failed',
      file,
      sqlite: 'SQLITE_FULL',
    });
    // a transaction's failure is named the same way, and logging is throttled (not one line per write)
    expect(() =>
      store.transaction(() =>
        store.audit({ actor: 'test', action: 'fill', target: null, details: { pad: 'y'.repeat(4000) } }),
      ),
    ).toThrow(`State database "${file}" cannot be written`);
    expect(lines).toHaveLength(1);
    store.close();
  });

  it.each([
    ['SQLITE_IOERR_WRITE', true],
    ['SQLITE_READONLY', false],
  ])('%s is an io_error naming the file (retryable: %s)', (code, retryable) => {
    const err = Object.assign(new Error('disk I/O error'), { code });
    expect(storageError('/var/lib/kctl/state.db', err)).toMatchObject({
      code: 'io_error',
      retryable,
      message: `State database "/var/lib/kctl/state.db" cannot be written: disk I/O error (${code})`,
    });
  });

  it('leaves other errors alone (constraint violations are not storage failures)', () => {
    const err = Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(storageError('/x/state.db', err)).toBeUndefined();
  });
});
