/**
 * Issue 16: `kctl controller backup` of a controller whose state is in PostgreSQL backs up the CA
 * and settings only and says the database needs pg_dump, naming the store setting and the
 * connection string without its password; restore brings back a data dir that reaches the same
 * database. Before, the backup copied (or made) a state.db the controller never reads.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { initDataDir } from '../../controller/data-dir.js';
import { SqliteStore } from '../../controller/store/sqlite-store.js';
import { PgStore } from '../../controller/store/pg-store.js';
import { decodeBackup } from '../../controller/backup/archive.js';
import { runKctl } from '../../controller/cli/program.js';
import type { CliContext } from '../../controller/cli/context.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';

const log = pino({ level: 'silent' });

function captureContext(): CliContext & { stdout: string; stderr: string } {
  const ctx = {
    exitCode: 0,
    stdout: '',
    stderr: '',
    out: (t: string) => void (ctx.stdout += t),
    err: (t: string) => void (ctx.stderr += t),
    client: () => Promise.reject(new Error('no client in this test')),
  };
  return ctx;
}

const host = (id: string, name: string) => ({
  id,
  name,
  labels: {},
  state: 'active' as const,
  certSerial: 'ab',
  certNotAfter: 1,
  enrolledAt: 1,
});

let server: ThrowawayPostgres;
beforeAll(async () => {
  server = await startThrowawayPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A data dir whose controller runs on a fresh database holding one host, and a stale state.db beside. */
async function postgresController(
  inSettings: boolean,
): Promise<{ root: string; dataDir: string; url: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kctl-backup-pg-'));
  dirs.push(root);
  const dataDir = join(root, 'data');
  await initDataDir({ dir: dataDir, listen: '127.0.0.1:7443', sans: [] });
  const url = server.url(await server.createDatabase('backup'));
  if (inSettings) {
    const file = join(dataDir, 'controller.json');
    const settings = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...settings, store: url }, null, 2), { mode: 0o600 });
  }
  const pg = await PgStore.open({ connectionString: url, log });
  await pg.createHost(host('h-1', 'node-1'));
  await pg.close();
  // what the data dir had before it moved to PostgreSQL: never read again by the controller
  const stale = new SqliteStore(join(dataDir, 'state.db'));
  stale.createHost(host('h-0', 'stale-node'));
  stale.close();
  return { root, dataDir, url };
}

describe('controller backup on PostgreSQL', () => {
  it('backs up the CA and settings only, names controller.json "store" and pg_dump, never the password; restore reaches the same database', async () => {
    const { root, dataDir, url } = await postgresController(true);
    const out = join(root, 'backup.json');
    const made = captureContext();
    expect(
      await runKctl(['controller', 'backup', '--data-dir', dataDir, '--out', out], made),
      made.stderr,
    ).toBe(0);
    const redacted = `postgres://${server.user}:***@127.0.0.1:${server.port}/`;
    expect(made.stderr).toContain(
      `database:       NOT in this backup: the state is in PostgreSQL ${redacted}`,
    );
    expect(made.stderr).toContain('(controller.json "store")');
    expect(made.stderr).toMatch(/pg_dump .*pg_basebackup/s);
    expect(made.stdout + made.stderr).not.toContain(server.password);
    expect(made.stdout).not.toContain('state.db');

    const { manifest, members } = decodeBackup(await readFile(out, 'utf8'), out);
    expect(Object.keys(members).sort()).toEqual(
      ['ca.crt', 'ca.key', 'controller.json', 'kctl.yaml', 'server.crt', 'server.key'].sort(),
    );
    expect(manifest.store?.kind).toBe('postgres');
    expect(manifest.store?.url.startsWith(redacted)).toBe(true);
    expect(manifest.store?.url).not.toContain(server.password);

    const target = join(root, 'restored');
    const restored = captureContext();
    expect(await runKctl(['controller', 'restore', '--from', out, '--data-dir', target], restored)).toBe(0);
    expect(restored.stdout).toContain(`the state is in PostgreSQL ${redacted}`);
    expect(await readdir(target)).not.toContain('state.db');
    const settings = JSON.parse(await readFile(join(target, 'controller.json'), 'utf8')) as {
      store?: string;
    };
    expect(settings.store).toBe(url);
    const pg = await PgStore.open({ connectionString: settings.store ?? '', log });
    try {
      expect((await pg.listHosts()).map((h) => h.name)).toEqual(['node-1']);
    } finally {
      await pg.close();
    }
  });

  it('takes the store from --store as kctl controller run does, and a sqlite backup still needs state.db', async () => {
    const { root, dataDir, url } = await postgresController(false);
    const out = join(root, 'backup.json');
    const made = captureContext();
    const args = ['controller', 'backup', '--data-dir', dataDir, '--out', out];
    expect(await runKctl([...args, '--store', url], made), made.stderr).toBe(0);
    expect(made.stderr).toContain('(--store)');
    expect(made.stderr).not.toContain(server.password);
    expect(Object.keys(decodeBackup(await readFile(out, 'utf8'), out).members)).not.toContain('state.db');

    // the same data dir without --store: SQLite, state.db in the backup as before
    const sqlite = captureContext();
    expect(await runKctl([...args, '--force'], sqlite)).toBe(0);
    expect(sqlite.stderr).toBe('');
    expect(sqlite.stdout).toMatch(/state\.db: +\d+ bytes, schema version \d+, integrity ok/);
    const text = await readFile(out, 'utf8');
    const file = JSON.parse(text) as {
      members: Record<string, string>;
      manifest: { members: Record<string, unknown> };
    };
    delete file.members['state.db'];
    delete file.manifest.members['state.db'];
    expect(() => decodeBackup(JSON.stringify(file), 'cut.json')).toThrow(
      'Backup "cut.json" has no member "state.db"',
    );
  });
});
