import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeServerCertificate,
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from '../../test/support/postgres.js';
import { PgStore } from './pg-store.js';

describe('PgStore over TLS', () => {
  let server: ThrowawayPostgres;
  let database: string;
  beforeAll(async () => {
    server = await startThrowawayPostgres({ tls: true });
    database = await server.createDatabase();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('connects over TLS, verifying the server against the given CA', async () => {
    const store = await PgStore.open({
      connectionString: server.url(database),
      tls: { caPem: server.caPem ?? '' },
    });
    try {
      expect(await store.sessionUsesTls()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('refuses a server whose certificate the given CA did not sign, naming the store without its password', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-other-ca-'));
    const otherCa = await makeServerCertificate(dir).finally(() => rm(dir, { recursive: true, force: true }));
    const err: unknown = await PgStore.open({
      connectionString: server.url(database),
      tls: { caPem: otherCa },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'io_error' });
    expect(String((err as Error).message)).toMatch(/certificate/i);
    expect(String((err as Error).message)).not.toContain(server.password);
  });
});
