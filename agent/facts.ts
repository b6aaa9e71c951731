import type { Host } from './host/host.js';
import { thisProcess } from './host/this-process.js';
import type { HostFacts } from '../proto/facts.js';
import { readCgroupVersion } from './probes/cgroups.js';
import { readKubeletVersion } from './probes/kubelet.js';
import { parseDpkgStatus } from './probes/dpkg-status.js';
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
    packages,
    services,
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
    readInstalledPackages(host),
    readServiceStates(host),
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
  const containerd = packages.get('containerd') ?? packages.get('containerd.io');
  if (containerd !== undefined) facts.containerdVersion = clip(containerd);
  const kubePackages = Object.fromEntries(
    KUBE_PACKAGES.flatMap((name) => {
      const version = packages.get(name);
      return version === undefined ? [] : [[name, clip(version)]];
    }),
  );
  if (Object.keys(kubePackages).length > 0) facts.kubePackages = kubePackages;
  if (services !== undefined) facts.services = services;
  return facts;
}

/** The kube packages whose installed versions the facts carry (dpkg names; the rpm names are the same). */
export const KUBE_PACKAGES = ['kubeadm', 'kubelet', 'kubectl', 'cri-tools', 'kubernetes-cni'] as const;
/** The units whose state the facts carry, as the health checks name them. */
export const FACT_UNITS = ['containerd.service', 'kubelet.service', 'kctl-agent.service'] as const;
const DPKG_STATUS = '/var/lib/dpkg/status';

/**
 * Installed versions of containerd and the kube packages from dpkg's status file: a file read, no
 * process. A host without dpkg (rpm) reports none here; its kubelet version still comes from kubelet.
 */
async function readInstalledPackages(host: Host): Promise<Map<string, string>> {
  const text = await host.readFile(DPKG_STATUS).catch(() => undefined);
  if (text === undefined) return new Map();
  return parseDpkgStatus(text, new Set<string>(['containerd', 'containerd.io', ...KUBE_PACKAGES]));
}

/**
 * `systemctl is-active` of the node's units, one process for all of them. Only where systemd is init
 * (/run/systemd/system, sd_booted), as elsewhere systemctl knows nothing; undefined then.
 */
async function readServiceStates(host: Host): Promise<Record<string, string> | undefined> {
  if (!(await host.exists('/run/systemd/system'))) return undefined;
  if ((await host.which('systemctl')) === undefined) return undefined;
  const result = await host
    .run('systemctl', ['is-active', '--', ...FACT_UNITS], { allowFailure: true, timeoutMs: 2000 })
    .catch(() => undefined);
  if (result === undefined) return undefined;
  return parseIsActive(FACT_UNITS, result.stdout);
}

/** `systemctl is-active a b c` prints one state per unit, in order; a missing line is "unknown". */
export function parseIsActive(units: readonly string[], output: string): Record<string, string> {
  const lines = output.split('\n').map((l) => l.trim());
  return Object.fromEntries(units.map((unit, i) => [unit, clip(lines[i] || 'unknown')]));
}

async function readOsReleaseText(host: Host): Promise<string> {
  const etc = await readTrimmed(host, '/etc/os-release');
  return etc !== '' ? etc : readTrimmed(host, '/usr/lib/os-release');
}

function clip(value: string): string {
  return value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
}
