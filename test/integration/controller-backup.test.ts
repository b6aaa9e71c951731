import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostList, TokenCreateResponse } from '../../proto/admin-api.js';
import { ApiClient } from '../../controller/cli/api-client.js';
import { loadClientConfig } from '../../controller/cli/client-config.js';
import { caPinOf } from '../../proto/ca-pin.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  startProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
  type Proc,
} from './harness.js';

/**
 * Issue 16, backups: `kctl controller backup` while a real controller runs and writes, then
 * `kctl controller restore` into a new dir; a controller started from it has the state and the
 * same CA, and an agent enrolled before the backup reconnects to it without a new token.
 */
describe('controller backup while it writes, restore, and an agent reconnecting', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let work: string;
  let restoredProc: Proc | undefined;
  let hostId: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    work = await tempDir('backup');
    const created = await kctl(['token', 'create', '--ttl', '10m', '--uses', '1'], { env: env() });
    expect(created.code).toBe(0);
    agent = await startAgentProcess({ name: 'node-a', controller, token: created.stdout.trim() });
    hostId = await waitFor(
      'node-a online',
      async () => {
        const { hosts } = await controller.api.get('/v1/admin/hosts', HostList, 2000);
        return hosts.find((h) => h.name === 'node-a' && h.online)?.id;
      },
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await restoredProc?.stop();
    await cleanup([controller.dataDir, work, agent.stateDir, agent.hostRoot]);
  });

  const out = (): string => join(work, 'controller.backup');
  const restored = (): string => join(work, 'restored');
  let tokensBefore: string[] = [];

  it('backs up while tokens are being created; the file is 0600 and a second --out is refused', async () => {
    const made: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await controller.api.post(
          '/v1/admin/tokens',
          { ttlMs: 600_000, uses: 1, labels: {}, description: `loop-${i}` },
          TokenCreateResponse,
        );
        made.push(`loop-${i}`);
      }
    })();
    await waitFor('some tokens written', () => Promise.resolve(made.length >= 5), 30_000);
    tokensBefore = [...made];
    const r = await kctl(['controller', 'backup', '--data-dir', controller.dataDir, '--out', out()]);
    writing = false;
    await writer;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the writes went on during the backup, or it proves nothing about consistency under load
    expect(made.length).toBeGreaterThan(tokensBefore.length);
    expect(r.stdout).toContain(`CA pin:         ${controller.caPin}`);
    expect(r.stdout).toMatch(/integrity ok/);
    expect((await stat(out())).mode & 0o777).toBe(0o600);
    const text = await readFile(out(), 'utf8');
    const key = (await readFile(join(controller.dataDir, 'ca.key'), 'utf8')).split('\n')[1] ?? 'x';
    expect(r.stdout + r.stderr).not.toContain(key);
    expect(JSON.parse(text)).toMatchObject({ format: 'kctl-controller-backup', formatVersion: 1 });

    const again = await kctl(['controller', 'backup', '--data-dir', controller.dataDir, '--out', out()]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`"${out()}" exists`);
    expect(await readFile(out(), 'utf8')).toBe(text);
  }, 180_000);

  it('refuses a tampered member, naming it, and restores nothing', async () => {
    const file = JSON.parse(await readFile(out(), 'utf8')) as { members: Record<string, string> };
    const db = Buffer.from(file.members['state.db'] ?? '', 'base64');
    db[db.length - 1] = (db[db.length - 1] ?? 0) ^ 1;
    file.members['state.db'] = db.toString('base64');
    const tampered = join(work, 'tampered.backup');
    await writeFile(tampered, JSON.stringify(file));
    const r = await kctl(['controller', 'restore', '--from', tampered, '--data-dir', join(work, 'nope')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('member "state.db" does not match its SHA-256');
    await expect(stat(join(work, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('restores into a new dir: sound database with the hosts and tokens, same CA pin, files 0600', async () => {
    // the machine is lost: the controller is gone, the agent keeps trying to reconnect
    await controller.proc.stop('SIGKILL');
    const r = await kctl(['controller', 'restore', '--from', out(), '--data-dir', restored()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`CA pin:         ${controller.caPin}`);
    expect(r.stdout).toContain(`kctl controller run --data-dir ${restored()}`);
    expect((await stat(restored())).mode & 0o777).toBe(0o700);
    for (const f of [
      'state.db',
      'ca.crt',
      'ca.key',
      'server.crt',
      'server.key',
      'controller.json',
      'kctl.yaml',
    ]) {
      expect((await stat(join(restored(), f))).mode & 0o777).toBe(0o600);
    }
    expect(caPinOf(await readFile(join(restored(), 'ca.crt'), 'utf8'))).toBe(controller.caPin);
    const db = new Database(join(restored(), 'state.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const names = (db.prepare('SELECT name FROM hosts').all() as Array<{ name: string }>).map(
        (h) => h.name,
      );
      expect(names).toEqual(['node-a']);
      const descriptions = new Set(
        (db.prepare('SELECT description FROM tokens').all() as Array<{ description: string }>).map(
          (t) => t.description,
        ),
      );
      for (const d of tokensBefore) expect(descriptions).toContain(d);
      // one snapshot: the loop's tokens in it are loop-0 .. loop-(n-1), with no gap
      const loop = [...descriptions].filter((d) => d.startsWith('loop-'));
      expect(loop.sort()).toEqual(loop.map((_, i) => `loop-${i}`).sort());
    } finally {
      db.close();
    }
  }, 60_000);

  it('refuses to restore over a dir with a CA without --force', async () => {
    const r = await kctl(['controller', 'restore', '--from', out(), '--data-dir', restored()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Refusing to restore into "${restored()}"`);
  }, 60_000);

  it('a controller started from the restored dir gets the agent back without a new token', async () => {
    restoredProc = startProcess(['controller/cli/kctl.ts', 'controller', 'run', '--data-dir', restored()]);
    const api = new ApiClient(await loadClientConfig(join(restored(), 'kctl.yaml')));
    const hosts = await waitFor(
      'node-a back online on the restored controller',
      async () => {
        const { hosts } = await api.get('/v1/admin/hosts', HostList, 2000);
        return hosts.some((h) => h.name === 'node-a' && h.online) ? hosts : undefined;
      },
      90_000,
      250,
    );
    expect(hosts.map((h) => ({ id: h.id, name: h.name }))).toEqual([{ id: hostId, name: 'node-a' }]);
    // its only token was used up before the backup: reconnecting needed none
    expect(controller.proc.output()).toContain('host enrolled');
    expect(restoredProc.output()).not.toContain('host enrolled');
  }, 150_000);
});
