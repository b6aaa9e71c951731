import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseClusterSpec } from './parse.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/cluster');
const FULL = readFileSync(join(FIXTURES, 'full.yaml'), 'utf8');
const base = `apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: demo
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0}
hosts:
  - {name: cp-1, role: control-plane}
`;
const cp = '{name: cp-1, role: control-plane}';

describe('cluster.yaml', () => {
  it('accepts the documented full example', () => {
    const r = parseClusterSpec(FULL);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.spec.controlPlaneEndpoint).toEqual({
      host: 'k8s-api.example.internal',
      port: 6443,
      address: '198.18.0.100',
    });
    expect(r.spec.ha).toEqual({ mode: 'kube-vip', interface: 'eth0', vip: '198.18.0.100' });
    expect(r.spec.hosts).toHaveLength(4);
    expect(r.spec.hosts[0]?.address).toBe('198.18.0.11');
    // YAML numbers in extraArgs are taken as their text
    expect(r.spec.extraArgs.kubelet).toEqual({ 'max-pods': '150' });
    expect(r.spec.runtime.containerd.registryCAs['mirror.example.internal']).toMatch(/END CERTIFICATE/);
    expect(r.warnings.map((w) => w.path)).toEqual(['kubeProxy.mode']);
  });

  it('is shown unchanged in docs/cluster-yaml.md', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/cluster-yaml.md'), 'utf8');
    expect(docs).toContain('```yaml\n' + FULL + '```\n');
  });

  it('fills every default in a minimal file', () => {
    const r = parseClusterSpec(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.networking).toEqual({
      podSubnet: '10.244.0.0/16',
      serviceSubnet: '10.96.0.0/12',
      dnsDomain: 'cluster.local',
    });
    expect(r.spec.controlPlaneEndpoint.port).toBe(6443);
    expect(r.spec.kubeProxy.mode).toBe('iptables');
    expect(r.spec.runtime.containerd).toEqual({ version: '1.7', registryMirrors: {}, registryCAs: {} });
    expect(r.spec.packages).toEqual({ source: 'upstream' });
    expect(r.spec.imageRepository).toBe('registry.k8s.io');
  });

  it.each(readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')))('accepts the example %s', (file) => {
    const r = parseClusterSpec(readFileSync(join(FIXTURES, file), 'utf8'), file);
    expect(r.ok, JSON.stringify(r)).toBe(true);
  });

  it.each(readdirSync(join(FIXTURES, 'invalid')))(
    'refuses the example invalid/%s at the path it names',
    (file) => {
      const text = readFileSync(join(FIXTURES, 'invalid', file), 'utf8');
      const expected = /^# expect: (.+)$/m.exec(text)?.[1]?.split(', ') ?? [];
      expect(expected.length).toBeGreaterThan(0);
      const r = parseClusterSpec(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.map((e) => e.path)).toEqual(expect.arrayContaining(expected));
    },
  );

  it.each([
    ['an unknown top-level key', base + 'extra: 1\n', 'extra', /unknown field/],
    [
      'an unknown nested key',
      base + 'networking: {podCidr: 10.0.0.0/16}\n',
      'networking.podCidr',
      /unknown field/,
    ],
    ['a missing name', base.replace('name: demo\n', ''), 'name', /required/],
    [
      'a wrong apiVersion',
      base.replace('kctl.dev/v1alpha1', 'kctl.dev/v1'),
      'apiVersion',
      /kctl.dev\/v1alpha1/,
    ],
    ['a bad cluster name', base.replace('name: demo', 'name: Demo_1'), 'name', /RFC 1123/],
    ['a wrong role', base.replace('role: control-plane', 'role: boss'), 'hosts[0].role', /control-plane/],
    ['a bad version', base.replace('v1.31.2', '"1.31"'), 'kubernetesVersion', /v1.31.2/],
    ['a too new version', base.replace('v1.31.2', 'v1.36.0'), 'kubernetesVersion', /not supported/],
    ['a too old version', base.replace('v1.31.2', 'v1.28.15'), 'kubernetesVersion', /too old/],
    [
      'a bad port',
      base.replace('{host: 198.18.0.100}', '{host: 198.18.0.100, port: 70000}'),
      'controlPlaneEndpoint.port',
      /65535/,
    ],
    [
      'a bad endpoint host',
      base.replace('{host: 198.18.0.100}', '{host: "api example"}'),
      'controlPlaneEndpoint.host',
      /DNS name/,
    ],
    [
      'a bad endpoint address',
      base.replace('{host: 198.18.0.100}', '{host: api.example, address: nowhere}'),
      'controlPlaneEndpoint.address',
      /IPv4/,
    ],
    ['an unknown HA mode', base.replace('mode: kube-vip', 'mode: keepalived'), 'ha.mode', /kube-vip/],
    [
      'a bad interface name',
      base.replace('interface: eth0', 'interface: "eth0; rm -rf /"'),
      'ha.interface',
      /interface/,
    ],
    [
      'a VIP that is not an IP',
      base.replace('interface: eth0', 'interface: eth0, vip: api'),
      'ha.vip',
      /IPv4/,
    ],
    [
      'kube-vip with a DNS endpoint and no VIP',
      base.replace('198.18.0.100', 'api.example'),
      'controlPlaneEndpoint.host',
      /IP address/,
    ],
    [
      'a VIP that differs from the endpoint IP',
      base.replace('interface: eth0', 'interface: eth0, vip: 198.18.0.101'),
      'ha.vip',
      /differs/,
    ],
    ['a bad proxy mode', base + 'kubeProxy: {mode: userspace}\n', 'kubeProxy.mode', /iptables/],
    ['a bad pod subnet', base + 'networking: {podSubnet: 10.244.0.0}\n', 'networking.podSubnet', /CIDR/],
    [
      'an impossible prefix',
      base + 'networking: {podSubnet: 10.244.0.0/33}\n',
      'networking.podSubnet',
      /not a valid CIDR/,
    ],
    [
      'overlapping pod and service networks',
      base + 'networking: {podSubnet: 10.0.0.0/8, serviceSubnet: 10.96.0.0/12}\n',
      'networking.serviceSubnet',
      /overlaps/,
    ],
    [
      'mixed IP families',
      base + 'networking: {podSubnet: "fd00:10::/56", serviceSubnet: 10.96.0.0/12}\n',
      'networking.serviceSubnet',
      /families/,
    ],
    [
      'a VIP inside the service network',
      base.replaceAll('198.18.0.100', '10.96.0.50'),
      'controlPlaneEndpoint.host',
      /serviceSubnet/,
    ],
    [
      'a host address inside the pod network',
      base.replace(cp, '{name: cp-1, role: control-plane, address: 10.244.1.1}'),
      'hosts[0].address',
      /podSubnet/,
    ],
    [
      'a host address that is the VIP',
      base.replace(cp, '{name: cp-1, role: control-plane, address: 198.18.0.100}'),
      'controlPlaneEndpoint.host',
      /VIP/,
    ],
    [
      'an address on a selector entry',
      base + '  - {selector: {a: b}, role: worker, address: 198.18.0.20}\n',
      'hosts[1].address',
      /only allowed with name/,
    ],
    [
      'two hosts with one address',
      base.replace(
        cp,
        `{name: cp-1, role: control-plane, address: 198.18.0.11}\n  - {name: w-1, role: worker, address: 198.18.0.11}`,
      ),
      'hosts[1].address',
      /already/,
    ],
    ['no control plane', base.replace('role: control-plane', 'role: worker'), 'hosts', /control-plane/],
    ['no host entries', base.replace(/hosts:\n.*\n/, 'hosts: []\n'), 'hosts', /at least one/],
    [
      'both name and selector',
      base.replace(cp, '{name: cp-1, selector: {a: b}, role: control-plane}'),
      'hosts[0]',
      /exactly one/,
    ],
    ['neither name nor selector', base.replace(cp, '{role: control-plane}'), 'hosts[0]', /exactly one/],
    ['a duplicated host', base + '  - {name: cp-1, role: worker}\n', 'hosts[1].name', /already listed/],
    [
      'three control planes without HA',
      base.replace('ha: {mode: kube-vip, interface: eth0}\n', '') +
        '  - {name: cp-2, role: control-plane}\n  - {name: cp-3, role: control-plane}\n',
      'ha.mode',
      /HA endpoint/,
    ],
    ['an unknown CNI', base + 'cni: {plugin: cilium}\n', 'cni.plugin', /calico/],
    [
      'calico options with flannel',
      base + 'cni: {plugin: flannel, calico: {ipAutodetectionMethod: first-found}}\n',
      'cni.calico',
      /only applies/,
    ],
    ['a bad CNI version', base + 'cni: {plugin: none, version: latest}\n', 'cni.version', /version/],
    [
      'an unknown containerd line',
      base + 'runtime: {containerd: {version: "1.5"}}\n',
      'runtime.containerd.version',
      /1.7/,
    ],
    [
      'a registry name with a slash',
      base + 'runtime: {containerd: {registryMirrors: {"../etc": [https://m.example]}}}\n',
      'runtime.containerd.registryMirrors.../etc',
      /registry host/,
    ],
    [
      'a mirror that is not a URL',
      base + 'runtime: {containerd: {registryMirrors: {docker.io: [m.example]}}}\n',
      'runtime.containerd.registryMirrors.docker.io[0]',
      /URL/,
    ],
    [
      'a CA that is not PEM',
      base + 'runtime: {containerd: {registryCAs: {docker.io: "BEGIN CERTIFICATE only"}}}\n',
      'runtime.containerd.registryCAs.docker.io',
      /PEM/,
    ],
    ['a mirror source without a URL', base + 'packages: {source: mirror}\n', 'packages.url', /required/],
    ['an unknown package source', base + 'packages: {source: ppa}\n', 'packages.source', /upstream/],
    [
      'a bad image repository',
      base + 'imageRepository: "https://registry.example"\n',
      'imageRepository',
      /registry path/,
    ],
    ['a bad certSAN', base + 'certSANs: ["has space"]\n', 'certSANs[0]', /DNS name/],
    ['an unknown component', base + 'extraArgs: {proxy: {v: "2"}}\n', 'extraArgs.proxy', /unknown field/],
    [
      'a flag with dashes',
      base + 'extraArgs: {apiServer: {--v: "2"}}\n',
      'extraArgs.apiServer.--v',
      /without dashes/,
    ],
    [
      'a flag with a list value',
      base + 'extraArgs: {kubelet: {max-pods: [1]}}\n',
      'extraArgs.kubelet.max-pods',
      /Invalid/,
    ],
  ])('reports %s at its path', (_what, text, path, message) => {
    const r = parseClusterSpec(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.errors.find((e) => e.path === path);
    expect(issue, JSON.stringify(r.errors)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it.each([
    ['ipvs with kube-vip', base + 'kubeProxy: {mode: ipvs}\n', 'kubeProxy.mode', /strictARP/],
    [
      'ipvs on 1.35',
      base.replace('v1.31.2', 'v1.35.0').replace('kube-vip, interface: eth0', 'external-lb') +
        'kubeProxy: {mode: ipvs}\n',
      'kubeProxy.mode',
      /deprecated/,
    ],
    [
      'nftables before 1.31',
      base.replace('v1.31.2', 'v1.30.4') + 'kubeProxy: {mode: nftables}\n',
      'kubeProxy.mode',
      /feature gate/,
    ],
    ['an even number of control planes', base + '  - {name: cp-2, role: control-plane}\n', 'hosts', /even/],
    [
      'a CNI version other than the template when no manifest is given',
      base + 'cni: {plugin: flannel, version: v0.25.0}\n',
      'cni.version',
      /kctl applies its flannel v0\.26\.7 template, not v0\.25\.0/,
    ],
    [
      'an image override no host runs',
      base + 'images: {overrides: {flannel: "reg.example/flannel:v1"}}\n',
      'images.overrides.flannel',
      /no host/,
    ],
    ['kube-vip on an early 1.29 patch', base.replace('v1.31.2', 'v1.29.3'), 'kubernetesVersion', /1.29.7/],
  ])('warns about %s', (_what, text, path, message) => {
    const r = parseClusterSpec(text);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const warning = r.warnings.find((w) => w.path === path);
    expect(warning, JSON.stringify(r.warnings)).toBeDefined();
    expect(warning?.message).toMatch(message);
  });

  it.each([
    ['an alias', 'a: &x [1, 2]\nb: *x\n', ['c.yaml:1:7', 'c.yaml:2:4']],
    ['a merge key', 'base: &b {name: x}\nother:\n  <<: *b\n', ['c.yaml:1:10', 'c.yaml:3:7']],
  ])('refuses YAML with %s, naming each line', (_what, text, paths) => {
    const r = parseClusterSpec(text, 'c.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(paths);
    expect(r.errors.map((e) => e.message).join(' ')).toMatch(
      /anchor &\w+ is not allowed.*alias \*\w+ is not allowed/,
    );
  });

  it('refuses a billion-laughs document without expanding it', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const started = performance.now();
    const r = parseClusterSpec(lines.join('\n'));
    expect(r.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it.each([
    ['an unclosed flow sequence', 'name: [\n', /^c\.yaml:\d+:\d+$/],
    ['a duplicated key', 'name: a\nname: b\n', /^c\.yaml:2:1$/],
    ['two documents', 'name: a\n---\nname: b\n', /^c\.yaml:\d+:\d+$/],
    ['a tab indent', 'hosts:\n\t- a\n', /^c\.yaml:2:\d+$/],
  ])('reports YAML errors such as %s with line and column', (_what, text, path) => {
    const r = parseClusterSpec(text, 'c.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.path).toMatch(path);
  });

  it('reports an empty file as missing fields, not a crash', () => {
    const r = parseClusterSpec('');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.path)).toContain('kubernetesVersion');
  });
});
