import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir } from '../../controller/data-dir.js';
import { HostList } from '../../proto/admin-api.js';
import { loadClientConfig } from '../../controller/cli/client-config.js';
import { ApiClient } from '../../controller/cli/api-client.js';
import {
  cleanup,
  freePort,
  kctl,
  startProcess,
  tempDir,
  waitFor,
  type Proc,
} from '../integration/harness.js';

/** root, and allowed to mount (a container without CAP_SYS_ADMIN is not) */
function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'kctl-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'kctl-mount-probe', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/**
 * The controller's data directory is a small tmpfs, filled while the controller runs. A write
 * through the admin API then fails with an error that names the database file (not SQLite's bare
 * "database or disk is full", coded internal), the controller's own log says so, and once space is
 * freed the same request works.
 */
describe.skipIf(!canMountTmpfs())('the controller database full (tmpfs; needs root to mount)', () => {
  let work: string;
  let dataDir: string;
  let mounted = false;
  let controller: Proc;
  let env: Record<string, string>;
  const filler = (): string => join(dataDir, 'filler');

  beforeAll(async () => {
    work = await tempDir('dbfull');
    dataDir = join(work, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'kctl-fault-db', dataDir]);
    mounted = true;
    const port = await freePort();
    const init = await initDataDir({ dir: dataDir, listen: `127.0.0.1:${port}`, sans: [] });
    env = { KCTL_CONFIG: init.clientConfig };
    controller = startProcess(['controller/cli/kctl.ts', 'controller', 'run', '--data-dir', dataDir]);
    const api = new ApiClient(await loadClientConfig(init.clientConfig));
    await waitFor(
      'controller up',
      async () => (await api.get('/v1/admin/hosts', HostList, 1000)) && true,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await controller?.stop();
    if (mounted) execFileSync('umount', [dataDir]);
    await cleanup([work].filter((p) => p !== undefined));
  });

  it('names the database file in kctl and in the controller log, and recovers when space is freed', async () => {
    expect((await kctl(['token', 'create'], { env })).code).toBe(0);
    await writeFile(filler(), Buffer.alloc(2 * 1024 * 1024, 1)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOSPC') throw err;
    });
    expect((await statfs(dataDir)).bavail).toBe(0);

    const full = await kctl(['token', 'create', '--description', 'x'.repeat(200)], { env });
    expect(full.code).not.toBe(0);
    const file = join(dataDir, 'state.db');
    expect(full.stderr).toContain(`State database "${file}" cannot be written`);
    expect(full.stderr).toContain('is full');
    expect(full.stderr).toContain(`remedy: free space on the filesystem holding ${dataDir}`);
    const logged = controller
      .output()
      .split('\n')
      .filter((l) => l.includes('state database write failed'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]).toContain(file);

    await rm(filler());
    expect((await kctl(['token', 'create'], { env })).code).toBe(0);
  }, 120_000);
});
