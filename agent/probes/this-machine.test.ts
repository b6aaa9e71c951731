import { hostname, release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LocalHost } from '../host/local-host.js';
import { gatherFacts } from '../facts.js';
import { createHostProbes } from './host-probes.js';
import { detectModule } from './modules.js';

/**
 * The build machine as it really is (looked at by hand: no /proc/modules, `# CONFIG_MODULES is not set`,
 * CONFIG_BRIDGE_NETFILTER=y with /proc/sys/net/bridge present, `# CONFIG_IP_VS is not set`, no /lib/modules,
 * cgroup v1 controllers with cgroup2 only at /sys/fs/cgroup/unified). These assertions are about this
 * kind of machine's kernel (6.18 firecracker builds, whose build suffix changes between machines); on
 * another kernel they document what differs.
 */
describe('probes on this machine (LocalHost at /)', () => {
  const host = new LocalHost({ root: '/' });

  it('runs a kernel without module support', async () => {
    expect(await host.readFile('/proc/sys/kernel/osrelease')).toMatch(/^6\.18\.\d+-fc-v\d+\n$/);
    expect(await host.exists('/proc/modules')).toBe(false);
  });

  it.each([
    ['br_netfilter', 'builtin'],
    ['overlay', 'builtin'],
    ['nf_conntrack', 'builtin'],
    ['nf_tables', 'builtin'],
    ['ip_vs', 'missing'],
    ['ip_vs_rr', 'missing'],
  ] as const)('finds %s %s', async (name, state) => {
    expect(await detectModule(host, name)).toBe(state);
  });

  it('explains where it found br_netfilter and why ip_vs is missing', async () => {
    const probes = createHostProbes(host);
    expect((await probes.module('br_netfilter')).evidence).toBe(
      'CONFIG_BRIDGE_NETFILTER=y in /proc/config.gz',
    );
    expect((await probes.module('ip_vs')).evidence).toBe(
      'kernel has no module support (no /proc/modules) and CONFIG_IP_VS is not set',
    );
  });

  it('reads cgroup v1 (hybrid) and the kernel config from /proc/config.gz', async () => {
    const probes = createHostProbes(host);
    expect((await probes.cgroups()).version).toBe(1);
    expect((await probes.kernelConfig())?.source).toBe('/proc/config.gz');
  });

  it('gathers facts that match the machine', async () => {
    const facts = await gatherFacts(host);
    expect(facts).toMatchObject({
      hostname: hostname(),
      kernel: release(),
      productUuid: '',
      cgroupVersion: 1,
      os: { id: 'debian', versionId: '12' },
    });
    expect(facts.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(facts.macs).toContain('02:fc:00:00:00:01');
    expect(facts.ips).toContain('192.0.2.2');
    expect(facts.cpus).toBeGreaterThan(0);
    expect(facts.memoryBytes).toBeGreaterThan(0);
  });

  it('measures free space under /var/lib with statfs', async () => {
    expect((await host.statfs('/var/lib'))?.freeBytes).toBeGreaterThan(0);
    expect(await host.statfs('/no/such/dir')).toBeUndefined();
  });
});
