import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText] = text.split('/');
  const family = isIP(address ?? '');
  const prefix = Number(prefixText);
  if (
    !address ||
    family === 0 ||
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > (family === 4 ? 32 : 128)
  )
    return undefined;
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  if (family !== cidr.family) return false;
  const list = new BlockList();
  list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  return list.check(address, family);
}

/** Two CIDRs overlap when either contains the other's network address (CIDRs nest or are disjoint). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContains(a, b.address) || cidrContains(b, a.address));
}
