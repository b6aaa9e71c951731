import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from './parse.js';
import { resolveHostRoles } from './resolve.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/cluster');
const lbHosts = readFileSync(join(FIXTURES, 'lb-hosts.yaml'), 'utf8');
const head = (ha: string, port = 6443): string => `apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: demo
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: 198.18.0.100, port: ${port}}
ha: ${ha}
hosts:
  - {name: cp-1, role: control-plane}
`;
const HK = '{mode: haproxy-keepalived, interface: eth0, vip: 198.18.0.100}';

describe('cluster.yaml role lb', () => {
  it('is shown unchanged in docs/cluster-yaml.md', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/cluster-yaml.md'), 'utf8');
    expect(docs).toContain('```yaml\n' + lbHosts + '```\n');
  });

  it('reads the lb-host topology with port 6443 and no error', () => {
    const r = parseClusterSpec(lbHosts);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.spec.hosts.filter((h) => h.role === 'lb').map((h) => h.name)).toEqual(['lb-1', 'lb-2']);
    expect(r.warnings).toEqual([]);
  });

  it.each([
    ['kube-vip', '{mode: kube-vip, interface: eth0}'],
    ['external-lb', '{mode: external-lb}'],
    ['none', '{mode: none}'],
  ])('is refused with ha.mode %s, naming hosts[1].role', (mode, ha) => {
    const r = parseClusterSpec(`${head(ha)}  - {name: lb-1, role: lb}\n`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toContainEqual({
      path: 'hosts[1].role',
      message: expect.stringContaining(`role lb needs ha.mode haproxy-keepalived (it is ${mode})`),
    });
  });

  it('is refused with node labels, taints or schedulable, naming the field', () => {
    const r = parseClusterSpec(
      `${head(HK)}  - {name: lb-1, role: lb, nodeLabels: {a: b}, schedulable: true}\n  - {name: lb-2, role: lb}\n`,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path).sort()).toEqual(['hosts[1].nodeLabels', 'hosts[1].schedulable']);
    expect(r.errors[0]?.message).toContain('role lb is no Kubernetes node');
  });

  it('still refuses port 6443 when HAProxy runs on the control planes (no lb hosts)', () => {
    const r = parseClusterSpec(head(HK));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(['controlPlaneEndpoint.port']);
  });

  it('warns that one lb host gives the VIP nowhere to move', () => {
    const r = parseClusterSpec(`${head(HK)}  - {name: lb-1, role: lb}\n`);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.warnings).toContainEqual({ path: 'hosts', message: expect.stringContaining('one lb host') });
  });

  it('is an unknown role in a typo, named by zod', () => {
    const r = parseClusterSpec(`${head(HK)}  - {name: lb-1, role: loadbalancer}\n`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]?.path).toBe('hosts[1].role');
  });
});

describe('role resolution with lb hosts', () => {
  const parsed = parseClusterSpec(lbHosts);
  if (!parsed.ok) throw new Error('fixture lb-hosts.yaml does not parse');
  const hosts = [
    // lb-1 holds the VIP already (a re-plan of a running cluster): not an error on an lb host
    { name: 'lb-1', labels: {}, ips: ['198.18.0.100', '198.18.0.31'] },
    { name: 'lb-2', labels: {}, ips: ['198.18.0.32'] },
    { name: 'cp-1', labels: {}, ips: ['198.18.0.11'] },
    { name: 'cp-2', labels: {}, ips: ['198.18.0.12'] },
    { name: 'cp-3', labels: {}, ips: ['198.18.0.13'] },
    { name: 'w-1', labels: { pool: 'workers' }, ips: ['198.18.0.21'] },
  ];

  it('lists the lb hosts apart from the nodes, in cluster.yaml order', () => {
    const r = resolveHostRoles(parsed.spec, hosts);
    expect(r.errors).toEqual([]);
    expect(r.loadBalancers).toEqual([
      { name: 'lb-1', address: '198.18.0.31' },
      { name: 'lb-2', address: '198.18.0.32' },
    ]);
    expect(r.assignments.map((a) => a.name)).toEqual(['cp-1', 'cp-2', 'cp-3', 'w-1']);
    expect(r.assignments.find((a) => a.first)?.name).toBe('cp-1');
  });

  it('still refuses the VIP on a worker', () => {
    const r = resolveHostRoles(
      parsed.spec,
      hosts.map((h) => (h.name === 'w-1' ? { ...h, ips: ['198.18.0.100', '198.18.0.21'] } : h)),
    );
    expect(r.errors.map((e) => e.message)).toEqual([
      expect.stringContaining('the VIP 198.18.0.100 is already an address of host "w-1"'),
    ]);
  });
});
