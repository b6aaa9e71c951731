import type { Host } from '../host/host.js';

/** Parsers for /proc and /etc files that describe the machine; pure, so tests feed them strings. */

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
}

/** os-release(5): KEY=value lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key = '', raw = ''] = match;
    values.set(key, unquote(raw.trim()));
  }
  return {
    id: values.get('ID') ?? '',
    versionId: values.get('VERSION_ID') ?? '',
    prettyName: values.get('PRETTY_NAME') ?? values.get('NAME') ?? '',
  };
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
    const inner = value.slice(1, -1);
    return quote === '"' ? inner.replace(/\\(["\\$`])/g, '$1') : inner;
  }
  return value;
}

/** MemTotal from /proc/meminfo in bytes; 0 when absent. */
export function parseMemTotalBytes(meminfo: string): number {
  const match = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return match?.[1] ? Number(match[1]) * 1024 : 0;
}

/** Count of CPUs in a kernel cpu list such as "0-3,6,8-9" (/sys/devices/system/cpu/online). */
export function countCpuList(list: string): number {
  let count = 0;
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || Number.isNaN(from)) return 0;
    if (to === undefined) count += 1;
    else if (!Number.isNaN(to) && to >= from) count += to - from + 1;
    else return 0;
  }
  return count;
}

/** Number of "processor" entries in /proc/cpuinfo. */
export function countCpuinfoProcessors(cpuinfo: string): number {
  return cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
}

/** Online CPUs: /sys/devices/system/cpu/online, else /proc/cpuinfo. */
export async function readCpuCount(host: Host): Promise<number> {
  const online = await host.readFile('/sys/devices/system/cpu/online');
  const fromOnline = online === undefined ? 0 : countCpuList(online);
  if (fromOnline > 0) return fromOnline;
  return countCpuinfoProcessors((await host.readFile('/proc/cpuinfo')) ?? '');
}

/** Trimmed content of a file, '' when it is missing or unreadable. */
export async function readTrimmed(host: Host, path: string): Promise<string> {
  try {
    return ((await host.readFile(path)) ?? '').trim();
  } catch {
    // e.g. /sys/class/dmi/id/product_uuid is root-only (0400) on most machines
    return '';
  }
}

/** Kernel release as `uname -r` prints it. */
export function readKernelRelease(host: Host): Promise<string> {
  return readTrimmed(host, '/proc/sys/kernel/osrelease');
}

/** Kubernetes-style architecture name (GOARCH) for node's process.arch. */
export function goArch(nodeArch: string): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' };
  return names[nodeArch] ?? nodeArch;
}
