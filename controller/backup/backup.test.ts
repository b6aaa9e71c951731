import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir } from '../data-dir.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { MIGRATIONS } from '../store/migrations.js';
import { backupController } from './backup.js';
import { restoreController } from './restore.js';
import { decodeBackup, encodeBackup, sha256Hex, type BackupFile } from './archive.js';

let root: string;
let dataDir: string;
let caPin: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'kctl-backup-test-'));
  dataDir = join(root, 'data');
  caPin = (await initDataDir({ dir: dataDir, listen: '127.0.0.1:7443', sans: [] })).caPin;
  const store = new SqliteStore(join(dataDir, 'state.db'));
  store.createHost({
    id: 'h-1',
    name: 'node-1',
    labels: { role: 'worker' },
    state: 'active',
    certSerial: 'ab',
    certNotAfter: 1,
    enrolledAt: 1,
  });
  store.close();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('controller backup and restore', () => {
  it('round-trips the state and the CA into a new dir with files 0600 in a 0700 dir', async () => {
    const out = join(root, 'b.json');
    const made = await backupController({ dataDir, out });
    expect(made.caPin).toBe(caPin);
    expect(await mode(out)).toBe(0o600);
    expect(made.manifest.schemaVersion).toBe(MIGRATIONS.length);
    expect(Object.keys(made.manifest.members).sort()).toEqual(
      ['ca.crt', 'ca.key', 'controller.json', 'kctl.yaml', 'server.crt', 'server.key', 'state.db'].sort(),
    );
    expect(await readdir(root)).toEqual(expect.arrayContaining(['b.json', 'data']));
    expect((await readdir(root)).filter((n) => n.includes('kctl-tmp'))).toEqual([]);

    const target = join(root, 'restored');
    const r = await restoreController({ from: out, dataDir: target });
    expect(r.caPin).toBe(caPin);
    expect(await mode(target)).toBe(0o700);
    for (const name of await readdir(target)) expect(await mode(join(target, name))).toBe(0o600);
    expect(await readFile(join(target, 'ca.key'), 'utf8')).toBe(
      await readFile(join(dataDir, 'ca.key'), 'utf8'),
    );
    const store = new SqliteStore(join(target, 'state.db'));
    expect(store.getHostByName('node-1')?.labels).toEqual({ role: 'worker' });
    store.close();
  });

  it('backs up a dir right after init, before the controller made state.db, and restores it', async () => {
    const fresh = join(root, 'fresh');
    await initDataDir({ dir: fresh, listen: '127.0.0.1:7443', sans: [] });
    const out = join(root, 'fresh.backup');
    const made = await backupController({ dataDir: fresh, out });
    expect(made.manifest.schemaVersion).toBe(MIGRATIONS.length);
    expect(await readdir(fresh)).not.toContain('state.db');
    const r = await restoreController({ from: out, dataDir: join(root, 'fresh-restored') });
    expect(r.manifest.members['state.db']?.size).toBeGreaterThan(0);
  });

  it('refuses to overwrite --out unless forced', async () => {
    const out = join(root, 'b.json');
    await writeFile(out, 'keep');
    await expect(backupController({ dataDir, out })).rejects.toThrow(`"${out}" exists`);
    expect(await readFile(out, 'utf8')).toBe('keep');
    await backupController({ dataDir, out, force: true });
    expect(await mode(out)).toBe(0o600);
  });

  it('refuses a member whose bytes do not match the manifest, naming it', async () => {
    const out = join(root, 'b.json');
    await backupController({ dataDir, out });
    const file = JSON.parse(await readFile(out, 'utf8')) as BackupFile;
    file.members['controller.json'] = Buffer.from('{"listen":"10.0.0.1:7443"}').toString('base64');
    await writeFile(out, JSON.stringify(file));
    const target = join(root, 'restored');
    await expect(restoreController({ from: out, dataDir: target })).rejects.toThrow(
      /member "controller.json" does not match its SHA-256/,
    );
    expect(await readdir(root)).not.toContain('restored');
    expect((await readdir(root)).filter((n) => n.includes('.restore-'))).toEqual([]);
  });

  it('refuses a schema newer than this code knows', async () => {
    const db = new Database(join(dataDir, 'state.db'));
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    const out = join(root, 'b.json');
    await backupController({ dataDir, out });
    await expect(restoreController({ from: out, dataDir: join(root, 'r') })).rejects.toThrow(
      `schema version ${MIGRATIONS.length + 1}, newer than this kctl knows (${MIGRATIONS.length})`,
    );
  });

  it('refuses to restore over a dir with a CA unless forced, then keeps the old dir aside', async () => {
    const out = join(root, 'b.json');
    await backupController({ dataDir, out });
    const other = join(root, 'other');
    const otherPin = (await initDataDir({ dir: other, listen: '127.0.0.1:7443', sans: [] })).caPin;
    await expect(restoreController({ from: out, dataDir: other })).rejects.toThrow(
      `Refusing to restore into "${other}"`,
    );
    const now = new Date('2026-12-07T11:00:00.000Z');
    const r = await restoreController({ from: out, dataDir: other, force: true, now });
    expect(r.replaced).toBe(`${other}.replaced-2026-12-07T11-00-00-000Z`);
    expect(r.caPin).toBe(caPin);
    const { caPinOf } = await import('../../proto/ca-pin.js');
    expect(caPinOf(await readFile(join(r.replaced ?? '', 'ca.crt'), 'utf8'))).toBe(otherPin);
    expect(caPinOf(await readFile(join(other, 'ca.crt'), 'utf8'))).toBe(caPin);
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    const out = join(root, 'b.json');
    await backupController({ dataDir, out });
    await writeFile(out, await swapMember(out, 'ca.key', join(root, 'x')));
    await expect(restoreController({ from: out, dataDir: join(root, 'r') })).rejects.toThrow(
      /"ca.crt" and "ca.key" are not a usable pair/,
    );
  });

  it('decodes what it encodes and rejects unknown members', () => {
    const { text } = encodeBackup({
      kctlVersion: '0.1.0',
      schemaVersion: 1,
      createdAt: new Date(0),
      members: { 'ca.crt': Buffer.from('a') },
    });
    expect(() => decodeBackup(text, 'f')).toThrow('Backup "f" has no member "state.db"');
    const file = JSON.parse(text) as Record<string, unknown> & { members: Record<string, string> };
    file.members['../etc/passwd'] = 'eA==';
    expect(() => decodeBackup(JSON.stringify(file), 'f')).toThrow(/Backup "f": .*members/);
  });
});

/** Replace one member with another data dir's file, with a manifest that matches (a consistent but wrong backup). */
async function swapMember(out: string, name: 'ca.key', otherDir: string): Promise<string> {
  await initDataDir({ dir: otherDir, listen: '127.0.0.1:7443', sans: [] });
  const data = await readFile(join(otherDir, name));
  const file = JSON.parse(await readFile(out, 'utf8')) as BackupFile;
  file.members[name] = data.toString('base64');
  file.manifest.members[name] = { sha256: sha256Hex(data), size: data.byteLength };
  return JSON.stringify(file);
}
