import { readFile, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KctlError } from '../proto/errors.js';
import {
  LAB_BRIDGE,
  listLabLinks,
  listLabNetns,
  removeBridge,
  removeHostLink,
  LAB_VETH_PREFIX,
} from './network.js';
import { labCgroupDirs, labCgroupPids, removeLabCgroups } from './cgroups.js';
import {
  childrenOf,
  isSameProcess,
  mountsUnder,
  processesMentioning,
  processesRootedUnder,
  signalProcess,
  unmount,
  waitGone,
  type ProcessInfo,
} from './processes.js';
import { acquireLabLock, releaseLabLock } from './lab-lock.js';
import { DEFAULT_LAB_DIR, labStatePath, readLabState, type LabHostState, type LabState } from './state.js';

/** systemd-nspawn leaves this behind when /run is not a tmpfs (it refuses to rm -rf there). */
export const NSPAWN_PROPAGATE_DIR = '/run/systemd/nspawn/propagate';

export interface LabDownResult {
  /** what was found and removed, for the CLI to print */
  removed: string[];
}

/**
 * Removes everything `lab up` made: hosts (orderly poweroff, then SIGKILL), every process still
 * rooted in a host, overlay mounts, namespaces, links, the bridge, nspawn's leftovers in /run and
 * the lab's directories. Idempotent, and it works from a new process or after a crashed `lab up`:
 * it reads <dir>/lab.json and also sweeps the lab's fixed names.
 */
export async function labDown(opts: { dir?: string; timeoutMs?: number } = {}): Promise<LabDownResult> {
  // another live process's lab goes first: the sweep below would take its hosts too (lab-lock.ts)
  await acquireLabLock({
    onWait: (pid) => process.stderr.write(`lab down: waiting for process ${pid}, which is using the lab\n`),
  });
  try {
    return await labDownLocked(opts);
  } finally {
    await releaseLabLock();
  }
}

async function labDownLocked(opts: { dir?: string; timeoutMs?: number }): Promise<LabDownResult> {
  const dir = resolve(opts.dir ?? DEFAULT_LAB_DIR);
  const hostsDir = join(dir, 'hosts');
  const removed: string[] = [];
  let state: LabState | undefined;
  try {
    state = await readLabState(dir);
  } catch {
    // a damaged lab.json must not stop the sweep below
  }
  const hosts = state?.hosts ?? [];

  // 1. orderly: SIGTERM makes systemd-nspawn send SIGRTMIN+3 (poweroff) to the host's systemd
  const running: LabHostState[] = [];
  for (const h of hosts) if (h.nspawn !== undefined && (await isSameProcess(h.nspawn))) running.push(h);
  for (const h of running) if (h.nspawn) signalProcess(h.nspawn, 'SIGTERM');
  const anyAlive = async () => {
    for (const h of running) if (h.nspawn && (await isSameProcess(h.nspawn))) return true;
    return false;
  };
  if (!(await waitGone(anyAlive, opts.timeoutMs ?? 30_000))) {
    for (const h of running) {
      if (!h.nspawn || !(await isSameProcess(h.nspawn))) continue;
      for (const child of await childrenOf(h.nspawn.pid)) signalProcess(child, 'SIGKILL');
      signalProcess(h.nspawn, 'SIGKILL');
    }
  }
  for (const h of running) removed.push(`host ${h.name}`);

  // 2. anything still in the lab's cgroups, chrooted into a host, or an nspawn not in lab.json
  const strays = await strayProcesses(hostsDir);
  for (const p of strays) signalProcess(p.pid, 'SIGKILL');
  await waitGone(async () => (await strayProcesses(hostsDir)).length > 0, 10_000);
  for (const p of strays) removed.push(`process ${p.pid} (${p.comm})`);
  const cgroups = await labCgroupDirs();
  const busy = await removeLabCgroups();
  for (const c of busy) removed.push(`(cgroup still busy) ${c}`);
  // one line per host cgroup, not per unit the host's systemd made under it
  for (const c of cgroups) if (!busy.includes(c) && /\/kctl-lab\/[^/]+$/.test(c)) removed.push(`cgroup ${c}`);

  // 3. mounts, deepest first
  for (const point of await mountsUnder(hostsDir)) if (await unmount(point)) removed.push(`mount ${point}`);

  // 4. network: recorded hosts, then anything by the lab's names
  for (const h of hosts) await removeHostLink(h);
  for (const ns of await listLabNetns()) {
    await removeHostLink({ netns: ns, vethHost: `${LAB_VETH_PREFIX}${ns.split('-').pop() ?? ''}` });
    removed.push(`netns ${ns}`);
  }
  for (const link of await listLabLinks()) {
    if (link === LAB_BRIDGE) continue;
    await removeHostLink({ netns: '', vethHost: link });
    removed.push(`link ${link}`);
  }
  if ((await listLabLinks()).includes(LAB_BRIDGE)) {
    await removeBridge();
    removed.push(`bridge ${LAB_BRIDGE}`);
  }

  // 5. nspawn's per-machine directory in /run
  for (const h of hosts) {
    const p = join(NSPAWN_PROPAGATE_DIR, h.name);
    if (await exists(p)) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
  }

  // 6. files: never recurse through a mount point
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new KctlError('io_error', `Cannot remove "${hostsDir}": still mounted: ${left.join(', ')}`, {
      details: { remedy: `umount ${left.join(' ')} and run kctl lab down again` },
    });
  }
  for (const p of [hostsDir, labStatePath(dir)]) {
    if (await exists(p)) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  if (state?.dirCreated === true && (await exists(dir)) && (await readdir(dir)).length === 0) {
    await rmdir(dir);
    removed.push(dir);
  }
  return { removed };
}

async function strayProcesses(hostsDir: string): Promise<ProcessInfo[]> {
  const byPid = new Map<number, ProcessInfo>();
  for (const pid of await labCgroupPids()) {
    if (pid === process.pid) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    byPid.set(pid, { pid, comm, root: '' });
  }
  for (const p of await processesRootedUnder([hostsDir])) byPid.set(p.pid, p);
  for (const p of await processesMentioning([`--directory=${hostsDir}/`])) byPid.set(p.pid, p);
  return [...byPid.values()];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Everything of a lab still present (empty after a clean `lab down`). */
export async function labLeftovers(opts: { dir?: string } = {}): Promise<string[]> {
  const dir = resolve(opts.dir ?? DEFAULT_LAB_DIR);
  const hostsDir = join(dir, 'hosts');
  const out: string[] = [];
  for (const p of await strayProcesses(hostsDir)) out.push(`process ${p.pid} (${p.comm})`);
  for (const c of await labCgroupDirs()) out.push(`cgroup ${c}`);
  for (const m of await mountsUnder(dir)) out.push(`mount ${m}`);
  for (const ns of await listLabNetns()) out.push(`netns ${ns}`);
  for (const l of await listLabLinks()) out.push(`link ${l}`);
  for (const p of [hostsDir, labStatePath(dir)]) if (await exists(p)) out.push(`path ${p}`);
  for (const name of await readdir(NSPAWN_PROPAGATE_DIR).catch(() => [] as string[])) {
    out.push(`path ${join(NSPAWN_PROPAGATE_DIR, name)}`);
  }
  return out;
}
