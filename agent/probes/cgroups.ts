import type { Host } from '../host/host.js';

export type CgroupVersion = 0 | 1 | 2;

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

/** /proc/mounts lines; octal escapes (\040 for a space) decoded. */
export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [source, target, fstype, options] = line.split(' ');
    if (source === undefined || target === undefined || fstype === undefined) continue;
    entries.push({
      source: unescapeOctal(source),
      target: unescapeOctal(target),
      fstype,
      options: (options ?? '').split(','),
    });
  }
  return entries;
}

function unescapeOctal(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, code: string) => String.fromCharCode(parseInt(code, 8)));
}

/**
 * 2 when /sys/fs/cgroup itself is cgroup2 (the unified hierarchy, as system-validators decides);
 * 1 when any cgroup v1 hierarchy is mounted (including hybrid with cgroup2 at /sys/fs/cgroup/unified);
 * 0 when no cgroup filesystem is mounted.
 */
export function cgroupVersionFromMounts(mounts: readonly MountEntry[]): CgroupVersion {
  if (mounts.some((m) => m.target === '/sys/fs/cgroup' && m.fstype === 'cgroup2')) return 2;
  if (mounts.some((m) => m.fstype === 'cgroup')) return 1;
  return 0;
}

/** cgroup v2: the space-separated list in /sys/fs/cgroup/cgroup.controllers. */
export function parseCgroupV2Controllers(text: string): string[] {
  return text.split(/\s+/).filter((c) => c !== '');
}

/** cgroup v1: enabled subsystems from /proc/cgroups ("name hierarchy num_cgroups enabled"). */
export function parseCgroupV1Controllers(text: string): string[] {
  const enabled: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [name, , , flag] = line.trim().split(/\s+/);
    if (name && flag !== undefined && flag !== '0') enabled.push(name);
  }
  return enabled;
}

export interface CgroupInfo {
  version: CgroupVersion;
  /** enabled controllers; on v2 `devices` and `freezer` are added when the kernel provides them implicitly */
  controllers: string[];
}

export async function readCgroupVersion(host: Host): Promise<CgroupVersion> {
  return cgroupVersionFromMounts(parseMounts((await host.readFile('/proc/mounts')) ?? ''));
}

export async function readCgroups(host: Host): Promise<CgroupInfo> {
  const version = await readCgroupVersion(host);
  if (version === 2) {
    const [listed, freezeFile] = await Promise.all([
      host.readFile('/sys/fs/cgroup/cgroup.controllers'),
      // system-validators probes freezer with a test directory; a child cgroup's cgroup.freeze is the
      // read-only equivalent: cgroup.freeze exists in every non-root cgroup on freezer-capable kernels
      host.exists('/sys/fs/cgroup/init.scope/cgroup.freeze'),
    ]);
    const controllers = parseCgroupV2Controllers(listed ?? '');
    // devices is implemented with eBPF on v2 and never listed
    controllers.push('devices');
    if (freezeFile || (await anyChildHasFreeze(host))) controllers.push('freezer');
    return { version, controllers };
  }
  if (version === 1) {
    return { version, controllers: parseCgroupV1Controllers((await host.readFile('/proc/cgroups')) ?? '') };
  }
  return { version, controllers: [] };
}

async function anyChildHasFreeze(host: Host): Promise<boolean> {
  let children: string[];
  try {
    children = await host.listDir('/sys/fs/cgroup');
  } catch {
    return false;
  }
  for (const child of children.filter((c) => c.endsWith('.slice') || c.endsWith('.scope')).slice(0, 4)) {
    if (await host.exists(`/sys/fs/cgroup/${child}/cgroup.freeze`)) return true;
  }
  return false;
}
