import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../proto/kubeadm-ops.js';
import { judgeNodeReady } from './node-ready.js';

const node = (name: string, ready: boolean, unschedulable = false): NodeStatus => ({
  name,
  ready,
  kubeletVersion: 'v1.31.2',
  controlPlane: false,
  unschedulable,
});

describe('judgeNodeReady', () => {
  it.each([
    ['a Ready node', [node('w-1', true)], true, 'ok', /^Ready, kubelet v1.31.2/],
    ['a Ready, cordoned node', [node('w-1', true, true)], true, 'ok', /cordoned/],
    ['a NotReady node', [node('w-1', false)], true, 'critical', /^NotReady/],
    ['a cluster host that is no node', [node('w-2', true)], true, 'critical', /no node named "w-1"/],
    ['no control plane answered', { error: 'cp-1 is offline' }, true, 'warning', /cp-1 is offline/],
  ] as const)('%s', (_name, nodes, expectNode, severity, observed) => {
    const r = judgeNodeReady('w-1', nodes, expectNode);
    expect(r).toMatchObject({ id: 'NodeReady', severity });
    expect(r!.observed).toMatch(observed);
    if (severity !== 'ok') expect(r!.remedy).not.toBe('');
  });

  it('says nothing about a host no cluster.yaml names that is not a node', () => {
    expect(judgeNodeReady('spare', [node('w-1', true)], false)).toBeUndefined();
  });
});
