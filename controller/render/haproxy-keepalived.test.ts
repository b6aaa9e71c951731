import { describe, expect, it } from 'vitest';
import { ClusterSpec, type ClusterSpecInput } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import { crossFieldRules } from '../spec/rules.js';
import { prepareHostSpec } from '../plan/host-spec.js';
import { apiServerBindPort, apiServerCertSANs } from './cluster-spec-inputs.js';
import { renderHaproxyConfig } from './haproxy.js';
import { haproxyKeepalivedFiles } from './haproxy-keepalived-inputs.js';
import { keepalivedPriority, renderKeepalivedConfig } from './keepalived.js';

const CPS = [
  { name: 'cp-1', address: '198.18.0.11' },
  { name: 'cp-2', address: '198.18.0.12' },
  { name: 'cp-3', address: '198.18.0.13' },
];

const input = (over: Partial<ClusterSpecInput> = {}): ClusterSpecInput => ({
  apiVersion: 'kctl.dev/v1alpha1',
  kind: 'Cluster',
  name: 'lb',
  kubernetesVersion: 'v1.31.2',
  controlPlaneEndpoint: { host: '198.18.0.100', port: 8443 },
  ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: '198.18.0.100' },
  packages: { source: 'bundle' },
  hosts: CPS.map((c) => ({ name: c.name, role: 'control-plane' as const, address: c.address })),
  ...over,
});
const spec = (over: Partial<ClusterSpecInput> = {}): ClusterSpec => ClusterSpec.parse(input(over));

describe('haproxy.cfg', () => {
  const cfg = renderHaproxyConfig({ frontendPort: 8443, vip: '198.18.0.100', backends: CPS });

  it('has a TCP frontend on the endpoint port on every address (no ip_nonlocal_bind needed)', () => {
    expect(cfg).toMatch(/frontend kube-apiserver\n {4}bind \*:8443\n {4}mode tcp/);
  });

  it('checks every control plane on /readyz over TLS without verifying the certificate', () => {
    expect(cfg).toContain('option httpchk GET /readyz');
    expect(cfg).toContain('default-server inter 1s fall 2 rise 2 check check-ssl verify none');
    for (const c of CPS) expect(cfg).toContain(`server ${c.name} ${c.address}:6443\n`);
  });

  it('binds IPv6 and IPv4 for an IPv6 VIP', () => {
    const v6 = renderHaproxyConfig({
      frontendPort: 8443,
      vip: 'fd00::100',
      backends: [{ name: 'a', address: 'fd00::1' }],
    });
    expect(v6).toContain('bind :::8443 v4v6');
  });

  it.each([
    [
      'the frontend on the API servers port',
      { frontendPort: 6443 },
      /API servers on the same hosts listen there/,
    ],
    ['no backend', { backends: [] }, /at least one control plane/],
    [
      'a backend without an IP',
      { backends: [{ name: 'cp-9', address: 'cp-9' }] },
      /"cp-9" has no advertise address/,
    ],
    ['a VIP that is no IP', { vip: 'api.example' }, /not an IP address/],
  ])('refuses %s', (_name, over, message) => {
    expect(() =>
      renderHaproxyConfig({ frontendPort: 8443, vip: '198.18.0.100', backends: CPS, ...over }),
    ).toThrow(message);
  });
});

