import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { openControllerStore } from './open-store.js';
import { StoreLocation } from './store-location.js';

const log = pino({ level: 'silent' });

describe('StoreLocation', () => {
  it.each([
    ['sqlite', true],
    ['postgres://kctl:secret@db:5432/kctl?sslmode=verify-full', true],
    ['postgresql://db/kctl', true],
    [{ url: 'postgres://db/kctl', caFile: 'db-ca.pem' }, true],
    ['mysql://db/kctl', false],
    [{ url: 'postgres://db/kctl', caFile: 'x', extra: 1 }, false],
  ])('%j valid: %s', (value, ok) => {
    expect(StoreLocation.safeParse(value).success).toBe(ok);
  });
});

describe('openControllerStore', () => {
  it('opens SQLite by default, as an AsyncStore', async () => {
    const opened = await openControllerStore({ location: undefined, dbFile: ':memory:', baseDir: '/', log });
    expect(opened.describe).toBe(':memory:');
    expect(await opened.store.listHosts()).toEqual([]);
    await opened.store.close();
  });

  it('names a TLS file it cannot read, resolved against the data dir, and never the password', async () => {
    const err = (await openControllerStore({
      location: { url: 'postgres://kctl:hunter2@127.0.0.1:1/kctl', caFile: 'missing-ca.pem' },
      dbFile: ':memory:',
      baseDir: '/nonexistent-data-dir',
      log,
    }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('invalid_config');
    expect(err.message).toContain('/nonexistent-data-dir/missing-ca.pem');
    expect(JSON.stringify(err)).not.toContain('hunter2');
    expect(err.message).not.toContain('hunter2');
  });
});
