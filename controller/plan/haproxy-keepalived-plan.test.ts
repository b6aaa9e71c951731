import { describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { resolveCluster } from './resolved-cluster.js';

/**
 * ha.mode haproxy-keepalived through cluster resolution: the control planes' addresses come from
 * what the agents report, the VIP keepalived put on one of them is never taken for its address,
 * and each control plane's prepare HostSpec carries HAProxy's backends and keepalived's peers.
 */

const VIP = '198.18.0.100';
const HOSTS = [
  // cp-1 holds the VIP already (a re-plan of a running cluster): it reports it first
  { name: 'cp-1', ips: [VIP, '198.18.0.11'] },
  { name: 'cp-2', ips: ['198.18.0.12'] },
  { name: 'cp-3', ips: ['198.18.0.13'] },
  { name: 'w-1', ips: ['198.18.0.21'] },
];

function cluster() {
  const store = {
    listHosts: () =>
      HOSTS.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: {},
        state: 'active',
        facts: { ips: h.ips, kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster(
    { store },
    {
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'lb',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: VIP, port: 8443 },
      ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: VIP },
      cni: { plugin: 'none' },
      hosts: [
        { name: 'cp-1', role: 'control-plane' },
        { name: 'cp-2', role: 'control-plane' },
        { name: 'cp-3', role: 'control-plane' },
        { name: 'w-1', role: 'worker' },
      ],
    },
    undefined,
  );
}

const file = (spec: { files: Array<{ path: string; content: string }> }, path: string): string =>
  spec.files.find((f) => f.path === path)?.content ?? '';

describe('a haproxy-keepalived cluster, resolved against its enrolled hosts', () => {
  it('advertises each control plane on its own address, not on the VIP it holds', () => {
    const c = cluster();
    expect(c.host('cp-1').address).toBe('198.18.0.11');
  });

  it("gives every control plane HAProxy's backends and keepalived's peers from the resolved addresses", () => {
    const c = cluster();
    const cp2 = c.hostSpecFor(c.host('cp-2'));
    const haproxy = file(cp2, '/etc/haproxy/haproxy.cfg');
    expect(haproxy).toContain('server cp-1 198.18.0.11:6443');
    expect(haproxy).toContain('server cp-3 198.18.0.13:6443');
    expect(haproxy).not.toContain(VIP);
    const keepalived = file(cp2, '/etc/keepalived/keepalived.conf');
    expect(keepalived).toContain('unicast_src_ip 198.18.0.12');
    expect(keepalived).toMatch(/unicast_peer \{\n {8}198\.18\.0\.11\n {8}198\.18\.0\.13\n/);
    expect(keepalived).toContain('priority 199');
    expect(cp2.services.map((s) => s.unit)).toEqual(
      expect.arrayContaining(['haproxy.service', 'keepalived.service']),
    );
  });

  it('gives workers none of it', () => {
    const c = cluster();
    const w1 = c.hostSpecFor(c.host('w-1'));
    expect(w1.files.map((f) => f.path)).not.toContain('/etc/haproxy/haproxy.cfg');
    expect(w1.packages.map((p) => p.name)).not.toContain('keepalived');
  });
});
