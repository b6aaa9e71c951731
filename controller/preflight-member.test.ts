import { describe, expect, it } from 'vitest';
import type { PreflightSpec } from '../proto/checks.js';
import type { HostRecord } from './store/store.js';
import {
  clusterMemberResult,
  defaultPreflightSpec,
  DEFAULT_KUBERNETES_VERSION,
} from './preflight-service.js';

const spec = (role: PreflightSpec['role'], kubernetesVersion = 'v1.31.2'): PreflightSpec => ({
  role,
  kubernetesVersion,
  isFirstControlPlane: false,
  kubeProxyMode: 'iptables',
});
const state = (initialized: boolean, joined: boolean, kubeletVersion: string | null = 'v1.31.2') => ({
  initialized,
  joined,
  kubeletVersion,
  controlPlaneVersion: initialized ? kubeletVersion : null,
});

describe('preflight on a host that is already a node', () => {
  it.each([
    ['a fresh host', state(false, false, null), spec('worker'), undefined, undefined],
    [
      'a worker judged as a worker',
      state(false, true),
      spec('worker'),
      'skip',
      /already part of the cluster as a worker, running v1.31.2$/,
    ],
    ['a control plane judged as one', state(true, true), spec('control-plane'), 'skip', /as a control-plane/],
    [
      "a node behind the spec's version",
      state(false, true),
      spec('worker', 'v1.32.0'),
      'skip',
      /asks v1.32.0: kctl apply upgrades it/,
    ],
    [
      'a control plane the spec makes a worker',
      state(true, true),
      spec('worker'),
      'fail',
      /but judged as a worker/,
    ],
    [
      'a worker the spec makes a control plane',
      state(false, true),
      spec('control-plane'),
      'fail',
      /but judged as a control-plane/,
    ],
  ] as const)('%s', (_name, s, sp, status, observed) => {
    const r = clusterMemberResult(s, sp);
    if (status === undefined) {
      expect(r).toBeUndefined();
      return;
    }
    expect(r).toMatchObject({ id: 'ClusterMember', status });
    expect(r!.observed).toMatch(observed);
  });

  const record = (labels: Record<string, string>, kubeletVersion?: string): HostRecord =>
    ({
      id: 'h',
      name: 'n',
      labels,
      facts: kubeletVersion ? { kubeletVersion } : null,
    }) as unknown as HostRecord;

  it.each([
    ['no label, no kubelet: the default', record({}), undefined, 'worker', DEFAULT_KUBERNETES_VERSION],
    ['the version kubeadm.state saw', record({}), state(false, true, 'v1.30.4'), 'worker', 'v1.30.4'],
    ['the version in its facts', record({}, 'v1.29.9'), undefined, 'worker', 'v1.29.9'],
    [
      'an initialized host without a label is a control plane',
      record({}),
      state(true, true),
      'control-plane',
      'v1.31.2',
    ],
    ['the role label wins', record({ role: 'worker' }), state(true, true), 'worker', 'v1.31.2'],
  ] as const)('default spec: %s', (_name, host, s, role, version) => {
    expect(defaultPreflightSpec(host, s)).toMatchObject({ role, kubernetesVersion: version });
  });
});
