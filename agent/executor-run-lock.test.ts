import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentFrame, CommandFrame } from '../proto/wire.js';
import { tempHost, type TempHost } from '../test/fixtures/temp-host.js';
import { StateDir } from './host/state-dir.js';
import { CommandJournal } from './journal.js';
import { CommandExecutor } from './executor.js';
import { MutatingRunLock } from './mutating-run-lock.js';
import { kubeadmUpgradeNodeOp } from './ops/kubeadm-ops.js';
import type { OpImplementations } from './ops/registry.js';

/**
 * The executor hands every op a Host whose mutating programs run detached under the host's one
 * lock: the kubeadm ops (here the real `kubeadm.upgradeNode`) and `host.apply`'s apt-get alike,
 * while queries stay on the agent's pipes. Each stand-in records where its stdout goes.
 */
const RECORD_STDOUT = 'echo "$(basename "$0") $1 $(readlink /proc/$$/fd/1)" >> "$KCTL_HOST_ROOT/stdout-of"';

describe('executor and the mutating-run lock', () => {
  let t: TempHost | undefined;
  let stateRoot: string | undefined;
  afterEach(async () => {
    await t?.cleanup();
    if (stateRoot) await rm(stateRoot, { recursive: true, force: true });
  });

  it('runs every op’s mutating programs detached and recorded, queries on the pipes', async () => {
    t = await tempHost({
      programs: { kubeadm: { script: RECORD_STDOUT }, 'apt-get': { script: RECORD_STDOUT } },
    });
    const host = t.host;
    stateRoot = await mkdtemp(join(tmpdir(), 'kctl-exec-lock-'));
    const state = new StateDir(join(stateRoot, 'state'));
    await state.init();
    const ops = {
      'kubeadm.upgradeNode': kubeadmUpgradeNodeOp,
      // any op (ping here, whose args are simple) that installs as host.apply's packages step does, then queries
      ping: {
        name: 'ping',
        run: async (_args: unknown, ctx: { host: typeof host }) => {
          await ctx.host.run('apt-get', ['install', '-y', '--', 'kubelet']);
          await ctx.host.run('kubeadm', ['version']);
          return { pong: true, ranAt: Date.now(), runId: 'r' };
        },
      },
    } as unknown as OpImplementations;
    const sent: AgentFrame[] = [];
    const executor = new CommandExecutor({
      ops,
      journal: new CommandJournal(state),
      host,
      log: pino({ level: 'silent' }),
      hostId: () => 'h',
      send: (f) => sent.push(f),
      runLock: new MutatingRunLock({ state, log: pino({ level: 'silent' }) }),
    });
    const now = Date.now();
    const frame = (id: string, op: CommandFrame['op'], args: unknown): CommandFrame =>
      ({
        type: 'command',
        id,
        hostId: 'h',
        op,
        args,
        issuedAt: now,
        expiresAt: now + 60_000,
      }) as CommandFrame;
    await executor.handle(frame('c-1', 'kubeadm.upgradeNode', {}));
    await executor.handle(frame('c-2', 'ping', {}));
    const results = sent.filter((f) => f.type === 'result');
    expect(results.map((r) => (r.type === 'result' ? r.outcome.ok : undefined))).toEqual([true, true]);

    const lines = (await readFile(join(t.root, 'stdout-of'), 'utf8')).trim().split('\n');
    const runDir = state.path('run');
    expect(lines[0]).toMatch(new RegExp(`^kubeadm upgrade ${runDir}/kubeadm-[0-9a-f]{16}\\.stdout$`));
    expect(lines[1]).toMatch(new RegExp(`^apt-get install ${runDir}/apt-get-[0-9a-f]{16}\\.stdout$`));
    // on the agent's pipes (node gives a child a socket pair or a pipe)
    expect(lines[2]).toMatch(/^kubeadm version (pipe|socket):\[\d+\]$/);
    expect(await readdir(runDir)).toEqual([]);
  });
});
