import type { CheckSeverity } from '../../proto/checks.js';
import type { Check, CheckOutcome } from './check.js';
import { fail, pass } from './check.js';

interface BinaryRule {
  name: string;
  severity: CheckSeverity;
  package: string;
  fromVersion?: string;
  belowVersion?: string;
}

/** kubeadm's FileExisting-<binary> checks (kubeadm-facts §1.5, §1.6). */
export const BINARY_RULES: readonly BinaryRule[] = [
  // conntrack stopped being a kubeadm check in 1.32 (k/k PR #126953)
  { name: 'conntrack', severity: 'error', package: 'conntrack', belowVersion: '1.32' },
  { name: 'ip', severity: 'error', package: 'iproute2' },
  { name: 'iptables', severity: 'error', package: 'iptables' },
  { name: 'mount', severity: 'error', package: 'mount (util-linux)' },
  { name: 'nsenter', severity: 'error', package: 'util-linux' },
  // kubeadm needs cp since 1.33 (k/k PR #130045)
  { name: 'cp', severity: 'error', package: 'coreutils', fromVersion: '1.33' },
  { name: 'ebtables', severity: 'warning', package: 'ebtables' },
  { name: 'ethtool', severity: 'warning', package: 'ethtool' },
  { name: 'socat', severity: 'warning', package: 'socat' },
  { name: 'tc', severity: 'warning', package: 'iproute2 (iproute-tc on RPM distributions)' },
  { name: 'touch', severity: 'warning', package: 'coreutils' },
];

export function judgeBinary(name: string, path: string | undefined, packageName: string): CheckOutcome {
  const expected = `${name} in PATH`;
  return path === undefined
    ? fail(`${name} not found in PATH`, expected, `install the ${packageName} package`)
    : pass(path, expected);
}

export const binaryChecks = (): Check[] =>
  BINARY_RULES.map((rule): Check => ({
    id: `FileExisting-${rule.name}`,
    title: `${rule.name} is installed`,
    severity: rule.severity,
    appliesTo: {
      ...(rule.fromVersion === undefined ? {} : { fromVersion: rule.fromVersion }),
      ...(rule.belowVersion === undefined ? {} : { belowVersion: rule.belowVersion }),
    },
    run: async ({ host }) => judgeBinary(rule.name, await host.which(rule.name), rule.package),
  }));
