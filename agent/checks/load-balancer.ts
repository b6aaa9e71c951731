import { isIP } from 'node:net';
import type { LoadBalancerCheckSpec, PreflightSpec } from '../../proto/checks.js';
import type { Host } from '../host/host.js';
import { readIpsFromProc } from '../probes/network.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass, skip } from './check.js';

/**
 * ha.mode haproxy-keepalived, on the hosts that will run HAProxy and keepalived (control planes or
 * lb hosts): the VIP is nobody's yet, keepalived's interface reaches its peers and the VIP on one
 * link, and HAProxy may bind the VIP where it does not hold it.
 */

/** How long the VIP probe waits for any answer; the whole check stays within runPreflight's 5 s. */
export const VIP_PROBE_TIMEOUT_MS = 1500;

/** A complete IPv4 neighbour entry (/proc/net/arp flags 0x2): some host on the link answered ARP for it. */
export function arpHolder(procNetArp: string, address: string): { mac: string; device: string } | undefined {
  for (const line of procNetArp.split('\n').slice(1)) {
    const [ip, , flags, mac, , device] = line.trim().split(/\s+/);
    if (ip !== address || flags === undefined || mac === undefined || device === undefined) continue;
    if ((Number.parseInt(flags, 16) & 0x2) !== 0 && mac !== '00:00:00:00:00:00') return { mac, device };
  }
  return undefined;
}

/** The VIP probe's findings, judged: anything that answered for it holds it. */
export function judgeVipFree(
  lb: LoadBalancerCheckSpec,
  found: { local: boolean; tcp: boolean; arp: { mac: string; device: string } | undefined },
): CheckOutcome {
  const expected = `no host answers for the VIP ${lb.vip} before keepalived takes it`;
  const remedy = `choose a free address for ha.vip (and controlPlaneEndpoint.host), or remove ${lb.vip} from whatever holds it`;
  if (found.local) return fail(`${lb.vip} is already an address of this host`, expected, remedy);
  const how = [
    ...(found.tcp ? [`a TCP connection to ${lb.vip}:${lb.port} was answered`] : []),
    ...(found.arp ? [`${found.arp.mac} answered ARP for it on ${found.arp.device}`] : []),
  ];
  if (how.length > 0) return fail(how.join('; '), expected, remedy);
  return pass(`no answer from ${lb.vip} (TCP ${lb.port}, ARP) within ${VIP_PROBE_TIMEOUT_MS} ms`, expected);
}

async function probeVip(host: Host, lb: LoadBalancerCheckSpec): Promise<CheckOutcome> {
  if (!lb.vipMustBeFree)
    return skip(
      'a keepalived of this cluster may hold the VIP already',
      'the VIP free before the first apply',
    );
  const local = (await readIpsFromProc(host)).includes(lb.vip);
  const tcp = local ? false : await host.net.answers(lb.vip, lb.port, VIP_PROBE_TIMEOUT_MS);
  // the connection attempt made the kernel ask the link for the VIP's MAC: a reply shows here even
  // when a firewall dropped the SYN
  const arp =
    isIP(lb.vip) === 4 ? arpHolder((await host.readFile('/proc/net/arp')) ?? '', lb.vip) : undefined;
  return judgeVipFree(lb, { local, tcp, arp });
}

/** One `ip -j route get` answer: the interface and, when routed, the gateway. */
export interface RouteTo {
  target: string;
  dev: string | undefined;
  gateway: string | undefined;
  prefsrc: string | undefined;
}

export function parseRouteGet(target: string, json: string): RouteTo {
  let first: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    if (Array.isArray(parsed) && typeof parsed[0] === 'object' && parsed[0] !== null)
      first = parsed[0] as Record<string, unknown>;
  } catch {
    // judged as no route below
  }
  const text = (key: string): string | undefined =>
    typeof first?.[key] === 'string' ? first[key] : undefined;
  return { target, dev: text('dev'), gateway: text('gateway'), prefsrc: text('prefsrc') };
}

/**
 * VRRP adverts go straight to each peer, and the VIP's gratuitous ARP reaches only the link: every
 * peer and the VIP must be on the interface's own subnet (no gateway), and adverts go from this
 * host's address there.
 */