describe('keepalived.conf', () => {
  const conf = (index: number): string =>
    renderKeepalivedConfig({
      hostName: CPS[index]!.name,
      interface: 'eth0',
      vip: '198.18.0.100',
      virtualRouterId: 51,
      address: CPS[index]!.address,
      peers: CPS.filter((_, i) => i !== index).map((c) => c.address),
      index,
      haproxyPort: 8443,
    });

  it('sends adverts by unicast from its own address to the other control planes', () => {
    const c = conf(1);
    expect(c).toContain('unicast_src_ip 198.18.0.12\n');
    expect(c).toMatch(/unicast_peer \{\n {8}198\.18\.0\.11\n {8}198\.18\.0\.13\n {4}\}/);
    expect(c).not.toContain('198.18.0.12\n        198');
  });

  it('gives priorities by host order, highest first, never below 1', () => {
    expect([0, 1, 2].map((i) => /priority (\d+)/.exec(conf(i))?.[1])).toEqual(['200', '199', '198']);
    expect(keepalivedPriority(500)).toBe(1);
  });

  it('holds the VIP as a /32 on the interface and tracks HAProxy', () => {
    const c = conf(0);
    expect(c).toContain('198.18.0.100/32 dev eth0');
    expect(c).toMatch(/track_script \{\n {8}check_haproxy\n/);
    expect(c).toContain('virtual_router_id 51');
  });

  it('refuses a router id out of 1-255', () => {
    expect(() =>
      renderKeepalivedConfig({
        hostName: 'cp-1',
        interface: 'eth0',
        vip: '198.18.0.100',
        virtualRouterId: 256,
        address: '198.18.0.11',
        peers: [],
        index: 0,
        haproxyPort: 8443,
      }),
    ).toThrow(KctlError);
  });
});

describe('cluster.yaml with ha.mode haproxy-keepalived', () => {
  it('defaults the VRRP router id to 51 and requires the VIP', () => {
    expect(spec().ha).toEqual({
      mode: 'haproxy-keepalived',
      interface: 'eth0',
      vip: '198.18.0.100',
      virtualRouterId: 51,
    });
    expect(
      ClusterSpec.safeParse(input({ ha: { mode: 'haproxy-keepalived', interface: 'eth0' } as never }))
        .success,
    ).toBe(false);
  });

  it('puts the API servers on 6443 behind HAProxy and the VIP into their certificate', () => {
    const s = spec();
    expect(apiServerBindPort(s)).toBe(6443);
    expect(apiServerCertSANs(s)).toContain('198.18.0.100');
  });

  it('refuses the endpoint port 6443, which the API servers hold on the same hosts', () => {
    const r = crossFieldRules(spec({ controlPlaneEndpoint: { host: '198.18.0.100' } }));
    expect(r.errors).toContainEqual(expect.objectContaining({ path: 'controlPlaneEndpoint.port' }));
    expect(crossFieldRules(spec()).errors).toEqual([]);
  });

  it('refuses a VIP that differs from the endpoint address or is a host address', () => {
    const r = crossFieldRules(
      spec({ ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: '198.18.0.11' } }),
    );
    expect(r.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining([
        'the VIP 198.18.0.11 differs from controlPlaneEndpoint.host 198.18.0.100',
        'the VIP 198.18.0.11 is also the address of hosts[0]',
      ]),
    );
  });

  it('gives each control plane HAProxy and keepalived: packages, files that restart them, services', () => {
    const host = { name: 'cp-2', role: 'control-plane' as const, first: false, address: '198.18.0.12' };
    const hs = prepareHostSpec(spec(), host, { packageFormat: 'deb', controlPlanes: CPS });
    expect(hs.packages).toEqual(
      expect.arrayContaining([
        { name: 'haproxy', hold: false },
        { name: 'keepalived', hold: false },
      ]),
    );
    expect(hs.services).toEqual(
      expect.arrayContaining([
        { unit: 'haproxy.service', start: true },
        { unit: 'keepalived.service', start: true },
      ]),
    );
    const byPath = new Map(hs.files.map((f) => [f.path, f]));
    expect(byPath.get('/etc/haproxy/haproxy.cfg')?.restarts).toEqual(['haproxy.service']);
    expect(byPath.get('/etc/keepalived/keepalived.conf')?.restarts).toEqual(['keepalived.service']);
    expect(byPath.get('/etc/keepalived/check-haproxy.sh')?.mode).toBe(0o755);
    expect(byPath.get('/etc/keepalived/keepalived.conf')?.content).toContain('priority 199');
  });

  it('gives workers and other HA modes nothing of it', () => {
    expect(haproxyKeepalivedFiles(spec(), { name: 'w-1', role: 'worker' }, CPS)).toEqual([]);
    const kubeVip = spec({
      controlPlaneEndpoint: { host: '198.18.0.100', port: 6443 },
      ha: { mode: 'kube-vip', interface: 'eth0' },
    });
    expect(haproxyKeepalivedFiles(kubeVip, { name: 'cp-1', role: 'control-plane' }, CPS)).toEqual([]);
    const host = { name: 'cp-1', role: 'control-plane' as const, first: true, address: '198.18.0.11' };
    const hs = prepareHostSpec(kubeVip, host, { packageFormat: 'deb', controlPlanes: CPS });
    expect(hs.packages.map((p) => p.name)).not.toContain('haproxy');
  });

  it('names the control plane without an address', () => {
    expect(() =>
      haproxyKeepalivedFiles(spec(), { name: 'cp-1', role: 'control-plane' }, [
        CPS[0]!,
        { name: 'cp-2', address: undefined },
      ]),
    ).toThrow(/"cp-2" has no address/);
  });
});
