import { readFile, readdir, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { KctlError } from '../proto/errors.js';
import { LAB_PATH, findProgram } from './prereqs.js';

/**
 * The lab network, all on this machine. A bridge in the root namespace carries 198.18.0.1/24 so
 * an ordinary controller process can listen on it. Each host has its own network namespace
 * (`ip netns add kctl-lab-<i>`), joined to the bridge by a veth pair: `kl<i>` on the bridge,
 * `eth0` inside. Hosts get 198.18.0.(10+i)/24 and no default route; the bridge has forwarding
 * off and no NAT rule names the lab, so nothing from a host can leave the machine.
 */
export const LAB_BRIDGE = 'kctl-lab0';
export const LAB_SUBNET_PREFIX = '198.18.0';
export const LAB_PREFIX_LENGTH = 24;
export const LAB_BRIDGE_ADDRESS = `${LAB_SUBNET_PREFIX}.1`;
export const LAB_NETNS_PREFIX = 'kctl-lab-';
export const LAB_VETH_PREFIX = 'kl';
export const MAX_LAB_HOSTS = 200;

export interface HostLink {
  index: number;
  netns: string;
  netnsPath: string;
  vethHost: string;
  address: string;
}

/** Names and the address of host i (1-based). */
export function hostLink(index: number): HostLink {
  if (!Number.isInteger(index) || index < 1 || index > MAX_LAB_HOSTS) {
    throw new KctlError('invalid_args', `lab host index ${index} is outside 1..${MAX_LAB_HOSTS}`);
  }
  const netns = `${LAB_NETNS_PREFIX}${index}`;
  return {
    index,
    netns,
    netnsPath: `/run/netns/${netns}`,
    vethHost: `${LAB_VETH_PREFIX}${index}`,
    address: `${LAB_SUBNET_PREFIX}.${10 + index}`,
  };
}

async function ip(args: string[]): Promise<void> {
  const r = await execa('ip', args, { env: { PATH: LAB_PATH }, reject: false });
  if (r.exitCode !== 0) {
    throw new KctlError('program_failed', `ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  }
}

async function ipQuiet(args: string[]): Promise<boolean> {
  return (await execa('ip', args, { env: { PATH: LAB_PATH }, reject: false })).exitCode === 0;
}

async function writeSysctl(key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}

export async function linkExists(name: string): Promise<boolean> {
  return ipQuiet(['link', 'show', 'dev', name]);
}

/** The bridge with its address; forwarding off on it, no IPv6 on it. */
export async function createBridge(): Promise<void> {
  await ip(['link', 'add', LAB_BRIDGE, 'type', 'bridge']);
  await writeSysctl(`net/ipv6/conf/${LAB_BRIDGE}/disable_ipv6`, '1');
  // per input interface: packets that arrive on the bridge are never routed elsewhere,
  // even if the machine forwards for something else
  await writeSysctl(`net/ipv4/conf/${LAB_BRIDGE}/forwarding`, '0');
  await ip(['addr', 'add', `${LAB_BRIDGE_ADDRESS}/${LAB_PREFIX_LENGTH}`, 'dev', LAB_BRIDGE]);
  await ip(['link', 'set', LAB_BRIDGE, 'up']);
}

/** The host's namespace and its veth pair; eth0 is configured inside by the host itself. */
export async function createHostLink(link: HostLink): Promise<void> {
  await ip(['netns', 'add', link.netns]);
  await ip(['link', 'add', link.vethHost, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', link.netns]);
  await writeSysctl(`net/ipv6/conf/${link.vethHost}/disable_ipv6`, '1');
  await ip(['link', 'set', link.vethHost, 'master', LAB_BRIDGE, 'up']);
}

/** Deleting the namespace deletes its eth0 and so the pair; the explicit deletes catch partial ups. */
export async function removeHostLink(link: Pick<HostLink, 'netns' | 'vethHost'>): Promise<void> {
  if (link.netns !== '' && (await listLabNetns()).includes(link.netns))
    await ipQuiet(['netns', 'delete', link.netns]);
  if (await linkExists(link.vethHost)) await ipQuiet(['link', 'delete', link.vethHost]);
}

export async function removeBridge(): Promise<void> {
  if (await linkExists(LAB_BRIDGE)) await ipQuiet(['link', 'delete', LAB_BRIDGE]);
}

/** Lab namespaces present now (by name convention), e.g. after a crashed `lab up`. */
export async function listLabNetns(): Promise<string[]> {
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(LAB_NETNS_PREFIX)).sort();
}

/** Lab links in the root namespace: the bridge and the host-side veths. */
export async function listLabLinks(): Promise<string[]> {
  const r = await execa('ip', ['-o', 'link', 'show'], { env: { PATH: LAB_PATH }, reject: false });
  const names = r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
  return names.filter((n) => n === LAB_BRIDGE || new RegExp(`^${LAB_VETH_PREFIX}\\d+$`).test(n)).sort();
}

export interface IsolationFacts {
  ipForward: string;
  bridgeForwarding: string | undefined;
  /** NAT/forward rules that mention the lab subnet or bridge (must be empty) */
  natRules: string[];
}

/** Pure judgement of the facts: why the lab could reach off the machine, or nothing. */
export function isolationProblems(f: IsolationFacts): string[] {
  const problems: string[] = [];
  if (f.bridgeForwarding !== undefined && f.bridgeForwarding !== '0' && f.ipForward !== '0') {
    problems.push(`forwarding is on for ${LAB_BRIDGE}`);
  }
  for (const rule of f.natRules) problems.push(`a NAT rule names the lab: ${rule}`);
  return problems;
}

/** Filters ruleset text to lines that masquerade/SNAT/DNAT the lab subnet or bridge. */
export function labNatRules(ruleset: string): string[] {
  const lab = /198\.1[89]\.|kctl-lab/;
  const nat = /masquerade|snat|dnat|MASQUERADE|SNAT|DNAT/;
  return ruleset
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => lab.test(l) && nat.test(l));
}

export async function readIsolationFacts(): Promise<IsolationFacts> {
  const read = (p: string) =>
    readFile(p, 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    );
  let ruleset = '';
  for (const [prog, args] of [
    ['nft', ['list', 'ruleset']],
    ['iptables-save', []],
  ] as const) {
    if ((await findProgram(prog)) === undefined) continue;
    const r = await execa(prog, [...args], { env: { PATH: LAB_PATH }, reject: false });
    ruleset += `${r.stdout}\n`;
  }
  return {
    ipForward: (await read('/proc/sys/net/ipv4/ip_forward')) ?? 'unknown',
    bridgeForwarding: await read(`/proc/sys/net/ipv4/conf/${LAB_BRIDGE}/forwarding`),
    natRules: labNatRules(ruleset),
  };
}
