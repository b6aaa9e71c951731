import { describe, expect, it } from 'vitest';
import type { PreflightSpec } from '../../proto/checks.js';
import { checkApplies, pathCheckId, phaseOf } from './check.js';
import type { Check } from './check.js';
import { isIgnored, preflightChecks, toCheckResult } from './index.js';

const spec = (overrides: Partial<PreflightSpec> = {}): PreflightSpec => ({
  role: 'control-plane',
  kubernetesVersion: 'v1.33.1',
  isFirstControlPlane: true,
  kubeProxyMode: 'iptables',
  ...overrides,
});

const check = (overrides: Partial<Check> = {}): Check => ({
  id: 'Port-6443',
  title: 'port free',
  severity: 'error',
  appliesTo: {},
  run: () => Promise.resolve({ status: 'pass', observed: '', expected: '' }),
  ...overrides,
});

describe('check selection', () => {
  it.each([
    ['control-plane', true, 'init'],
    ['control-plane', false, 'control-plane-join'],
    ['worker', false, 'worker-join'],
    ['worker', true, 'worker-join'],
  ] as const)('a %s with isFirstControlPlane=%s runs the %s checks', (role, isFirstControlPlane, phase) => {
    expect(phaseOf(spec({ role, isFirstControlPlane }))).toBe(phase);
  });

  it.each([
    [{ belowVersion: '1.30' }, 'v1.29.9', true],
    [{ belowVersion: '1.30' }, 'v1.30.0', false],
    [{ fromVersion: '1.33' }, '1.33.0', true],
    [{ fromVersion: '1.33' }, 'v1.32.7', false],
    [{ phases: ['worker-join'] as const }, 'v1.33.0', false],
  ])('appliesTo %j for version %s is %s', (appliesTo, kubernetesVersion, applies) => {
    expect(checkApplies(check({ appliesTo }), spec({ kubernetesVersion }))).toBe(applies);
  });

  it.each([
    [
      'FileAvailable',
      '/etc/kubernetes/manifests/kube-apiserver.yaml',
      'FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml',
    ],
    ['DirAvailable', '/var/lib/etcd', 'DirAvailable--var-lib-etcd'],
    ['FileContent', '/proc/sys/net/ipv4/ip_forward', 'FileContent--proc-sys-net-ipv4-ip_forward'],
  ] as const)('names a %s check of %s like kubeadm: %s', (kind, path, id) => {
    expect(pathCheckId(kind, path)).toBe(id);
  });

  it('selects kubeadm init checks for the first control plane and join checks for a worker', () => {
    const init = preflightChecks(spec()).map((c) => c.id);
    const worker = preflightChecks(spec({ role: 'worker', isFirstControlPlane: false })).map((c) => c.id);
    expect(init).toEqual(
      expect.arrayContaining(['Port-6443', 'Port-2379', 'DirAvailable--var-lib-etcd', 'NumCPU']),
    );
    expect(init).not.toContain('FileAvailable--etc-kubernetes-kubelet.conf');
    expect(worker).toEqual(
      expect.arrayContaining([
        'Port-10250',
        'FileAvailable--etc-kubernetes-pki-ca.crt',
        'FileAvailable--etc-kubernetes-kubelet.conf',
      ]),
    );
    expect(worker).not.toContain('Port-6443');
    expect(worker).not.toContain('Mem');
  });

  it('uses the configured API server port in the port check id', () => {
    expect(preflightChecks(spec({ apiServerPort: 8443 })).map((c) => c.id)).toContain('Port-8443');
  });

  it.each([
    [
      'v1.29.3',
      ['FileContent--proc-sys-net-bridge-bridge-nf-call-iptables', 'FileExisting-conntrack'],
      ['FileExisting-cp'],
    ],
    [
      'v1.31.0',
      ['FileExisting-conntrack'],
      ['FileContent--proc-sys-net-bridge-bridge-nf-call-iptables', 'FileExisting-cp'],
    ],
    [
      'v1.33.0',
      ['FileExisting-cp'],
      ['FileExisting-conntrack', 'FileContent--proc-sys-net-bridge-bridge-nf-call-iptables'],
    ],
  ])('for Kubernetes %s includes %j and leaves out %j', (kubernetesVersion, included, excluded) => {
    const ids = preflightChecks(spec({ kubernetesVersion })).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(included));
    for (const id of excluded) expect(ids).not.toContain(id);
  });

  it('adds the IPv6 forwarding check only when an IPv6 CIDR is in use', () => {
    const v4 = preflightChecks(spec({ podSubnet: '10.244.0.0/16' })).map((c) => c.id);
    const dual = preflightChecks(spec({ podSubnet: '10.244.0.0/16,fd00:10:244::/56' })).map((c) => c.id);
    expect(v4).not.toContain('FileContent--proc-sys-net-ipv6-conf-default-forwarding');
    expect(dual).toEqual(
      expect.arrayContaining([
        'FileContent--proc-sys-net-ipv4-ip_forward',
        'FileContent--proc-sys-net-ipv6-conf-default-forwarding',
      ]),
    );
  });

  it('gives every check a unique id', () => {
    const ids = preflightChecks(spec({ podSubnet: '10.244.0.0/16,fd00::/56' })).map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('results', () => {
  const failed = { status: 'fail', observed: 'listening', expected: 'free', remedy: 'stop it' } as const;

  it.each([
    ['an error check that fails', 'error', undefined, 'fail', undefined],
    ['a warning check that fails', 'warning', undefined, 'warn', undefined],
    ['an ignored error check', 'error', ['port-6443'], 'warn', true],
    ['an error check when all are ignored', 'error', ['ALL'], 'warn', true],
    ['an error check when another is ignored', 'error', ['Swap'], 'fail', undefined],
  ] as const)('reports %s as %s', (_name, severity, ignore, status, ignored) => {
    const result = toCheckResult(check({ severity }), failed, ignore);
    expect(result).toMatchObject({ id: 'Port-6443', status, remedy: 'stop it' });
    expect(result.ignored).toBe(ignored);
  });

  it('ignores SystemVerification parts through the kubeadm name', () => {
    const part = { id: 'SystemVerification-Cgroups', ignoreGroup: 'SystemVerification' };
    expect(isIgnored(part, ['systemverification'])).toBe(true);
    expect(isIgnored(part, ['SystemVerification-Cgroups'])).toBe(true);
    expect(isIgnored(part, ['Swap'])).toBe(false);
  });

  it('drops the remedy from passing results', () => {
    expect(
      toCheckResult(check(), { status: 'pass', observed: 'ok', expected: 'ok', remedy: 'x' }, []).remedy,
    ).toBe('');
  });
});
