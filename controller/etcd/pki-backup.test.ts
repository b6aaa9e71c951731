import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backupController } from '../backup/backup.js';
import { restoreController } from '../backup/restore.js';
import { initDataDir } from '../data-dir.js';
import { etcdPkiFor, loadEtcdPki } from './pki-store.js';

const members = [{ name: 'etcd-1', address: '10.0.0.21' }];

describe('the etcd PKI in a controller backup', () => {
  it('is backed up and restored with the CA (a restored controller can still sign new members)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kctl-etcd-backup-'));
    try {
      const dataDir = join(root, 'data');
      await initDataDir({ dir: dataDir, listen: '127.0.0.1:7443', sans: [] });
      new Database(join(dataDir, 'state.db')).close();
      const plain = await backupController({ dataDir, out: join(root, 'before.json') });
      // no managed etcd yet: the member is optional
      expect(Object.keys(plain.manifest.members)).not.toContain('etcd-pki.json');
      const pki = await etcdPkiFor(dataDir, members);
      const made = await backupController({ dataDir, out: join(root, 'b.json') });
      expect(Object.keys(made.manifest.members)).toContain('etcd-pki.json');
      const target = join(root, 'restored');
      await restoreController({ from: join(root, 'b.json'), dataDir: target });
      expect(await loadEtcdPki(target)).toEqual(pki);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
