import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostList, RunOpResponse } from '../../proto/admin-api.js';
import { JournalEntry } from '../../agent/journal.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from '../integration/harness.js';

/**
 * The agent's state directory is a small tmpfs (mounted by the test; root only), filled up while
 * the agent serves. A command then gets a clear error naming the journal path and does not run
 * (no journal entry, no run); a command whose result cannot be journaled says so; the journal is
 * never corrupted: after space is freed every entry still reads back and new commands work.
 */
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

describe.skipIf(!canMountTmpfs())('the agent state directory full (tmpfs; needs root to mount)', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let work: string;
  let mount: string;
  let mounted = false;
  const filler = (): string => join(mount, 'filler');

  const ping = (args: Record<string, unknown> = {}): Promise<RunOpResponse> =>
    controller.api.post(
      '/v1/admin/ops',
      { host: 'full', op: 'ping', args, timeoutMs: 30_000 },
      RunOpResponse,
      40_000,
    );
  const fill = async (): Promise<void> => {
    await writeFile(filler(), Buffer.alloc(4 * 1024 * 1024, 1)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOSPC') throw err;
    });
    expect((await statfs(mount)).bavail).toBe(0);
  };
  const agentLines = (id: string): string[] =>
    agent.proc
      .output()
      .split('\n')
      .filter((l) => l.includes(id));

  beforeAll(async () => {
    work = await tempDir('statefull');
    mount = join(work, 'state');
    await mkdir(mount, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'kctl-fault-state', mount]);
    mounted = true;
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const token = (
      await kctl(['token', 'create'], { env: { KCTL_CONFIG: controller.clientConfig } })
    ).stdout.trim();
    agent = await startAgentProcess({ name: 'full', controller, token, extra: { stateDir: mount } });
    await waitFor(
      'agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      60_000,
    );
  }, 180_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    if (mounted) execFileSync('umount', [mount]);
    await cleanup(
      [work, controller?.dataDir, agent?.stateDir, agent?.hostRoot].filter((p) => p !== undefined),
    );
  });

  it(
    'refuses a command it cannot journal, with the path, and keeps the journal readable',
    {
      timeout: 180_000,
    },
    async () => {
      const before = [await ping(), await ping(), await ping()];
      expect(before.every((r) => r.outcome.ok)).toBe(true);

      // full: the command is refused before it runs, with the path and a remedy
      await fill();
      const refused = await ping();
      expect(refused.outcome.ok).toBe(false);
      const error = refused.outcome.ok ? undefined : refused.outcome.error;
      expect(error).toMatchObject({
        code: 'io_error',
        retryable: true,
        details: { remedy: 'free space in the agent state directory' },
      });
      expect(error?.message).toBe(
        `Cannot write state file "${join(mount, 'journal', `${refused.commandId}.json`)}": ENOSPC`,
      );
      const refusedLog = agentLines(refused.commandId);
      expect(refusedLog.some((l) => l.includes('journal write failed'))).toBe(true);
      expect(refusedLog.some((l) => l.includes('command finished'))).toBe(false); // the op never ran
      expect(await readdir(join(mount, 'journal'))).not.toContain(`${refused.commandId}.json`);

      // the disk fills while a command runs: it ran, but says its result could not be journaled
      await rm(filler());
      const running = ping({ delayMs: 3000 });
      const runningId = await waitFor(
        'a journaled running command',
        async () => {
          for (const name of await readdir(join(mount, 'journal'))) {
            const e = JournalEntry.parse(JSON.parse(await readFile(join(mount, 'journal', name), 'utf8')));
            if (e.status === 'running') return e.id;
          }
          return undefined;
        },
        20_000,
        20,
      );
      await fill();
      const unjournaled = await running;
      expect(unjournaled.commandId).toBe(runningId);
      expect(unjournaled.outcome.ok).toBe(false);
      expect(unjournaled.outcome.ok ? '' : unjournaled.outcome.error.message).toMatch(
        /^Command ran but its result could not be journaled: Cannot write state file ".*": ENOSPC$/,
      );

      // space freed: every entry reads back (the earlier results intact, the interrupted one still
      // 'running'), no temp file is left, and new commands work
      await rm(filler());
      const names = (await readdir(join(mount, 'journal'))).sort();
      expect(names.filter((n) => n.includes('.kctl-tmp-'))).toEqual([]);
      const entries = new Map<string, JournalEntry>();
      for (const name of names) {
        const e = JournalEntry.parse(JSON.parse(await readFile(join(mount, 'journal', name), 'utf8')));
        entries.set(e.id, e);
      }
      for (const r of before) {
        expect(entries.get(r.commandId)).toMatchObject({ status: 'done', outcome: r.outcome });
      }
      expect(entries.get(runningId)?.status).toBe('running');
      const after = await ping();
      expect(after.outcome.ok).toBe(true);
      const entry = JournalEntry.parse(
        JSON.parse(await readFile(join(mount, 'journal', `${after.commandId}.json`), 'utf8')),
      );
      expect(entry).toMatchObject({ status: 'done', outcome: after.outcome });
    },
  );
});
