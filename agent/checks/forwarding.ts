import type { PreflightSpec } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass, pathCheckId, phaseOf } from './check.js';
import { familiesInUse } from './addresses.js';
import type { IpFamily } from './addresses.js';

interface SysctlRule {
  key: string;
  family: IpFamily;
  belowVersion?: string;
  remedy: string;
}

const FORWARD_REMEDY = 'kctl apply sets it in /etc/sysctl.d/99-kctl.conf; by hand: sysctl -w';

/** kubeadm's FileContent checks; bridge-nf-call ones only before 1.30 (k/k PR #123464). */
export const SYSCTL_RULES: readonly SysctlRule[] = [
  { key: 'net.ipv4.ip_forward', family: 4, remedy: `${FORWARD_REMEDY} net.ipv4.ip_forward=1` },
  {
    key: 'net.ipv6.conf.default.forwarding',
    family: 6,
    remedy: `${FORWARD_REMEDY} net.ipv6.conf.default.forwarding=1`,
  },
  {
    key: 'net.bridge.bridge-nf-call-iptables',
    family: 4,
    belowVersion: '1.30',
    remedy: 'load br_netfilter (modprobe br_netfilter) and set net.bridge.bridge-nf-call-iptables=1',
  },
  {
    key: 'net.bridge.bridge-nf-call-ip6tables',
    family: 6,
    belowVersion: '1.30',
    remedy: 'load br_netfilter (modprobe br_netfilter) and set net.bridge.bridge-nf-call-ip6tables=1',
  },
];

export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

/** kubeadm compares the first len("1") bytes with "1"; value undefined when the file does not exist. */
export function judgeSysctlIsOne(key: string, value: string | undefined, remedy: string): CheckOutcome {
  const path = sysctlPath(key);
  const expected = `${path} is 1`;
  if (value === undefined) return fail(`${path} does not exist`, expected, remedy);
  return value.startsWith('1')
    ? pass(`${path} is 1`, expected)
    : fail(`${path} is ${value}`, expected, remedy);
}

export const forwardingChecks = (spec: PreflightSpec): Check[] => {
  const families = familiesInUse(spec, phaseOf(spec));
  return SYSCTL_RULES.filter((rule) => families.has(rule.family)).map((rule): Check => ({
    id: pathCheckId('FileContent', sysctlPath(rule.key)),
    title: `${rule.key} = 1`,
    severity: 'error',
    appliesTo: rule.belowVersion === undefined ? {} : { belowVersion: rule.belowVersion },
    run: async ({ host }) => judgeSysctlIsOne(rule.key, await host.readSysctl(rule.key), rule.remedy),
  }));
};
