import { describe, expect, it } from 'vitest';
import { HostSpec, type HostSpecInput } from './host-spec.js';

const base: HostSpecInput = {
  hostName: 'cp-1',
  role: 'control-plane',
  kubernetesVersion: 'v1.31.2',
  kubeProxyMode: 'iptables',
};

describe('HostSpec (S8 grammar and bounds)', () => {
  it('fills the defaults of a minimal spec', () => {
    expect(HostSpec.parse(base)).toEqual({
      ...base,
      swap: 'off',
      sysctls: {},
      modules: [],
      files: [],
      packages: [],
      services: [],
    });
  });

  it('accepts a full spec', () => {
    const spec = HostSpec.parse({
      ...base,
      sysctls: { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' },
      modules: [{ name: 'br_netfilter', requiredFor: 'bridged pod traffic' }],
      controlPlaneEndpoint: { name: 'k8s-api.example.internal', address: 'fd00::10' },
      files: [
        {
          path: '/etc/containerd/certs.d/registry.example:5000/hosts.toml',
          content: 'x',
          owner: { uid: 0, gid: 0 },
        },
      ],
    });
    expect(spec.files[0]).toMatchObject({ mode: 0o644, sensitive: false, owner: { uid: 0, gid: 0 } });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown field', { extra: 1 }, 'extra'],
    ['a sysctl key with a slash', { sysctls: { 'net/ipv4/ip_forward': '1' } }, 'sysctls'],
    ['a sysctl key without a dot', { sysctls: { kernel: '1' } }, 'sysctls'],
    ['a sysctl value with a newline', { sysctls: { 'net.ipv4.ip_forward': '1\nkernel.x = 1' } }, 'sysctls'],
    ['a module name with a path', { modules: [{ name: '../ip_vs', requiredFor: 'x' }] }, 'modules'],
    ['a file path with ..', { files: [{ path: '/etc/kubernetes/../passwd', content: '' }] }, 'files'],
    ['a relative file path', { files: [{ path: 'etc/hosts', content: '' }] }, 'files'],
    ['a file mode above 07777', { files: [{ path: '/etc/hosts', content: '', mode: 0o17777 }] }, 'files'],
    [
      'a negative owner',
      { files: [{ path: '/etc/hosts', content: '', owner: { uid: -1, gid: 0 } }] },
      'files',
    ],
    [
      'an endpoint address that is not an IP',
      { controlPlaneEndpoint: { name: 'api', address: '10.0.0.1\n6.6.6.6 evil' } },
      'controlPlaneEndpoint',
    ],
    [
      'an endpoint name that is not a DNS name',
      { controlPlaneEndpoint: { name: 'a b', address: '10.0.0.1' } },
      'controlPlaneEndpoint',
    ],
    ['a version with trailing junk', { kubernetesVersion: 'v1.31.2 --evil' }, 'kubernetesVersion'],
    ['a host name with a slash', { hostName: 'cp/1' }, 'hostName'],
    [
      'too many modules',
      { modules: Array.from({ length: 65 }, () => ({ name: 'm', requiredFor: '' })) },
      'modules',
    ],
    [
      'too many sysctls',
      { sysctls: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`net.k${i}`, '1'])) },
      'sysctls',
    ],
  ])('rejects %s, naming the field', (_what, patch, field) => {
    const r = HostSpec.safeParse({ ...base, ...patch });
    expect(r.success).toBe(false);
    expect(
      r.error?.issues.some(
        (i) => i.path[0] === field || (i.code === 'unrecognized_keys' && i.keys.includes(field)),
      ),
    ).toBe(true);
  });
});
