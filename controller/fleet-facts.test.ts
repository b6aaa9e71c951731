import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../proto/facts.js';
import { inactiveServices, kubeVersionOf } from './fleet-facts.js';

const base = { hostname: 'h' } as HostFacts;

describe('kubeVersionOf', () => {
  it.each<[string, Partial<HostFacts> | null, string | null]>([
    ['no facts', null, null],
    ['no kubelet', {}, null],
    [
      'the kubelet answer first',
      { kubeletVersion: 'v1.32.1', kubePackages: { kubelet: '1.31.0-1.1' } },
      'v1.32.1',
    ],
    ['the kubelet package else', { kubePackages: { kubelet: '1.31.2-1.1' } }, 'v1.31.2'],
    ['a package version with an epoch', { kubePackages: { kubelet: '1:1.30.4-150500.1.1' } }, 'v1.30.4'],
    ['kubeadm alone is no kubelet', { kubePackages: { kubeadm: '1.31.2-1.1' } }, null],
  ])('%s', (_name, facts, expected) => {
    expect(kubeVersionOf(facts === null ? null : { ...base, ...facts })).toBe(expected);
  });
});

describe('inactiveServices', () => {
  it('names the units that are not active, and is null without unit states', () => {
    expect(inactiveServices(base)).toBeNull();
    expect(
      inactiveServices({
        ...base,
        services: {
          'containerd.service': 'failed',
          'kubelet.service': 'active',
          'kctl-agent.service': 'active',
        },
      }),
    ).toEqual(['containerd failed']);
  });
});
