import { afterAll, beforeAll } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.js';
import { describeStoreConformance } from './conformance.js';
import { PgStore } from './pg-store.js';

// one cluster for the file; each test gets a copy of a database migrated once
let server: ThrowawayPostgres;
let migrated: string;
beforeAll(async () => {
  server = await startThrowawayPostgres();
  migrated = await server.createDatabase('kctl_migrated');
  await (await PgStore.open({ connectionString: server.url(migrated) })).close();
});
afterAll(async () => {
  await server?.stop();
});

describeStoreConformance('PostgreSQL', async () =>
  PgStore.open({ connectionString: server.url(await server.createDatabase('kctl_test', migrated)) }),
);
