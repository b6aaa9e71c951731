import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../../proto/kubeadm-ops.js';
import type { PlannedHost } from '../planned-host.js';
import { labelChange, taintChange } from './node-labels.js';

const host = (over: Partial<PlannedHost>): PlannedHost => ({
  name: 'w-1',
  role: 'worker',
  first: false,
  address: '198.18.0.21',
  hostId: 'h1',
  kernelRelease: '6.1.0',
  osId: 'debian',
  packageFormat: 'deb',
  containerdVersion: undefined,
  ...over,
});
const node = (over: Partial<NodeStatus>): NodeStatus => ({
  name: 'w-1',
  ready: true,
  kubeletVersion: 'v1.31.2',
  controlPlane: false,
  labels: {},
  taints: [],
  managed: { labels: [], taints: [] },
  ...over,
});
const CP_TAINT = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

describe('node labels: what the phase changes', () => {
  it('sets every label of a node that registers in this apply', () => {
    expect(
      labelChange(host({ nodeLabels: { a: '1', 'node-role.kubernetes.io/worker': '' } }), undefined),
    ).toEqual({
      set: { a: '1', 'node-role.kubernetes.io/worker': '' },
      remove: [],
      managed: ['a', 'node-role.kubernetes.io/worker'],
    });
    expect(labelChange(host({}), undefined)).toBeUndefined();
  });

  it('changes nothing when the node carries the labels and the annotation lists them', () => {
    const n = node({ labels: { a: '1', team: 'x' }, managed: { labels: ['a'], taints: [] } });
    expect(labelChange(host({ nodeLabels: { a: '1' } }), n)).toBeUndefined();
  });

  it('sets changed values and removes only labels kctl set that cluster.yaml dropped', () => {
    const n = node({ labels: { a: '1', b: '2', team: 'x' }, managed: { labels: ['a', 'b'], taints: [] } });
    expect(labelChange(host({ nodeLabels: { a: '9' } }), n)).toEqual({
      set: { a: '9' },
      remove: ['b'],
      managed: ['a'],
    });
  });

  it('takes over a label an operator set with the same value, recording it', () => {
    const n = node({ labels: { a: '1' } });
    expect(labelChange(host({ nodeLabels: { a: '1' } }), n)).toEqual({ set: {}, remove: [], managed: ['a'] });
  });
});

describe('node taints: what the phase changes', () => {
  it('leaves a control plane with kubeadm taint alone by default', () => {
    const n = node({ name: 'cp-1', controlPlane: true, taints: [CP_TAINT] });
    expect(taintChange(host({ name: 'cp-1', role: 'control-plane' }), n)).toBeUndefined();
  });

  it('removes the control-plane taint of a schedulable control plane, and puts it back after', () => {
    const tainted = node({ name: 'cp-1', controlPlane: true, taints: [CP_TAINT] });
    expect(taintChange(host({ name: 'cp-1', role: 'control-plane', schedulable: true }), tainted)).toEqual({
      add: [],
      remove: [CP_TAINT],
      managed: [],
    });
    const bare = node({ name: 'cp-1', controlPlane: true, taints: [] });
    expect(taintChange(host({ name: 'cp-1', role: 'control-plane' }), bare)).toEqual({
      add: [CP_TAINT],
      remove: [],
      managed: [],
    });
  });

  it('adds missing taints, overwrites a changed value, removes its own dropped ones and keeps others', () => {
    const n = node({
      taints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'spot', effect: 'PreferNoSchedule' },
        { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' },
        { key: 'maintenance', value: 'soon', effect: 'NoExecute' },
      ],
      managed: { labels: [], taints: ['dedicated:NoSchedule', 'spot:PreferNoSchedule'] },
    });
    const h = host({
      nodeTaints: [
        { key: 'dedicated', value: 'tpu', effect: 'NoSchedule' },
        { key: 'drain', effect: 'NoExecute' },
      ],
    });
    expect(taintChange(h, n)).toEqual({
      add: [
        { key: 'dedicated', value: 'tpu', effect: 'NoSchedule' },
        { key: 'drain', effect: 'NoExecute' },
      ],
      remove: [{ key: 'spot', effect: 'PreferNoSchedule' }],
      managed: [
        { key: 'dedicated', value: 'tpu', effect: 'NoSchedule' },
        { key: 'drain', effect: 'NoExecute' },
      ],
    });
  });

  it('records the taints kubeadm set at join for a node that registers in this apply', () => {
    expect(taintChange(host({ nodeTaints: [{ key: 'k', effect: 'NoSchedule' }] }), undefined)).toEqual({
      add: [],
      remove: [],
      managed: [{ key: 'k', effect: 'NoSchedule' }],
    });
    expect(taintChange(host({}), undefined)).toBeUndefined();
  });
});
