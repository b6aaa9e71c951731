import type { Host } from './host/host.js';
import { thisProcess } from './host/this-process.js';
import type { HostFacts } from '../proto/facts.js';
import { readCgroupVersion } from './probes/cgroups.js';
import { readKubeletVersion } from './probes/kubelet.js';
import { readContainerdPackageVersion } from './probes/dpkg-status.js';
import { addressesFromInterfaces, readIpsFromProc, readMacs } from './probes/network.js';
import type { InterfaceAddress } from './probes/network.js';
import {
  goArch,
  parseMemTotalBytes,
  parseOsRelease,
  readCpuCount,
  readKernelRelease,
  readTrimmed,
} from './probes/system.js';

export interface GatherFactsOptions {
  /** defaults to the agent's own interfaces when the host root is "/", else IPs come from /proc/net under the root */
  networkInterfaces?: () => Readonly<Record<string, readonly InterfaceAddress[] | undefined>>;
  /** node's process architecture by default */
  arch?: string;
  kubeletTimeoutMs?: number;
}

const MAX_MACS = 256;
const MAX_IPS = 512;
const MAX_STRING = 256;

/**
 * What the agent reports about its host, read from /proc, /sys and /etc under the host root.
 * Everything runs concurrently and nothing blocks the event loop (no systeminformation: see DESIGN.md).
 */
export async function gatherFacts(host: Host, options: GatherFactsOptions = {}): Promise<HostFacts> {
  const ipsFromInterfaces =
    options.networkInterfaces ?? (host.root === '/' ? thisProcess.networkInterfaces : undefined);
  const [
    hostname,
    machineId,
    productUuid,
    macs,
    ips,
    osRelease,
    kernel,
    cpus,
    meminfo,
    cgroupVersion,
    kubelet,
    containerd,
  ] = await Promise.all([
    readTrimmed(host, '/proc/sys/kernel/hostname'),
    readTrimmed(host, '/etc/machine-id'),
    readTrimmed(host, '/sys/class/dmi/id/product_uuid'),
    readMacs(host),
    ipsFromInterfaces ? Promise.resolve(addressesFromInterfaces(ipsFromInterfaces())) : readIpsFromProc(host),
    readOsReleaseText(host),
    readKernelRelease(host),
    readCpuCount(host),
    readTrimmed(host, '/proc/meminfo'),
    readCgroupVersion(host),
    readKubeletVersion(host, options.kubeletTimeoutMs),
    readContainerdPackageVersion(host),
  ]);
  const os = parseOsRelease(osRelease);
  const facts: HostFacts = {
    hostname: clip(hostname),
    machineId: clip(machineId),
    productUuid: clip(productUuid.toLowerCase()),
    macs: macs.slice(0, MAX_MACS),
    ips: [...new Set(ips)].slice(0, MAX_IPS),
    os: { id: clip(os.id), versionId: clip(os.versionId), prettyName: clip(os.prettyName) },
    kernel: clip(kernel),
    arch: goArch(options.arch ?? thisProcess.arch()),
    cpus,
    memoryBytes: parseMemTotalBytes(meminfo),
    cgroupVersion,
  };
  if (kubelet !== undefined) facts.kubeletVersion = clip(kubelet);
  if (containerd !== undefined) facts.containerdVersion = clip(containerd);
  return facts;
}

async function readOsReleaseText(host: Host): Promise<string> {
  const etc = await readTrimmed(host, '/etc/os-release');
  return etc !== '' ? etc : readTrimmed(host, '/usr/lib/os-release');
}

function clip(value: string): string {
  return value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
}
