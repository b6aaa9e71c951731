import { open, readFile, readdir, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { KctlError } from '../proto/errors.js';
import { LAB_PATH } from './prereqs.js';
import type { ProcessRef } from './state.js';

/**
 * Processes of the lab, through /proc. PID 1 of this machine need not be systemd, so the lab
 * cannot lean on systemd-run or machinectl: each host's systemd-nspawn runs as a detached
 * process in its own session, and we find its container's init as its child.
 */

/** Field 22 (starttime) of /proc/<pid>/stat; the comm field may hold spaces and parentheses. */
export function parseStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(' ');
  // after ")" come field 3 (state) onwards: starttime is field 22, index 19 here
  return fields[19];
}

export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    return parseStartTime(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Alive and still the same process (not a reused pid). */
export async function isSameProcess(ref: ProcessRef): Promise<boolean> {
  return (await processStartTime(ref.pid)) === ref.startTime;
}

export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text
      .split(/\s+/)
      .filter(Boolean)
      .map((s) => Number(s));
  } catch {
    return [];
  }
}

export interface ProcessInfo {
  pid: number;
  comm: string;
  root: string;
}

/** Every process whose root directory is at or under one of the given directories. */
export async function processesRootedUnder(dirs: string[]): Promise<ProcessInfo[]> {
  const out: ProcessInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const root = await readlink(`/proc/${pid}/root`).catch(() => undefined);
    if (root === undefined) continue;
    if (!dirs.some((d) => root === d || root.startsWith(`${d}/`))) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    out.push({ pid, comm, root });
  }
  return out;
}

/** Every process whose command line mentions one of the given strings (systemd-nspawn --directory=...). */
export async function processesMentioning(needles: string[]): Promise<ProcessInfo[]> {
  const out: ProcessInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!needles.some((n) => cmdline.includes(n))) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    out.push({ pid, comm, root: '' });
  }
  return out;
}

/**
 * Starts a program detached from us (own session, stdio to a log file, not killed when we exit),
 * so a host outlives `kctl lab up`. Returns its pid and start time.
 */
export async function spawnDetached(
  file: string,
  args: string[],
  logFile: string,
  extraEnv: Record<string, string> = {},
): Promise<ProcessRef> {
  const log = await open(logFile, 'a', 0o600);
  // execa's types list only literal descriptor numbers; any open descriptor is passed through as is
  const fd = log.fd as 3;
  try {
    const sub = execa(file, args, {
      detached: true,
      cleanup: false,
      reject: false,
      // the log file's descriptor goes to the child itself: no pipe through us that could break
      stdio: ['ignore', fd, fd],
      env: { PATH: LAB_PATH, LANG: 'C.UTF-8', ...extraEnv },
      extendEnv: false,
    });
    sub.unref();
    // settle the promise whenever the program ends; its exit is read from /proc and the log
    sub.then(
      () => undefined,
      () => undefined,
    );
    const pid = sub.pid;
    if (pid === undefined) throw new KctlError('program_failed', `Cannot start ${file}`);
    const startTime = await processStartTime(pid);
    if (startTime === undefined) {
      throw new KctlError('program_failed', `${file} exited at once; see "${logFile}"`);
    }
    return { pid, startTime };
  } finally {
    await log.close();
  }
}

/** Sends a signal if the process is still the one we started. */
export function signalProcess(ref: ProcessRef | number, signal: NodeJS.Signals): void {
  const pid = typeof ref === 'number' ? ref : ref.pid;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export async function waitGone(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await check())) return true;
    await sleep(200);
  }
  return !(await check());
}

/** Mount points at or under a directory, deepest first (for unmounting). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function unmount(point: string): Promise<boolean> {
  const env = { PATH: LAB_PATH };
  if ((await execa('umount', [point], { env, reject: false })).exitCode === 0) return true;
  return (await execa('umount', ['--lazy', point], { env, reject: false })).exitCode === 0;
}
