import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KctlError } from '../proto/errors.js';
import { isSameProcess, processStartTime } from './processes.js';

/**
 * The lab's names are machine-wide (one bridge, kctl-lab-<i> namespaces), so two processes that
 * bring labs up and down at the same time (two test files, two engineers) would tear down each
 * other's hosts: `lab down` sweeps the fixed names whatever lab.json says. This lock serialises
 * them: a directory made atomically by mkdir, naming the process that holds it. `labUp` takes it and
 * keeps it; `labDown` takes it (waiting for another live holder) and gives it up at the end. A
 * holder that died (a `kctl lab up` that returned, a killed test) leaves a lock the next taker
 * reclaims, so the lock only guards processes that are still running.
 */
export const LAB_LOCK_DIR = '/run/kctl-lab.lock';
const OWNER = 'owner.json';
const POLL_MS = 500;

interface Owner {
  pid: number;
  startTime: string;
}

async function readOwner(dir: string): Promise<Owner | undefined> {
  try {
    const o = JSON.parse(await readFile(join(dir, OWNER), 'utf8')) as Partial<Owner>;
    return typeof o.pid === 'number' && typeof o.startTime === 'string'
      ? { pid: o.pid, startTime: o.startTime }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lab lock for this process (again, if it holds it already). Waits while another live
 * process holds it, up to `timeoutMs`; a lock whose holder is gone is taken over.
 */
export async function acquireLabLock(
  opts: { dir?: string; timeoutMs?: number; onWait?: (pid: number) => void } = {},
): Promise<void> {
  const dir = opts.dir ?? LAB_LOCK_DIR;
  const me: Owner = { pid: process.pid, startTime: (await processStartTime(process.pid)) ?? '' };
  const deadline = Date.now() + (opts.timeoutMs ?? 1_800_000);
  let told = false;
  for (;;) {
    try {
      await mkdir(dir, { mode: 0o700 });
      await writeFile(join(dir, OWNER), JSON.stringify(me), { mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(dir);
    if (owner?.pid === me.pid && owner.startTime === me.startTime) return;
    // a child of the holder (a test that runs `kctl lab down` while it holds the lab) works under
    // its parent's lock; waiting for it would wait for ever
    if (owner !== undefined && (await isAncestor(owner))) return;
    if (owner === undefined) {
      // made by mkdir, owner not written yet: give its maker a moment, then treat it as abandoned
      await sleep(POLL_MS);
      if ((await readOwner(dir)) === undefined) await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (!(await isSameProcess(owner))) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new KctlError(
        'timeout',
        `Another process (pid ${owner.pid}) is using the lab on this machine (${dir}); waited ${Math.round((opts.timeoutMs ?? 1_800_000) / 1000)} s`,
      );
    if (!told) opts.onWait?.(owner.pid);
    told = true;
    await sleep(POLL_MS);
  }
}

/** The holder is this process's parent, grandparent, ... (the same process, not a reused pid). */
async function isAncestor(owner: Owner): Promise<boolean> {
  let pid = process.ppid;
  for (let depth = 0; pid > 1 && depth < 64; depth++) {
    if (pid === owner.pid) return isSameProcess(owner);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // the 4th field, after the parenthesised command name (which may hold spaces)
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isInteger(ppid)) return false;
    pid = ppid;
  }
  return false;
}

/** Gives the lock up if this process holds it. */
export async function releaseLabLock(opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? LAB_LOCK_DIR;
  const owner = await readOwner(dir);
  if (owner?.pid === process.pid) await rm(dir, { recursive: true, force: true });
}
