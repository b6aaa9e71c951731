import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentFrame, CommandFrame } from '../proto/wire.js';
import type { Host } from './host/host.js';
import { StateDir } from './host/state-dir.js';
import { CommandJournal } from './journal.js';
import { CommandExecutor } from './executor.js';
import type { OpImplementations } from './ops/registry.js';
import { ControllerClock, type LocalClocks } from './controller-clock.js';

const HOST_ID = 'host-1';

function command(overrides: Partial<CommandFrame> = {}): CommandFrame {
  const now = Date.now();
  return {
    type: 'command',
    id: 'cmd-1',
    hostId: HOST_ID,
    op: 'ping',
    args: {},
    issuedAt: now,
    expiresAt: now + 60_000,
    ...overrides,
  };
}

describe('command executor', () => {
  let dir: string;
  let runs: number;
  let sent: AgentFrame[];

  const makeExecutor = (stateDir = new StateDir(join(dir, 'state'))): CommandExecutor => {
    const ops = {
      ping: {
        name: 'ping',
        run: async (args: { delayMs?: number }) => {
          runs++;
          if (args.delayMs) await new Promise((r) => setTimeout(r, args.delayMs));
          return { pong: true as const, ranAt: Date.now(), runId: `run-${runs}` };
        },
      },
    } as unknown as OpImplementations;
    return new CommandExecutor({
      ops,
      journal: new CommandJournal(stateDir),
      host: {} as Host,
      log: pino({ level: 'silent' }),
      hostId: () => HOST_ID,
      send: (f) => sent.push(f),
    });
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-exec-'));
    await new StateDir(join(dir, 'state')).init();
    runs = 0;
    sent = [];
  });
  afterEach(async () => {
    await chmod(join(dir, 'state', 'journal'), 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const results = (): Array<Extract<AgentFrame, { type: 'result' }>> =>
    sent.filter((f): f is Extract<AgentFrame, { type: 'result' }> => f.type === 'result');

  it('runs a command once and answers a re-sent copy from the journal', async () => {
    const ex = makeExecutor();
    await ex.handle(command());
    await ex.handle(command());
    expect(runs).toBe(1);
    const [first, second] = results();
    expect(first?.replayed).toBe(false);
    expect(second?.replayed).toBe(true);
    expect(second?.outcome).toEqual(first?.outcome);
  });

  it('answers from the journal after an agent restart (a new executor over the same state dir)', async () => {
    await makeExecutor().handle(command());
    await makeExecutor().handle(command());
    expect(runs).toBe(1);
    expect(results()[1]?.replayed).toBe(true);
  });

  it('joins a copy re-sent while the first is still running instead of running it again', async () => {
    const ex = makeExecutor();
    await Promise.all([
      ex.handle(command({ args: { delayMs: 50 } })),
      ex.handle(command({ args: { delayMs: 50 } })),
    ]);
    expect(runs).toBe(1);
    expect(
      results()
        .map((r) => r.replayed)
        .sort(),
    ).toEqual([false, true]);
  });

  it('runs two commands of one exclusive lane one after the other, even when the first fails', async () => {
    // a restarted controller re-sends a kubeadm join as a new command while the first still runs
    const spans: Array<[number, number]> = [];
    let n = 0;
    const ex = new CommandExecutor({
      ops: {
        ping: {
          name: 'ping',
          exclusive: 'kubeadm',
          run: async (args: { delayMs?: number }) => {
            const start = performance.now();
            await new Promise((r) => setTimeout(r, args.delayMs ?? 0));
            spans.push([start, performance.now()]);
            if (++n === 1) throw new Error('first one fails');
            return { pong: true as const, ranAt: Date.now(), runId: `run-${n}` };
          },
        },
      } as unknown as OpImplementations,
      journal: new CommandJournal(new StateDir(join(dir, 'state'))),
      host: {} as Host,
      log: pino({ level: 'silent' }),
      hostId: () => HOST_ID,
      send: (f) => sent.push(f),
    });
    await Promise.all([
      ex.handle(command({ id: 'a', args: { delayMs: 80 } })),
      ex.handle(command({ id: 'b', args: { delayMs: 10 } })),
      ex.handle(command({ id: 'c', args: { delayMs: 10 } })),
    ]);
    expect(spans).toHaveLength(3);
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(results().map((r) => r.outcome.ok)).toEqual([false, true, true]);
  });

  it('never journals the result of a secretResult op: a re-send runs it again instead', async () => {
    const state = new StateDir(join(dir, 'state'));
    const journal = new CommandJournal(state);
    let n = 0;
    const ex = new CommandExecutor({
      ops: {
        ping: {
          name: 'ping',
          secretResult: true,
          run: () => Promise.resolve({ pong: true as const, ranAt: Date.now(), runId: `secret-${++n}` }),
        },
      } as unknown as OpImplementations,
      journal,
      host: {} as Host,
      log: pino({ level: 'silent' }),
      hostId: () => HOST_ID,
      send: (f) => sent.push(f),
    });
    await ex.handle(command({ id: 'k' }));
    expect(await journal.get('k')).toBeUndefined();
    expect(await state.list('journal')).toEqual([]);
    await ex.handle(command({ id: 'k' }));
    expect(n, 'ran again: nothing to answer a re-send from').toBe(2);
    expect(results().map((r) => r.outcome.ok)).toEqual([true, true]);
  });

  it('runs commands of ops without a lane side by side', async () => {
    let active = 0;
    let most = 0;
    const ex = new CommandExecutor({
      ops: {
        ping: {
          name: 'ping',
          run: async () => {
            most = Math.max(most, ++active);
            await new Promise((r) => setTimeout(r, 50));
            active--;
            return { pong: true as const, ranAt: Date.now(), runId: 'r' };
          },
        },
      } as unknown as OpImplementations,
      journal: new CommandJournal(new StateDir(join(dir, 'state'))),
      host: {} as Host,
      log: pino({ level: 'silent' }),
      hostId: () => HOST_ID,
      send: (f) => sent.push(f),
    });
    await Promise.all([ex.handle(command({ id: 'a' })), ex.handle(command({ id: 'b' }))]);
    expect(most).toBe(2);
  });

  it('refuses a command for another host (S11)', async () => {
    await makeExecutor().handle(command({ hostId: 'someone-else' }));
    expect(runs).toBe(0);
    expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'command_foreign_host' } });
  });

  it('refuses a command at exactly its expiry (now >= expiresAt)', async () => {
    const now = Date.now();
    const ex = new CommandExecutor({
      ops: {} as OpImplementations,
      journal: new CommandJournal(new StateDir(join(dir, 'state'))),
      host: {} as Host,
      log: pino({ level: 'silent' }),
      hostId: () => HOST_ID,
      send: (f) => sent.push(f),
      now: () => now,
    });
    await ex.handle(command({ issuedAt: now - 10, expiresAt: now }));
    expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'command_expired' } });
  });

  describe('freshness on the controller clock, not this host wall clock (S11)', () => {
    const TEN_MINUTES = 600_000;
    const CONTROLLER_T0 = 1_700_000_000_000;
    /** this host's wall clock is 10 min ahead; monotonic time starts at 5 s */
    const fakeClocks = () => {
      const c = { wall: CONTROLLER_T0 + TEN_MINUTES, mono: 5000 };
      return {
        c,
        clocks: { wallNow: () => c.wall, monoNow: () => c.mono },
        advance(ms: number) {
          c.wall += ms;
          c.mono += ms;
        },
      };
    };
    const executorWith = (
      clocks: LocalClocks,
      controllerClock: ControllerClock | undefined,
      journal = new CommandJournal(new StateDir(join(dir, 'state'))),
    ): CommandExecutor => {
      const ops = {
        ping: {
          name: 'ping',
          run: () => {
            runs++;
            return Promise.resolve({ pong: true as const, ranAt: 0, runId: `run-${runs}` });
          },
        },
      } as unknown as OpImplementations;
      return new CommandExecutor({
        ops,
        journal,
        host: {} as Host,
        log: pino({ level: 'silent' }),
        hostId: () => HOST_ID,
        send: (f) => sent.push(f),
        now: () => clocks.wallNow(),
        clocks,
        ...(controllerClock ? { controllerClock } : {}),
      });
    };
    /** the offset as the connection learns it: the welcome answers the hello after a 4 ms round trip */
    const measured = (clocks: LocalClocks, controllerNowAtReceipt: number): ControllerClock => {
      const clock = new ControllerClock(clocks);
      clock.observeRoundTrip(controllerNowAtReceipt - 2, 4);
      return clock;
    };

    it('runs a fresh command on a host whose clock is 10 min ahead', async () => {
      const { clocks } = fakeClocks();
      const ex = executorWith(clocks, measured(clocks, CONTROLLER_T0));
      await ex.handle(command({ issuedAt: CONTROLLER_T0, expiresAt: CONTROLLER_T0 + 60_000, ttlMs: 60_000 }));
      expect(results()[0]?.outcome).toMatchObject({ ok: true });
      expect(runs).toBe(1);
    });

    it('refuses a command once the controller clock reads exactly expiresAt, though this host is behind', async () => {
      const c = { wall: CONTROLLER_T0 - TEN_MINUTES, mono: 0 };
      const clocks = { wallNow: () => c.wall, monoNow: () => c.mono };
      const clock = measured(clocks, CONTROLLER_T0);
      const ex = executorWith(clocks, clock);
      c.mono += 30_000;
      c.wall += 30_000;
      expect(clock.now()).toBe(CONTROLLER_T0 + 30_000);
      await ex.handle(command({ issuedAt: CONTROLLER_T0, expiresAt: CONTROLLER_T0 + 30_000 }));
      await ex.handle(command({ id: 'cmd-2', issuedAt: CONTROLLER_T0, expiresAt: CONTROLLER_T0 + 30_001 }));
      expect(results().map((r) => r.outcome.ok)).toEqual([false, true]);
      expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'command_expired' } });
    });

    it('refuses a command whose ttlMs has passed on the monotonic clock since receipt', async () => {
      const f = fakeClocks();
      // no controller time (an older controller): the relative deadline alone decides, not the wall clock
      const journal = new CommandJournal(new StateDir(join(dir, 'state')));
      const read = journal.get.bind(journal);
      // the journal read is where a loaded host spends time: 2 s pass between receipt and the check
      journal.get = (id: string) => {
        f.advance(2000);
        return read(id);
      };
      const exSlow = executorWith(f.clocks, undefined, journal);
      await exSlow.handle(command({ issuedAt: 0, expiresAt: 1, ttlMs: 2000 }));
      await exSlow.handle(command({ id: 'cmd-2', issuedAt: 0, expiresAt: 1, ttlMs: 2001 }));
      expect(results().map((r) => r.outcome.ok)).toEqual([false, true]);
    });

    it('falls back to its own wall clock only when the controller sends neither time nor ttl', async () => {
      const { clocks } = fakeClocks();
      const ex = executorWith(clocks, undefined);
      await ex.handle(command({ issuedAt: CONTROLLER_T0, expiresAt: CONTROLLER_T0 + 60_000 }));
      expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'command_expired' } });
    });
  });

  it('answers an unknown op with a typed error', async () => {
    await makeExecutor().handle(command({ op: 'shell.exec', args: { cmd: 'rm -rf /' } }));
    expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'unknown_op' } });
  });

  it('answers invalid args with a typed error naming the field', async () => {
    await makeExecutor().handle(command({ args: { delayMs: -5 } }));
    const outcome = results()[0]?.outcome;
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    if (outcome && !outcome.ok) expect(outcome.error.message).toContain('args.delayMs');
    expect(runs).toBe(0);
  });

  it('does not run a command it cannot journal (so a re-send can never run it twice)', async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; use a state dir whose journal path is a file instead
      const { writeFile, rm: rmPath } = await import('node:fs/promises');
      await rmPath(join(dir, 'state', 'journal'), { recursive: true });
      await writeFile(join(dir, 'state', 'journal'), 'not a directory');
    } else {
      await chmod(join(dir, 'state', 'journal'), 0o500);
    }
    await makeExecutor().handle(command());
    expect(runs).toBe(0);
    expect(results()[0]?.outcome).toMatchObject({ ok: false, error: { code: 'io_error' } });
  });
});
