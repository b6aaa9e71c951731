import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../proto/facts.js';
import { FleetFinding } from '../proto/checks.js';
import { runFleetChecks } from './fleet-checks.js';
import type { FleetHost } from './fleet-checks.js';

let counter = 0;
function host(name: string, overrides: Partial<HostFacts> = {}): FleetHost {
  counter += 1;
  const n = counter.toString(16).padStart(2, '0');
  return {
    name,
    facts: {
      hostname: name,
      machineId: `${n}`.padEnd(32, 'a'),
      productUuid: `${n}000000-0000-4000-8000-000000000000`,
      macs: [`02:00:00:00:00:${n}`],
      ips: [],
      os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
      kernel: '6.1.0',
      arch: 'amd64',
      cpus: 2,
      memoryBytes: 4 * 1024 ** 3,
      cgroupVersion: 2,
      ...overrides,
    },
  };
}

describe('runFleetChecks', () => {
  it('finds nothing on a fleet of distinct hosts with kubelets in range', () => {
    const hosts = [
      host('cp-1', { kubeletVersion: 'v1.33.1' }),
      host('w-1', { kubeletVersion: 'v1.30.0' }),
      host('w-2'),
    ];
    expect(runFleetChecks(hosts, { kubernetesVersion: 'v1.33.2' })).toEqual([]);
  });

  it.each([
    [
      'DuplicateProductUUID',
      { productUuid: 'AAAAAAAA-0000-4000-8000-000000000001' },
      'aaaaaaaa-0000-4000-8000-000000000001',
    ],
    ['DuplicateMAC', { macs: ['02:AA:00:00:00:01', '02:aa:00:00:00:01'] }, '02:aa:00:00:00:01'],
    ['DuplicateHostname', { hostname: 'Node' }, 'node'],
    ['DuplicateMachineID', { machineId: 'f'.repeat(32) }, 'f'.repeat(32)],
  ] satisfies [string, Partial<HostFacts>, string][])(
    'reports %s naming every host that shares the value',
    (id, shared, value) => {
      const hosts = [host('a', shared), host('b'), host('c', shared)];
      const findings = runFleetChecks(hosts);
      expect(findings).toEqual([
        expect.objectContaining({ id, value, hosts: ['a', 'c'], severity: 'error' }),
      ]);
      expect(findings[0]!.message).toContain('a, c');
      for (const finding of findings) expect(FleetFinding.safeParse(finding).success).toBe(true);
    },
  );

  it('ignores empty product_uuid and machine-id rather than calling them duplicates', () => {
    const hosts = [
      host('a', { productUuid: '', machineId: '' }),
      host('b', { productUuid: '', machineId: '' }),
    ];
    expect(runFleetChecks(hosts)).toEqual([]);
  });

  it.each([
    ['too old', 'v1.29.9', 'more than 3 minors older'],
    ['newer than the target', 'v1.34.0', 'newer than'],
    ['not a version', 'garbage', 'not a version'],
  ])('reports a kubelet that is %s, grouping hosts by version', (_name, version, words) => {
    const hosts = [
      host('w-2', { kubeletVersion: version }),
      host('w-1', { kubeletVersion: version }),
      host('cp-1'),
    ];
    const findings = runFleetChecks(hosts, { kubernetesVersion: '1.33.0' });
    expect(findings).toEqual([
      expect.objectContaining({ id: 'KubeletVersionSkew', value: version, hosts: ['w-1', 'w-2'] }),
    ]);
    expect(findings[0]!.message).toContain(words);
  });

  it('skips version skew when no target version is given', () => {
    expect(runFleetChecks([host('a', { kubeletVersion: 'v1.20.0' })])).toEqual([]);
  });
});
