import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.js';
import { HostSeenBatch } from './host-seen-batch.js';
import { PgStore } from './pg-store.js';

/**
 * Two batches flushing at once on PostgreSQL (the facts writer and the last-seen writer of one
 * controller, or of two replicas while agents move between them) update overlapping host rows.
 * Written in the order the hosts were noted, they deadlocked and PostgreSQL dropped a whole batch
 * (bench/replica-fanout.ts logged "facts flush failed: deadlock detected" with 134 hosts).
 */
describe('HostSeenBatch on PostgreSQL', () => {
  let server: ThrowawayPostgres;
  let store: PgStore;
  const ids = Array.from({ length: 60 }, (_, i) => `host-${String(i).padStart(3, '0')}`);

  beforeAll(async () => {
    server = await startThrowawayPostgres();
    store = await PgStore.open({ connectionString: server.url(await server.createDatabase()) });
    for (const id of ids)
      await store.createHost({
        id,
        name: id,
        labels: {},
        state: 'active',
        certSerial: '01',
        certNotAfter: Date.now() + 86_400_000,
        enrolledAt: Date.now(),
      });
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('two batches noting the same hosts in opposite orders both commit', async () => {
    const failures: unknown[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void failures.push(line) });
    const batch = (what: string) => new HostSeenBatch({ store, log, flushEveryMs: 60_000, what });
    for (let round = 1; round <= 3; round++) {
      const [up, down] = [batch('last-seen'), batch('facts')];
      for (const id of ids) up.put(id, () => ({ at: round, ip: null }));
      for (const id of [...ids].reverse()) down.put(id, () => ({ at: round, ip: '10.0.0.1' }));
      await Promise.all([up.flush(), down.flush()]);
    }
    expect(failures).toEqual([]);
    const hosts = await store.listHosts();
    expect(hosts.every((h) => h.lastSeenAt === 3)).toBe(true);
  }, 60_000);
});
