import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseClusterSpec } from './parse.js';
import { resolveHostRoles } from './resolve.js';

const FULL = readFileSync(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'), 'utf8');
const base = `apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: demo
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0}
hosts:
  - {name: cp-1, role: control-plane}
`;

describe('cluster.yaml', () => {
  it('accepts the documented full example and fills defaults', () => {
    const r = parseClusterSpec(FULL);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.spec.controlPlaneEndpoint.port).toBe(6443);
      expect(r.spec.hosts).toHaveLength(4);
    }
    const min = parseClusterSpec(base);
    expect(min.ok && min.spec.networking).toEqual({
      podSubnet: '10.244.0.0/16',
      serviceSubnet: '10.96.0.0/12',
      dnsDomain: 'cluster.local',
    });
  });

  it.each([
    ['an unknown key', base + 'extra: 1\n', '(root)', /extra/],
    ['a wrong role', base.replace('role: control-plane', 'role: boss'), 'hosts[0].role', /control-plane/],
    ['a bad version', base.replace('v1.31.2', '"1.31"'), 'kubernetesVersion', /v1.31.2/],
    ['an unsupported version', base.replace('v1.31.2', 'v1.21.0'), 'kubernetesVersion', /not supported/],
    ['a bad proxy mode', base + 'kubeProxy: {mode: userspace}\n', 'kubeProxy.mode', /iptables/],
    [
      'overlapping pod and service networks',
      base + 'networking: {podSubnet: 10.0.0.0/8, serviceSubnet: 10.96.0.0/12}\n',
      'networking.serviceSubnet',
      /overlaps/,
    ],
    [
      'kube-vip with a DNS endpoint',
      base.replace('198.18.0.100', 'api.example'),
      'controlPlaneEndpoint.host',
      /IP address/,
    ],
    ['no control plane', base.replace('role: control-plane', 'role: worker'), 'hosts', /control-plane/],
    [
      'both name and selector',
      base.replace(
        '{name: cp-1, role: control-plane}',
        '{name: cp-1, selector: {a: b}, role: control-plane}',
      ),
      'hosts[0]',
      /exactly one/,
    ],
    ['a duplicated host', base + '  - {name: cp-1, role: worker}\n', 'hosts[1].name', /already listed/],
    [
      'a bad interface name',
      base.replace('interface: eth0', 'interface: "eth0; rm -rf /"'),
      'ha.interface',
      /interface/,
    ],
  ])('reports %s at its path', (_what, text, path, message) => {
    const r = parseClusterSpec(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const issue = r.errors.find((e) => e.path === path);
      expect(issue, JSON.stringify(r.errors)).toBeDefined();
      expect(issue?.message).toMatch(message);
    }
  });

  it('refuses YAML aliases (no billion laughs)', () => {
    const r = parseClusterSpec('a: &x [1, 2]\nb: *x\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.message).toMatch(/Alias/);
  });

  it('reports YAML syntax errors with a line number', () => {
    const r = parseClusterSpec('name: [\n', 'c.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.path).toMatch(/^c\.yaml:\d+$/);
  });

  it('warns on an even number of control planes', () => {
    const r = parseClusterSpec(base + '  - {name: cp-2, role: control-plane}\n');
    expect(r.ok && r.warnings.map((w) => w.path)).toContain('hosts');
  });
});

describe('host role resolution', () => {
  const spec = (() => {
    const r = parseClusterSpec(FULL);
    if (!r.ok) throw new Error('fixture invalid');
    return r.spec;
  })();
  const hosts = [
    { name: 'cp-2', labels: {}, ips: ['198.18.0.12'] },
    { name: 'cp-1', labels: {}, ips: ['198.18.0.11'] },
    { name: 'cp-3', labels: {}, ips: ['198.18.0.13'] },
    { name: 'w-2', labels: { role: 'worker' }, ips: ['198.18.0.22'] },
    { name: 'w-1', labels: { role: 'worker' }, ips: ['198.18.0.21'] },
  ];

  it('assigns roles in spec order, workers by label in name order, and picks the first control plane', () => {
    const r = resolveHostRoles(spec, hosts);
    expect(r.errors).toEqual([]);
    expect(r.assignments.map((a) => `${a.name}:${a.role}${a.first ? '*' : ''}`)).toEqual([
      'cp-1:control-plane*',
      'cp-2:control-plane',
      'cp-3:control-plane',
      'w-1:worker',
      'w-2:worker',
    ]);
  });

  it.each([
    ['a named host that is not enrolled', hosts.filter((h) => h.name !== 'cp-3'), 'hosts[2]', /cp-3/],
    [
      'a VIP that is a host address',
      hosts.map((h) => (h.name === 'w-1' ? { ...h, ips: ['198.18.0.100'] } : h)),
      'controlPlaneEndpoint.host',
      /w-1/,
    ],
    [
      'a host inside the pod network',
      hosts.map((h) => (h.name === 'w-2' ? { ...h, ips: ['10.244.3.4'] } : h)),
      'networking.podSubnet',
      /w-2/,
    ],
  ])('refuses %s', (_what, enrolled, path, message) => {
    const r = resolveHostRoles(spec, enrolled);
    const issue = r.errors.find((e) => e.path === path);
    expect(issue, JSON.stringify(r.errors)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });
});