export function judgeVrrpLink(
  lb: LoadBalancerCheckSpec,
  found: { interfaceExists: boolean; addresses: readonly string[]; routes: readonly RouteTo[] },
): CheckOutcome {
  const expected = `${lb.address}, the VIP and every VRRP peer on the link of ${lb.interface}`;
  const iface = lb.interface;
  if (!found.interfaceExists)
    return fail(
      `interface ${iface} does not exist on this host`,
      expected,
      `set ha.interface to the interface that carries ${lb.address}`,
    );
  if (!found.addresses.includes(lb.address))
    return fail(
      `${lb.address} is not an address of ${iface} (it has ${found.addresses.join(', ') || 'none'})`,
      expected,
      `set ha.interface to the interface that carries ${lb.address}, or hosts[].address to an address on ${iface}`,
    );
  const off = found.routes.filter((r) => r.dev !== iface || r.gateway !== undefined);
  if (off.length > 0) {
    const where = off.map((r) =>
      r.dev === undefined
        ? `${r.target}: no route`
        : `${r.target} via ${r.gateway ?? 'the link'} on ${r.dev}`,
    );
    return fail(
      `not on ${iface}'s link: ${where.join('; ')}`,
      expected,
      `put the keepalived hosts and the VIP on one L2 segment (one subnet on ${iface}): VRRP adverts and the VIP's gratuitous ARP do not cross routers`,
    );
  }
  return pass(
    `${found.routes.map((r) => r.target).join(', ') || 'no peers'} reached directly on ${iface}`,
    expected,
  );
}

async function probeVrrpLink(host: Host, lb: LoadBalancerCheckSpec): Promise<CheckOutcome> {
  const interfaceExists = await host.exists(`/sys/class/net/${lb.interface}`);
  if (!interfaceExists) return judgeVrrpLink(lb, { interfaceExists, addresses: [], routes: [] });
  if ((await host.which('ip')) === undefined)
    return {
      status: 'warn',
      observed: "ip (iproute2) is not installed: the peers' routes cannot be read",
      expected: `every VRRP peer on the link of ${lb.interface}`,
      remedy: 'install iproute2',
    };
  const addr = await host.run('ip', ['-j', 'addr', 'show', 'dev', lb.interface], {
    allowFailure: true,
    timeoutMs: 2000,
  });
  const addresses = parseAddrShow(addr.stdout);
  const routes = await Promise.all(
    [...lb.peers, lb.vip].map(async (target) => {
      const r = await host.run('ip', ['-j', 'route', 'get', target], { allowFailure: true, timeoutMs: 2000 });
      return parseRouteGet(target, r.exitCode === 0 ? r.stdout : '');
    }),
  );
  // the VIP may already be ours (a keepalived of this cluster): it routes via lo then, which is fine
  const relevant = routes.filter((r) => !(r.target === lb.vip && addresses.includes(lb.vip)));
  return judgeVrrpLink(lb, { interfaceExists, addresses, routes: relevant });
}

/** `ip -j addr show dev X` -> its addresses. */
export function parseAddrShow(json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((link: { addr_info?: Array<{ local?: unknown }> }) =>
      (link.addr_info ?? []).flatMap((a) => (typeof a.local === 'string' ? [a.local] : [])),
    );
  } catch {
    return [];
  }
}

/** HAProxy binding the VIP on a host that does not hold it needs ip_nonlocal_bind; kctl sets it with the host's sysctls. */
export function judgeNonlocalBind(key: string, value: string | undefined): CheckOutcome {
  const expected = `${key} present (kctl sets it to 1 on this host)`;
  if (value === undefined)
    return fail(
      `${key} does not exist on this host`,
      expected,
      'HAProxy cannot bind the VIP where keepalived does not hold it: use a kernel with it, or run HAProxy and keepalived on the control planes (no lb hosts)',
    );
  return pass(value === '1' ? `${key} = 1` : `${key} = ${value}; kctl sets 1`, expected);
}

const nonlocalKey = (vip: string): string =>
  isIP(vip) === 6 ? 'net.ipv6.ip_nonlocal_bind' : 'net.ipv4.ip_nonlocal_bind';

export function loadBalancerChecks(spec: PreflightSpec): Check[] {
  const lb = spec.loadBalancer;
  if (lb === undefined) return [];
  const checks: Check[] = [
    {
      id: 'VIP-Free',
      title: `the VIP ${lb.vip} is free`,
      severity: 'error',
      appliesTo: {},
      run: ({ host }) => probeVip(host, lb),
    },
    {
      id: 'VRRP-Link',
      title: `VRRP peers reachable on ${lb.interface}`,
      severity: 'error',
      appliesTo: {},
      run: ({ host }) => probeVrrpLink(host, lb),
    },
  ];
  if (lb.bindsVip)
    checks.push({
      id: 'Sysctl-ip_nonlocal_bind',
      title: 'HAProxy may bind the VIP on a backup',
      severity: 'error',
      appliesTo: {},
      run: async ({ host }) => {
        const key = nonlocalKey(lb.vip);
        return judgeNonlocalBind(key, await host.readSysctl(key));
      },
    });
  return checks;
}
