import { BlockList, isIP } from 'node:net';
import type { PreflightSpec } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { CONTROL_PLANE_PHASES, pass, phaseOf, skip } from './check.js';
import { endpointHost, firstHostAddress, splitCidrs } from './addresses.js';

type Env = Readonly<Record<string, string | undefined>>;

/** kubeadm's default serviceSubnet, tested when the spec names none. */
export const DEFAULT_SERVICE_SUBNET = '10.96.0.0/12';

function envAny(env: Env, ...names: string[]): string {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

/**
 * The proxy an https request to `host` (port 443) would use under Go's httpproxy rules, as kubeadm's
 * HTTPProxy check sees it; undefined when it goes direct.
 */
export function proxyFor(host: string, env: Env): string | undefined {
  const proxy = envAny(env, 'HTTPS_PROXY', 'https_proxy');
  if (proxy === '') return undefined;
  const name = host.toLowerCase();
  if (name === 'localhost' || isLoopback(name)) return undefined;
  for (const rawEntry of envAny(env, 'NO_PROXY', 'no_proxy').split(',')) {
    if (noProxyEntryMatches(rawEntry.trim().toLowerCase(), name)) return undefined;
  }
  return proxy;
}

function isLoopback(host: string): boolean {
  const family = isIP(host);
  return (family === 4 && host.startsWith('127.')) || (family === 6 && host === '::1');
}

function noProxyEntryMatches(entry: string, host: string): boolean {
  if (entry === '') return false;
  if (entry === '*') return true;
  const family = isIP(host);
  if (entry.includes('/')) {
    const [base = '', prefix = ''] = entry.split('/');
    const entryFamily = isIP(base);
    if (entryFamily === 0 || family !== entryFamily) return false;
    const list = new BlockList();
    try {
      list.addSubnet(base, Number(prefix), entryFamily === 4 ? 'ipv4' : 'ipv6');
    } catch {
      return false;
    }
    return list.check(host, family === 4 ? 'ipv4' : 'ipv6');
  }
  let entryHost = entry;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  let port: string | undefined;
  if (bracketed?.[1]) {
    entryHost = bracketed[1];
    port = bracketed[2];
  } else if (isIP(entry) === 0 && entry.includes(':')) {
    [entryHost = '', port] = entry.split(':');
  }
  if (port !== undefined && port !== '443') return false;
  if (isIP(entryHost) !== 0) return entryHost === host;
  if (family !== 0) return false;
  // "*.example.com" and ".example.com" match subdomains; "example.com" matches itself and subdomains
  const suffix = entryHost.replace(/^\*\./, '.');
  if (suffix.startsWith('.')) return host.endsWith(suffix);
  return host === suffix || host.endsWith(`.${suffix}`);
}

export function judgeProxy(target: string, proxy: string | undefined): CheckOutcome {
  const expected = `https://${target} is not sent through a proxy`;
  if (proxy === undefined) return pass(`https://${target} goes direct`, expected);
  return {
    status: 'fail',
    observed: `https://${target} would use proxy ${proxy}`,
    expected,
    remedy: `add ${target} to NO_PROXY (and no_proxy) in the environment of the agent, kubeadm and the container runtime`,
  };
}

export function judgeProxyCidrs(cidrs: readonly string[], env: Env): CheckOutcome {
  const expected = 'cluster CIDRs are not sent through a proxy';
  const proxied: string[] = [];
  for (const cidr of cidrs) {
    const address = firstHostAddress(cidr);
    if (address !== undefined && proxyFor(address, env) !== undefined) proxied.push(cidr);
  }
  if (proxied.length === 0) return pass(`${cidrs.join(', ')} go direct`, expected);
  return {
    status: 'fail',
    observed: `${proxied.join(', ')} would use proxy ${proxyFor(firstHostAddress(proxied[0] ?? '') ?? '', env) ?? ''}`,
    expected,
    remedy: `add ${proxied.join(',')} to NO_PROXY (and no_proxy) for the agent, kubeadm and the container runtime`,
  };
}

function proxyTarget(spec: PreflightSpec): string | undefined {
  const endpoint =
    spec.controlPlaneEndpoint === undefined ? undefined : endpointHost(spec.controlPlaneEndpoint);
  return phaseOf(spec) === 'init' ? (spec.advertiseAddress ?? endpoint) : endpoint;
}

export const httpProxyChecks = (): Check[] => [
  {
    id: 'HTTPProxy',
    title: 'API endpoint not behind an HTTP proxy',
    severity: 'warning',
    appliesTo: {},
    run: ({ spec, env }) => {
      const target = proxyTarget(spec);
      if (target === undefined)
        return Promise.resolve(skip('no endpoint or advertise address given', 'an endpoint'));
      return Promise.resolve(judgeProxy(target, proxyFor(target, env)));
    },
  },
  {
    id: 'HTTPProxyCIDR',
    title: 'service and pod CIDRs not behind an HTTP proxy',
    severity: 'warning',
    appliesTo: { phases: CONTROL_PLANE_PHASES },
    run: ({ spec, env }) => {
      const cidrs = [
        ...(spec.serviceSubnet === undefined ? [DEFAULT_SERVICE_SUBNET] : splitCidrs(spec.serviceSubnet)),
        ...splitCidrs(spec.podSubnet),
      ];
      return Promise.resolve(judgeProxyCidrs(cidrs, env));
    },
  },
];
