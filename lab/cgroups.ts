import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One cgroup per lab host. systemd-nspawn --keep-unit puts its "payload" and "supervisor" cgroups
 * under the cgroup it was started in; started from our own cgroup, every host would share one
 * "payload" tree and their systemds would manage each other's units. So each nspawn is started
 * inside <hierarchy>/kctl-lab/<name>, in the hierarchies systemd uses: the named "systemd" v1
 * hierarchy and the v2 one (hybrid machines have both; pure v2 machines only the latter).
 */
export const LAB_CGROUP = 'kctl-lab';

export interface CgroupHierarchy {
  mountPoint: string;
  /** our own cgroup in it, from /proc/self/cgroup */
  own: string;
}

/** Pure: the hierarchies systemd uses, from /proc/self/cgroup and /proc/self/mountinfo text. */
export function systemdHierarchies(procCgroup: string, mountinfo: string): CgroupHierarchy[] {
  const own = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, controllers, path] = m;
    if (id === '0' && controllers === '') own.set('cgroup2', path ?? '/');
    else if (controllers === 'name=systemd') own.set('name=systemd', path ?? '/');
  }
  const out: CgroupHierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , options = ''] = right.split(' ');
    if (mountPoint === undefined) continue;
    if (fstype === 'cgroup2' && own.has('cgroup2')) out.push({ mountPoint, own: own.get('cgroup2') ?? '/' });
    if (fstype === 'cgroup' && options.split(',').includes('name=systemd') && own.has('name=systemd')) {
      out.push({ mountPoint, own: own.get('name=systemd') ?? '/' });
    }
  }
  return out;
}

export async function readSystemdHierarchies(): Promise<CgroupHierarchy[]> {
  return systemdHierarchies(
    await readFile('/proc/self/cgroup', 'utf8'),
    await readFile('/proc/self/mountinfo', 'utf8'),
  );
}

export function hostCgroupDir(h: CgroupHierarchy, name: string): string {
  return join(h.mountPoint, LAB_CGROUP, name);
}

/**
 * Runs `start` with this process moved into the host's cgroup in each hierarchy, so what it
 * spawns is born there; then moves this process back. The spawn is synchronous in effect (the
 * child is forked before `start` resolves its pid), so children started meanwhile are few.
 */
export async function withinHostCgroup<T>(name: string, start: () => Promise<T>): Promise<T> {
  const hierarchies = await readSystemdHierarchies();
  for (const h of hierarchies) await mkdir(hostCgroupDir(h, name), { recursive: true });
  try {
    for (const h of hierarchies)
      await writeFile(join(hostCgroupDir(h, name), 'cgroup.procs'), String(process.pid));
    return await start();
  } finally {
    for (const h of hierarchies)
      await writeFile(join(h.mountPoint, h.own, 'cgroup.procs'), String(process.pid));
  }
}

/** Pids in a cgroup tree. */
async function pidsUnder(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map(Number);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) pids.push(...(await pidsUnder(join(dir, e.name))));
  }
  return pids;
}

/** Every process in the lab's cgroups (hosts and their nspawn supervisors). */
export async function labCgroupPids(): Promise<number[]> {
  const out = new Set<number>();
  for (const h of await readSystemdHierarchies()) {
    for (const pid of await pidsUnder(join(h.mountPoint, LAB_CGROUP))) out.add(pid);
  }
  return [...out];
}

async function cgroupDirsDepthFirst(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) out.push(...(await cgroupDirsDepthFirst(join(dir, e.name))));
  }
  out.push(dir);
  return out;
}

/** The lab's cgroup directories still present. */
export async function labCgroupDirs(): Promise<string[]> {
  const out: string[] = [];
  for (const h of await readSystemdHierarchies()) {
    const root = join(h.mountPoint, LAB_CGROUP);
    if ((await readdir(root).catch(() => undefined)) !== undefined)
      out.push(...(await cgroupDirsDepthFirst(root)));
  }
  return out;
}

/** Removes the lab's (empty) cgroups; a cgroup with a live process stays and is returned. */
export async function removeLabCgroups(): Promise<string[]> {
  const kept: string[] = [];
  for (const dir of await labCgroupDirs()) {
    await rmdir(dir).catch(() => kept.push(dir));
  }
  return kept;
}
