import { isIP } from 'node:net';
import type { PreflightSpec } from '../../proto/checks.js';
import type { Phase } from './check.js';

export type IpFamily = 4 | 6;

/** kubeadm's CIDR fields may hold two comma-separated CIDRs (dual-stack). */
export function splitCidrs(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

export function cidrFamily(cidr: string): IpFamily | undefined {
  const family = isIP(cidr.split('/')[0] ?? '');
  return family === 4 || family === 6 ? family : undefined;
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 -> the host part. */
export function endpointHost(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/^https?:\/\//, '');
  const bracketed = /^\[([^\]]+)\]/.exec(trimmed);
  if (bracketed?.[1]) return bracketed[1];
  if (isIP(trimmed) === 6) return trimmed;
  return trimmed.split(':')[0] ?? trimmed;
}

/** The address (second in the range, as kubeadm's GetIndexedIP(cidr, 1)) kubeadm tests against the proxy. */
export function firstHostAddress(cidr: string): string | undefined {
  const [base = '', prefixText = ''] = cidr.split('/');
  const prefix = Number(prefixText);
  const family = isIP(base);
  if (family === 4 && prefix >= 0 && prefix <= 32) {
    const value = base.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return ipv4Text(networkOf(value, prefix, 32) + 1n);
  }
  if (family === 6 && prefix >= 0 && prefix <= 128) {
    return ipv6Text(networkOf(ipv6Value(base), prefix, 128) + 1n);
  }
  return undefined;
}

function networkOf(value: bigint, prefix: number, bits: number): bigint {
  const hostBits = BigInt(bits - prefix);
  return (value >> hostBits) << hostBits;
}

function ipv4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function ipv6Value(text: string): bigint {
  const expanded = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head = '', tail] = expanded.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...headGroups,
    ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'),
    ...tailGroups,
  ];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function ipv6Text(value: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * IP families the node will use: init looks at the service and pod CIDRs and the advertise address,
 * a join at the endpoint it joins. IPv4 when nothing says otherwise (a DNS name endpoint).
 */
export function familiesInUse(spec: PreflightSpec, phase: Phase): Set<IpFamily> {
  const families = new Set<IpFamily>();
  const add = (family: IpFamily | undefined): void => {
    if (family !== undefined) families.add(family);
  };
  if (phase === 'init') {
    for (const cidr of [...splitCidrs(spec.serviceSubnet), ...splitCidrs(spec.podSubnet)])
      add(cidrFamily(cidr));
    if (spec.advertiseAddress) add(cidrFamily(spec.advertiseAddress));
  } else if (spec.controlPlaneEndpoint) {
    add(cidrFamily(endpointHost(spec.controlPlaneEndpoint)));
  }
  if (families.size === 0) families.add(4);
  return families;
}
