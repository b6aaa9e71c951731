import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stat } from 'node:fs/promises';
import pg from 'pg';
import { startThrowawayPostgres, type ThrowawayPostgres } from './postgres.js';

describe('throwaway PostgreSQL cluster', () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startThrowawayPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs as an unprivileged user on a loopback port with password authentication, and is removed at stop', async () => {
    const name = await server.createDatabase();
    const client = new pg.Client({ connectionString: server.url(name) });
    await client.connect();
    const row = (await client.query<{ v: string; u: string }>('SELECT version() AS v, current_user AS u'))
      .rows[0];
    await client.end();
    expect(row?.v).toMatch(/^PostgreSQL 15\./);
    expect(row?.u).toBe('kctl');
    const wrong = new pg.Client({ connectionString: server.url(name).replace(server.password, 'wrong') });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    const owner = (await stat(server.socketDir)).uid;
    if (process.getuid?.() === 0) expect(owner).not.toBe(0);
    await server.stop();
    await expect(stat(server.socketDir)).rejects.toThrow(/ENOENT/);
  });
});
