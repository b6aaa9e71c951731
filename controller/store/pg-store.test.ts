import { Writable } from 'node:stream';
import pino from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.js';
import { MIGRATIONS } from './migrations.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import { PgStore, redactConnectionString } from './pg-store.js';

function capturingLog(): { log: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: pino({ level: 'trace' }, sink), text: () => lines.join('') };
}

describe('redactConnectionString', () => {
  it('replaces the password in URL and key=value forms', () => {
    expect(redactConnectionString('postgres://kctl:s3cr%40t@db.example:5432/kctl?sslmode=verify-full')).toBe(
      'postgres://kctl:***@db.example:5432/kctl?sslmode=verify-full',
    );
    expect(redactConnectionString('postgres://db.example/kctl?password=hunter2')).toBe(
      'postgres://db.example/kctl?password=***',
    );
    expect(redactConnectionString('host=db user=kctl password=hunter2 dbname=kctl')).toBe(
      'host=db user=kctl password=*** dbname=kctl',
    );
  });
});

describe('PgStore on a throwaway PostgreSQL 15', () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startThrowawayPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('has the same migrations, by number, as the SQLite store, and records how many ran', async () => {
    expect(PG_MIGRATIONS.length).toBe(MIGRATIONS.length);
    const store = await PgStore.open({ connectionString: server.url(await server.createDatabase()) });
    try {
      expect(await store.schemaVersion()).toBe(MIGRATIONS.length);
    } finally {
      await store.close();
    }
  });

  it('migrates once when replicas open the same database together', async () => {
    const url = server.url(await server.createDatabase());
    const stores = await Promise.all([1, 2, 3].map(() => PgStore.open({ connectionString: url })));
    expect(await Promise.all(stores.map((s) => s.schemaVersion()))).toEqual(
      [6, 6, 6].map(() => MIGRATIONS.length),
    );
    await Promise.all(stores.map((s) => s.close()));
  });

  it('refuses a database whose schema is newer than this controller', async () => {
    const name = await server.createDatabase();
    const client = new pg.Client({ connectionString: server.url(name) });
    await client.connect();
    await client.query(
      'CREATE TABLE kctl_schema (version INTEGER NOT NULL); INSERT INTO kctl_schema VALUES (99)',
    );
    await client.end();
    await expect(PgStore.open({ connectionString: server.url(name) })).rejects.toMatchObject({
      code: 'invalid_config',
      message: expect.stringMatching(/schema version 99, newer than this controller knows/) as unknown,
    });
  });

  it('keeps the audit trail append-only (S21)', async () => {
    const name = await server.createDatabase();
    const store = await PgStore.open({ connectionString: server.url(name) });
    await store.audit({ actor: 'admin:a', action: 'x', target: null, details: null });
    await store.close();
    const client = new pg.Client({ connectionString: server.url(name) });
    await client.connect();
    try {
      await expect(client.query('DELETE FROM audit')).rejects.toThrow(/append-only/);
      await expect(client.query(`UPDATE audit SET actor = 'y'`)).rejects.toThrow(/append-only/);
      await expect(client.query('TRUNCATE audit')).rejects.toThrow(/append-only/);
    } finally {
      await client.end();
    }
  });

  it('never puts the connection string password in a log line or an error (wrong password, server gone, bad SQL)', async () => {
    const name = await server.createDatabase();
    const { log, text } = capturingLog();
    const errors: unknown[] = [];

    // a wrong password: authentication fails
    const secret = 'Wr0ng-pa55word-7f3a9c';
    const wrong = server.url(name).replace(`:${server.password}@`, `:${secret}@`);
    await PgStore.open({ connectionString: wrong, log }).catch((err: unknown) => errors.push(err));

    // the right password, then statements that fail, then the server unreachable
    const store = await PgStore.open({ connectionString: server.url(name), log });
    await store.createHost({
      id: 'h1',
      name: 'cp-1',
      labels: {},
      state: 'active',
      certSerial: '1',
      certNotAfter: 0,
      enrolledAt: 0,
    });
    await store
      .createHost({
        id: 'h2',
        name: 'cp-1',
        labels: {},
        state: 'active',
        certSerial: '1',
        certNotAfter: 0,
        enrolledAt: 0,
      })
      .catch((err: unknown) => errors.push(err));
    await store.close();
    const nowhere = server.url(name).replace(`:${server.port}/`, ':1/');
    await PgStore.open({ connectionString: nowhere, log }).catch((err: unknown) => errors.push(err));

    expect(errors).toHaveLength(3);
    const [auth, duplicate, refused] = errors as Error[];
    expect(auth).toBeInstanceOf(KctlError);
    expect(auth).toMatchObject({ code: 'invalid_config', retryable: false });
    expect(auth?.message).toMatch(/password authentication failed/);
    expect(auth?.message).toContain('postgres://kctl:***@127.0.0.1:');
    expect(duplicate?.message).toMatch(/duplicate key/);
    expect(refused).toMatchObject({ code: 'io_error', retryable: true });
    expect(refused?.message).toContain('postgres://kctl:***@127.0.0.1:1/');
    expect(text()).toMatch(/store opened/);
    const everything = [
      text(),
      ...errors.map(
        (e) => `${String(e)} ${JSON.stringify(e)} ${(e as Error).stack ?? ''} ${String((e as Error).cause)}`,
      ),
    ].join('\n');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(server.password);
  });
});
