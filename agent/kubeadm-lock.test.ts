import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LocalHost } from './host/local-host.js';
import { parseProcStat } from './host/proc-stat.js';
import { StateDir } from './host/state-dir.js';
import { KUBEADM_LOCK_FILE, KubeadmLock, lockHolderAlive, parseKubeadmLock } from './kubeadm-lock.js';

const log = pino({ level: 'silent' });

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

describe('kubeadm lock record', () => {
  it('parses a record and refuses anything else', () => {
    expect(parseKubeadmLock('{"pid":12,"startTime":"345"}')).toEqual({ pid: 12, startTime: '345' });
    expect(parseKubeadmLock('{"pid":12,"startTime":"345"')).toBeUndefined();
    expect(parseKubeadmLock('{"pid":0,"startTime":"345"}')).toBeUndefined();
    expect(parseKubeadmLock('{"pid":12,"startTime":"3x"}')).toBeUndefined();
    expect(parseKubeadmLock('{"pid":12,"startTime":"345","extra":1}')).toBeUndefined();
  });
  it('holds only while the same process (PID and start time) runs', () => {
    const lock = { pid: 12, startTime: '345' };
    expect(lockHolderAlive(lock, '345')).toBe(true);
    expect(lockHolderAlive(lock, '346')).toBe(false); // PID reused by a later process
    expect(lockHolderAlive(lock, undefined)).toBe(false); // gone, or a zombie
  });
});

describe('kubeadm lock over an agent restart', () => {
  let dir: string;
  let state: StateDir;
  let host: LocalHost;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-kubeadm-lock-'));
    state = new StateDir(join(dir, 'state'));
    await state.init();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    // a kubeadm stand-in that runs as long as its first argument says
    await writeFile(join(bin, 'kubeadm'), '#!/bin/sh\n/bin/sleep "$1"\n', { mode: 0o755 });
    host = new LocalHost({ root: join(dir, 'root'), programPath: [bin] });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('gives this machine’s start time of a running process and none of a missing one', async () => {
    const mine = await host.processStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(await host.processStartTime(process.pid)).toBe(mine);
    expect(await host.processStartTime(2 ** 22 + 1)).toBeUndefined(); // above pid_max
  });

  it('records a running kubeadm, and a restarted agent waits for it to end', async () => {
    const first = new KubeadmLock({ state, log, pollMs: 50 });
    const started = Date.now();
    const running = first.run(host, 'kubeadm', ['1.5']);
    const lockPath = join(dir, 'state', KUBEADM_LOCK_FILE);
    while (!existsSync(lockPath)) await new Promise((r) => setTimeout(r, 20));
    const record = parseKubeadmLock((await state.read(KUBEADM_LOCK_FILE))!);
    expect(record?.startTime).toBe(await host.processStartTime(record!.pid));

    // as after kill -9: a new lock object on the same state dir knows nothing but the file
    const restarted = new KubeadmLock({ state, log, pollMs: 50 });
    expect(await restarted.liveHolder(host)).toEqual(record);
    const messages: string[] = [];
    await restarted.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(messages[0]).toBe(`waiting for kubeadm (pid ${record!.pid}) started before the agent restarted`);
    await running;
    expect(existsSync(lockPath)).toBe(false);
  });

  it('removes a stale lock: process gone, or its PID reused by another process', async () => {
    const lock = new KubeadmLock({ state, log });
    await state.write(KUBEADM_LOCK_FILE, JSON.stringify({ pid: 2 ** 22 + 1, startTime: '1' }));
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(await state.read(KUBEADM_LOCK_FILE)).toBeUndefined();

    const other = await host.processStartTime(process.pid);
    await state.write(KUBEADM_LOCK_FILE, JSON.stringify({ pid: process.pid, startTime: `${other}9` }));
    const messages: string[] = [];
    await lock.waitForOrphan(host, (p) => messages.push(p.message), new AbortController().signal);
    expect(messages).toEqual([]);
    expect(await state.read(KUBEADM_LOCK_FILE)).toBeUndefined();

    await state.write(KUBEADM_LOCK_FILE, 'torn{');
    expect(await lock.liveHolder(host)).toBeUndefined();
    expect(await state.read(KUBEADM_LOCK_FILE)).toBeUndefined();
  });

  it('gives up after its bound with a retryable timeout', async () => {
    const lock = new KubeadmLock({ state, log, pollMs: 20, maxWaitMs: 200 });
    const mine = await host.processStartTime(process.pid);
    await state.write(KUBEADM_LOCK_FILE, JSON.stringify({ pid: process.pid, startTime: mine }));
    await expect(
      lock.waitForOrphan(host, () => undefined, new AbortController().signal),
    ).rejects.toMatchObject({ code: 'timeout', retryable: true });
  });

  it('records kubeadm only, and passes the caller’s onSpawn on', async () => {
    await writeFile(join(dir, 'bin', 'other'), '#!/bin/sh\n/bin/sleep "$1"\n', { mode: 0o755 });
    const lock = new KubeadmLock({ state, log });
    const guarded = lock.guard(host);
    expect(guarded.root).toBe(host.root);
    const seen: Array<string | undefined> = [];
    const onSpawn = async (): Promise<void> => {
      seen.push(await state.read(KUBEADM_LOCK_FILE));
    };
    await guarded.run('other', ['0.2'], { onSpawn });
    await guarded.run('kubeadm', ['0.2'], { onSpawn });
    expect(seen[0]).toBeUndefined();
    expect(parseKubeadmLock(seen[1]!)?.pid).toBeGreaterThan(0);
    expect(await state.read(KUBEADM_LOCK_FILE)).toBeUndefined();
  });
});
