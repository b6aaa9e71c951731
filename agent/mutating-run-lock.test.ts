import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LocalHost } from './host/local-host.js';
import { parseProcStat } from './host/proc-stat.js';
import { StateDir } from './host/state-dir.js';
import {
  RUN_LOCK_FILE,
  MutatingRunLock,
  isMutatingRun,
  lockHolderAlive,
  parseRunLock,
} from './mutating-run-lock.js';

const log = pino({ level: 'silent' });
const until = async (cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('/proc/<pid>/stat parsing', () => {
  // fields 4.. of a real line (cat's, field 22 replaced)
  const tail =
    ' 26369 26369 25477 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 987654 3133440 392 18446744073709551615 0 0 0';
  it('reads the state and field 22 (start time)', () => {
    expect(parseProcStat(`4242 (kubeadm) S${tail}`)).toEqual({ state: 'S', startTime: '987654' });
  });
  it('counts fields after the last ")" of a command name with spaces and parentheses', () => {
    expect(parseProcStat(`4242 (a) b (c d) Z${tail}`)).toEqual({ state: 'Z', startTime: '987654' });
  });
  it('rejects truncated or foreign text', () => {
    expect(parseProcStat('4242 (kubeadm) S 1 1')).toBeUndefined();
    expect(parseProcStat('no parenthesis here')).toBeUndefined();
    expect(parseProcStat(`4242 (kubeadm) S${tail.replace('987654', 'x')}`)).toBeUndefined();
  });
});

describe('run lock record', () => {
  it('parses a record and refuses anything else', () => {
    expect(parseRunLock('{"pid":12,"startTime":"345"}')).toEqual({ pid: 12, startTime: '345' });
    expect(parseRunLock('{"pid":12,"startTime":"345"')).toBeUndefined();
    expect(parseRunLock('{"pid":0,"startTime":"345"}')).toBeUndefined();
    expect(parseRunLock('{"pid":12,"startTime":"3x"}')).toBeUndefined();
    expect(parseRunLock('{"pid":12,"startTime":"345","extra":1}')).toBeUndefined();
  });
  it('holds only while the same process (PID and start time) runs', () => {
    const lock = { pid: 12, startTime: '345' };
    expect(lockHolderAlive(lock, '345')).toBe(true);
    expect(lockHolderAlive(lock, '346')).toBe(false); // PID reused by a later process
    expect(lockHolderAlive(lock, undefined)).toBe(false); // gone, or a zombie
  });
});

describe('which runs are mutating (detached, recorded, one at a time)', () => {
  it.each([
    ['apt-get', ['update', '-q'], true],
    ['apt-get', ['install', '-y', '--', 'kubelet=1.31.2-1.1'], true],
    ['apt-get', ['-s', 'install', 'x'], true],
    ['apt-get', ['changelog', 'kubelet'], false],
    ['apt-mark', ['hold', '--', 'kubelet'], true],
    ['apt-mark', ['showhold'], false],
    ['dpkg', ['--configure', '-a'], true],
    ['dpkg', ['-i', '/tmp/x.deb'], true],
    ['dpkg', ['--audit'], false],
    ['dpkg', ['--print-architecture'], false],
    ['dpkg-query', ['-W', '--', 'kubelet'], false],
    ['dnf', ['install', '-y', '--disableexcludes=all', '--', 'kubelet-1.31.2'], true],
    ['dnf', ['-q', 'versionlock', 'add', '--', 'kubelet'], true],
    ['dnf', ['-q', 'versionlock', 'delete', '--', 'kubelet'], true],
    ['dnf', ['-q', 'versionlock', 'list'], false],
    ['dnf', ['remove', '-y', '--duplicates'], true],
    ['dnf', ['history', 'list'], false],
    ['rpm', ['-q', 'kubelet'], false],
    ['kubeadm', ['join', '--config', '/x'], true],
    ['kubeadm', ['init', 'phase', 'upload-certs', '--upload-certs'], true],
    ['kubeadm', ['reset', '-f'], true],
    ['kubeadm', ['upgrade', 'apply', 'v1.31.3', '-y'], true],
    ['kubeadm', ['upgrade', 'node'], true],
    ['kubeadm', ['certs', 'renew', 'all'], true],
    ['kubeadm', ['certs', 'check-expiration'], false],
    ['kubeadm', ['token', 'create', 'abcdef.0123456789abcdef', '--ttl', '1h'], true],
    ['kubeadm', ['kubeconfig', 'user', '--client-name', 'x'], false],
    ['kubeadm', ['version', '-o', 'short'], false],
    ['systemctl', ['restart', 'kubelet'], false],
  ] as const)('%s %j is mutating: %s', (program, args, want) => {
    expect(isMutatingRun(program, args)).toBe(want);
  });
});

describe('run lock over an agent restart', () => {
  let dir: string;
  let state: StateDir;
  let host: LocalHost;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-run-lock-'));
    state = new StateDir(join(dir, 'state'));
    await state.init();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    // a kubeadm stand-in that runs as long as its first argument says
    await writeFile(join(bin, 'kubeadm'), '#!/bin/sh\n/bin/sleep "$2"\n', { mode: 0o755 });
    host = new LocalHost({ root: join(dir, 'root'), programPath: [bin] });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('gives this machine’s start time of a running process and none of a missing one', async () => {
    const mine = await host.processStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(await host.processStartTime(process.pid)).toBe(mine);
    expect(await host.processStartTime(2 ** 22 + 1)).toBeUndefined(); // above pid_max
  });

  const lockPath = (): string => join(dir, 'state', RUN_LOCK_FILE);
  const runDir = (): string => join(dir, 'state', 'run');

  it('records a running kubeadm, and a restarted agent waits for it to end', async () => {
    const first = new MutatingRunLock({ state, log, pollMs: 50 });
    const started = Date.now();
    const running = first.run(host, 'kubeadm', ['join', '1.5']);
    let record: ReturnType<typeof parseRunLock>;
    await until(async () => {
      record = parseRunLock((await state.read(RUN_LOCK_FILE)) ?? '');
      return record?.pid !== undefined;
    });
    expect(record!.id).toMatch(/^kubeadm-[0-9a-f]{16}$/);
    expect(record!.startTime).toBe(await host.processStartTime(record!.pid!));

    // as after kill -9: a new lock object on the same state dir knows nothing but the file
    const restarted = new MutatingRunLock({ state, log, pollMs: 50 });
    expect(await restarted.liveHolder(host)).toEqual({ pid: record!.pid, program: 'kubeadm' });
    const messages: string[] = [];
    await restarted.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(messages[0]).toBe(`waiting for kubeadm (pid ${record!.pid}) started before the agent restarted`);
    expect((await running).exitCode).toBe(0);
    expect(existsSync(lockPath())).toBe(false);
    expect(await readdir(runDir())).toEqual([]);
  });

  it('names the run in the lock before kubeadm starts, and runs it detached', async () => {
    const lock = new MutatingRunLock({ state, log });
    const seenBeforeSpawn: Array<string | undefined> = [];
    const spy = new Proxy(host, {
      get: (target, prop) => {
        if (prop === 'runDetached') {
          return async (...a: Parameters<LocalHost['runDetached']>) => {
            seenBeforeSpawn.push(await state.read(RUN_LOCK_FILE));
            return target.runDetached(...a);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...x: unknown[]) => unknown).bind(target) : value;
      },
    });
    await lock.run(spy, 'kubeadm', ['join', '0']);
    expect(seenBeforeSpawn).toHaveLength(1);
    const intent = parseRunLock(seenBeforeSpawn[0]!);
    expect(intent).toEqual({
      id: expect.stringMatching(/^kubeadm-[0-9a-f]{16}$/) as unknown,
      program: 'kubeadm',
    });
  });

  it('a restarted agent waits for a run whose PID never reached the lock (killed right after the spawn)', async () => {
    // the state a kill between spawn and PID record leaves: the intent, and a run with its id
    const id = 'kubeadm-00112233445566ff';
    await state.write(RUN_LOCK_FILE, JSON.stringify({ id }));
    const started = Date.now();
    const orphan = host.runDetached('kubeadm', ['join', '1'], { dir: runDir(), id });
    await until(() => existsSync(join(runDir(), `${id}.stdout`)));
    const restarted = new MutatingRunLock({ state, log, pollMs: 50 });
    const messages: string[] = [];
    await restarted.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(messages).toHaveLength(1);
    await orphan.catch(() => undefined); // its files were collected by the successor
    expect(existsSync(lockPath())).toBe(false);
  });

  it('drops an intent whose run never started, and collects one that ended', async () => {
    const lines: Array<{ msg: string; exitCode?: number; output?: string }> = [];
    const recording = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as never) });
    const lock = new MutatingRunLock({ state, log: recording });
    await state.write(RUN_LOCK_FILE, JSON.stringify({ id: 'kubeadm-0000000000000001' }));
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(existsSync(lockPath())).toBe(false);
    expect(lines.at(-1)?.msg).toBe('run lock names a run that never started');

    // an orphan that ended while no agent ran: its status and output are still there
    const id = 'kubeadm-0000000000000002';
    await writeFile(join(runDir(), `${id}.exit`), '3\n');
    await writeFile(join(runDir(), `${id}.stderr`), 'error execution phase kubelet-start: timed out\n');
    await state.write(RUN_LOCK_FILE, JSON.stringify({ id, pid: 2 ** 22 + 1, startTime: '1' }));
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({
      msg: 'kubeadm started before the agent restarted has ended',
      exitCode: 3,
      output: 'error execution phase kubelet-start: timed out',
    });
    expect(await readdir(runDir())).toEqual([]);
  });

  it('refuses to start kubeadm when the lock cannot be written', async () => {
    const lock = new MutatingRunLock({ state: new StateDir(join(dir, 'missing', 'state')), log });
    await expect(lock.run(host, 'kubeadm', ['join', '0'])).rejects.toMatchObject({ code: 'io_error' });
  });

  it('removes a stale lock: process gone, or its PID reused by another process', async () => {
    const lock = new MutatingRunLock({ state, log });
    await state.write(RUN_LOCK_FILE, JSON.stringify({ pid: 2 ** 22 + 1, startTime: '1' }));
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(await state.read(RUN_LOCK_FILE)).toBeUndefined();

    const other = await host.processStartTime(process.pid);
    await state.write(RUN_LOCK_FILE, JSON.stringify({ pid: process.pid, startTime: `${other}9` }));
    const messages: string[] = [];
    await lock.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal);
    expect(messages).toEqual([]);
    expect(await state.read(RUN_LOCK_FILE)).toBeUndefined();

    await state.write(RUN_LOCK_FILE, 'torn{');
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(await state.read(RUN_LOCK_FILE)).toBeUndefined();
  });

  it('gives up after its bound with a retryable timeout', async () => {
    const lock = new MutatingRunLock({ state, log, pollMs: 20, maxWaitMs: 200 });
    const mine = await host.processStartTime(process.pid);
    await state.write(RUN_LOCK_FILE, JSON.stringify({ pid: process.pid, startTime: mine }));
    await expect(
      lock.waitForOrphan(host, () => undefined, new AbortController().signal),
    ).rejects.toMatchObject({ code: 'timeout', retryable: true });
  });

  it('records mutating runs only, and passes the caller’s onSpawn on', async () => {
    await writeFile(join(dir, 'bin', 'other'), '#!/bin/sh\n/bin/sleep "$1"\n', { mode: 0o755 });
    const lock = new MutatingRunLock({ state, log });
    const guarded = lock.guard(host);
    expect(guarded.root).toBe(host.root);
    const seen: Array<string | undefined> = [];
    const onSpawn = async (): Promise<void> => {
      seen.push(await state.read(RUN_LOCK_FILE));
    };
    await guarded.run('other', ['0.2'], { onSpawn });
    await guarded.run('kubeadm', ['join', '0.2'], { onSpawn });
    expect(seen[0]).toBeUndefined();
    expect(parseRunLock(seen[1]!)?.pid).toBeGreaterThan(0);
    expect(await state.read(RUN_LOCK_FILE)).toBeUndefined();
  });
  it('honours a lock an agent before this one wrote under the old name (run/kubeadm.lock)', async () => {
    const id = 'kubeadm-00112233445566aa';
    await state.write('run/kubeadm.lock', JSON.stringify({ id }));
    const orphan = host.runDetached('kubeadm', ['join', '0.6'], { dir: runDir(), id });
    await until(() => existsSync(join(runDir(), `${id}.stdout`)));
    const restarted = new MutatingRunLock({ state, log, pollMs: 50 });
    expect(await restarted.liveHolder(host)).toMatchObject({ program: 'kubeadm' });
    await restarted.waitForOrphan(host, () => undefined, new AbortController().signal);
    await orphan.catch(() => undefined);
    expect(await state.read('run/kubeadm.lock')).toBeUndefined();
  });

  it('a mutating program of a restarted agent waits for the orphan first, even without the op-level wait', async () => {
    await writeFile(
      join(dir, 'bin', 'apt-get'),
      '#!/bin/sh\necho "$1 $(date +%s%N)" >> "$0.log"\n/bin/sleep 0.8\necho "end $(date +%s%N)" >> "$0.log"\n',
      {
        mode: 0o755,
      },
    );
    const first = new MutatingRunLock({ state, log, pollMs: 50 });
    const orphan = first.run(host, 'apt-get', ['install']);
    await until(async () => parseRunLock((await state.read(RUN_LOCK_FILE)) ?? '')?.pid !== undefined);
    expect(parseRunLock((await state.read(RUN_LOCK_FILE)) ?? '')).toMatchObject({ program: 'apt-get' });
    const restarted = new MutatingRunLock({ state, log, pollMs: 50 });
    const messages: string[] = [];
    const guarded = restarted.guard(host, {
      progress: (p) => messages.push(p.message),
      signal: new AbortController().signal,
    });
    await guarded.run('apt-get', ['update']);
    await orphan.catch(() => undefined);
    const lines = (await readFile(join(dir, 'bin', 'apt-get.log'), 'utf8')).trim().split('\n');
    // install ran to its end before update started: the runs never overlapped
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['install', 'end', 'update', 'end']);
    expect(messages[0]).toMatch(/^waiting for apt-get \(pid \d+\) started before the agent restarted$/);
  });

  it('runs the mutating programs of one agent one at a time, without taking its own runs for orphans', async () => {
    await writeFile(
      join(dir, 'bin', 'apt-get'),
      '#!/bin/sh\necho "$1 $(date +%s%N)" >> "$0.log"\n/bin/sleep 0.3\necho "end $(date +%s%N)" >> "$0.log"\n',
      {
        mode: 0o755,
      },
    );
    const lock = new MutatingRunLock({ state, log, pollMs: 50 });
    const messages: string[] = [];
    const guarded = lock.guard(host, {
      progress: (p) => messages.push(p.message),
      signal: new AbortController().signal,
    });
    await Promise.all([
      guarded.run('apt-get', ['update']),
      guarded.run('apt-get', ['install']),
      lock.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal),
    ]);
    const lines = (await readFile(join(dir, 'bin', 'apt-get.log'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['update', 'end', 'install', 'end']);
    expect(messages).toEqual([]);
    expect(await readdir(runDir())).toEqual([]);
  });
});
