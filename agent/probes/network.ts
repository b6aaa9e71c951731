import type { Host } from '../host/host.js';

/**
 * Interfaces made per pod or by a CNI/kube-proxy: their MACs and addresses are not the host's identity
 * (a node with 100 pods has 100 veths) and their MACs may repeat across hosts by design.
 */
const VIRTUAL_PREFIXES = [
  'veth',
  'cali',
  'lxc',
  'cni',
  'flannel',
  'cilium',
  'vxlan',
  'genev',
  'kube-ipvs',
  'kube-bridge',
  'tunl',
  'docker',
  'nodelocaldns',
  'weave',
  'vethwe',
  'datapath',
];

export function isHostInterface(name: string): boolean {
  return name !== 'lo' && !VIRTUAL_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export function normaliseMac(raw: string): string | undefined {
  const mac = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) return undefined;
  if (mac === '00:00:00:00:00:00') return undefined;
  return mac;
}

/** MAC addresses of the host's own interfaces from /sys/class/net/<if>/address, sorted and unique. */
export async function readMacs(host: Host): Promise<string[]> {
  let names: string[];
  try {
    names = await host.listDir('/sys/class/net');
  } catch {
    return [];
  }
  const macs = await Promise.all(
    names
      .filter(isHostInterface)
      .map(async (name) =>
        normaliseMac((await host.readFile(`/sys/class/net/${name}/address`).catch(() => '')) ?? ''),
      ),
  );
  return [...new Set(macs.filter((m): m is string => m !== undefined))].sort();
}

/**
 * Local IPv4 addresses from /proc/net/fib_trie: a leaf line "|-- a.b.c.d" followed by "/32 host LOCAL".
 * Loopback addresses are left out.
 */
export function parseFibTrieLocalAddresses(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split('\n')) {
    const leafMatch = /^\s*\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (leafMatch) {
      leaf = leafMatch[1];
      continue;
    }
    if (leaf !== undefined && /^\s*\/32 host LOCAL\s*$/.test(line) && !leaf.startsWith('127.'))
      found.add(leaf);
  }
  return [...found];
}

/** Global-scope IPv6 addresses from /proc/net/if_inet6 ("addr ifindex prefixlen scope flags name"). */
export function parseIfInet6(
  text: string,
  keepInterface: (name: string) => boolean = isHostInterface,
): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const [hex, , , scope, , name] = line.trim().split(/\s+/);
    if (!hex || hex.length !== 32 || scope !== '00' || !name || !keepInterface(name)) continue;
    found.push(compressIpv6(hex));
  }
  return found;
}

/** 32 hex digits -> the canonical text form (RFC 5952), using the WHATWG URL serialiser. */
export function compressIpv6(hex: string): string {
  const groups = hex.match(/.{4}/g) ?? [];
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export interface InterfaceAddress {
  address: string;
  family: 'IPv4' | 'IPv6' | number;
  internal: boolean;
}

/**
 * Addresses from os.networkInterfaces() (one getifaddrs call; it does not block like systeminformation),
 * keeping the host's own interfaces, no loopback and no link-local IPv6.
 */
export function addressesFromInterfaces(
  interfaces: Readonly<Record<string, readonly InterfaceAddress[] | undefined>>,
): string[] {
  const found: string[] = [];
  for (const [name, addresses] of Object.entries(interfaces)) {
    if (!isHostInterface(name)) continue;
    for (const a of addresses ?? []) {
      if (a.internal || a.address.toLowerCase().startsWith('fe80:')) continue;
      found.push(a.address);
    }
  }
  return found;
}

/** IPv4 from /proc/net/fib_trie and IPv6 from /proc/net/if_inet6 under the host root. */
export async function readIpsFromProc(host: Host): Promise<string[]> {
  const [trie, inet6] = await Promise.all([
    host.readFile('/proc/net/fib_trie'),
    host.readFile('/proc/net/if_inet6'),
  ]);
  return [...parseFibTrieLocalAddresses(trie ?? ''), ...parseIfInet6(inet6 ?? '')];
}
