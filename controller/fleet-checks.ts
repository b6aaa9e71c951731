import type { HostFacts } from '../proto/facts.js';
import type { FleetFinding, FleetFindingId } from '../proto/checks.js';
import { compareMinor, formatMinor, parseKubeVersion } from '../proto/checks.js';

export interface FleetHost {
  name: string;
  facts: HostFacts;
}

export interface FleetCheckOptions {
  /** the cluster's target Kubernetes version; skew is judged against it */
  kubernetesVersion?: string;
}

/** kubelet may be up to three minors older than the control plane, never newer. */
export const KUBELET_MINOR_SKEW = 3;

interface IdentityRule {
  id: Exclude<FleetFindingId, 'KubeletVersionSkew'>;
  label: string;
  values(facts: HostFacts): string[];
  remedy: string;
}

const IDENTITY_RULES: readonly IdentityRule[] = [
  {
    id: 'DuplicateProductUUID',
    label: 'product_uuid',
    values: (f) => (f.productUuid === '' ? [] : [f.productUuid.toLowerCase()]),
    remedy:
      'give each VM its own SMBIOS UUID (clone with a new UUID); kubelet reports it as the node system UUID',
  },
  {
    id: 'DuplicateMAC',
    label: 'MAC address',
    values: (f) => f.macs.map((m) => m.toLowerCase()),
    remedy: 'give each host NIC a unique MAC (regenerate it in the VM or cloud settings)',
  },
  {
    id: 'DuplicateHostname',
    label: 'hostname',
    values: (f) => (f.hostname === '' ? [] : [f.hostname.toLowerCase()]),
    remedy:
      'give each host a unique hostname, or a unique nodeName in cluster.yaml: node names must be unique',
  },
  {
    id: 'DuplicateMachineID',
    label: 'machine-id',
    values: (f) => (f.machineId === '' ? [] : [f.machineId]),
    remedy: 'empty /etc/machine-id on cloned hosts and run systemd-machine-id-setup (or reboot)',
  },
];

function duplicates(hosts: readonly FleetHost[], rule: IdentityRule): FleetFinding[] {
  const owners = new Map<string, Set<string>>();
  for (const host of hosts) {
    for (const value of new Set(rule.values(host.facts))) {
      const set = owners.get(value) ?? new Set<string>();
      set.add(host.name);
      owners.set(value, set);
    }
  }
  const findings: FleetFinding[] = [];
  for (const [value, names] of owners) {
    if (names.size < 2) continue;
    const sorted = [...names].sort();
    findings.push({
      id: rule.id,
      severity: 'error',
      value,
      hosts: sorted,
      message: `${sorted.length} hosts share ${rule.label} ${value}: ${sorted.join(', ')}`,
      remedy: rule.remedy,
    });
  }
  return findings.sort((a, b) => a.value.localeCompare(b.value));
}

function kubeletSkew(hosts: readonly FleetHost[], target: string): FleetFinding[] {
  const want = parseKubeVersion(target);
  if (want === undefined) return [];
  const oldest = { ...want, minor: Math.max(0, want.minor - KUBELET_MINOR_SKEW) };
  const byVersion = new Map<string, string[]>();
  for (const host of hosts) {
    const version = host.facts.kubeletVersion;
    if (version === undefined) continue;
    const have = parseKubeVersion(version);
    if (have !== undefined && compareMinor(have, oldest) >= 0 && compareMinor(have, want) <= 0) continue;
    byVersion.set(version, [...(byVersion.get(version) ?? []), host.name]);
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([version, names]) => {
      const sorted = [...names].sort();
      const have = parseKubeVersion(version);
      const why =
        have === undefined
          ? 'is not a version'
          : compareMinor(have, want) > 0
            ? 'is newer than'
            : 'is more than 3 minors older than';
      return {
        id: 'KubeletVersionSkew' as const,
        severity: 'error' as const,
        value: version,
        hosts: sorted,
        message: `kubelet ${version} on ${sorted.join(', ')} ${why} Kubernetes ${target} (allowed ${formatMinor(oldest)} to ${formatMinor(want)})`,
        remedy: `install kubelet ${formatMinor(want)} on these hosts (kctl apply installs the target version)`,
      };
    });
}

/** Problems only visible across hosts: shared identities (kubeadm-facts §1.8) and kubelet version skew. */
export function runFleetChecks(hosts: readonly FleetHost[], options: FleetCheckOptions = {}): FleetFinding[] {
  return [
    ...IDENTITY_RULES.flatMap((rule) => duplicates(hosts, rule)),
    ...(options.kubernetesVersion === undefined ? [] : kubeletSkew(hosts, options.kubernetesVersion)),
  ];
}
