import { describe, expect, it } from 'vitest';
import type { NodeRecord } from './cluster-state.js';
import { taintNode, updateMap } from './kubectl-node-meta.js';

const record = (): NodeRecord => ({
  name: 'w-1',
  hostRoot: '/',
  controlPlane: false,
  kubeletVersion: 'v1.31.2',
  kubeletRunning: true,
  unschedulable: false,
  taints: [{ key: 'a', value: '1', effect: 'NoSchedule' }],
  labels: { team: 'x' },
  internalIP: '198.18.0.21',
  apiEndpoint: null,
  createdAt: 0,
});

describe('kubectl label and taint of the stand-in', () => {
  it('labels, refuses a changed value without --overwrite, removes with key-', () => {
    const n = record();
    expect(updateMap(n, n.labels, ['tier=gold'], false, 'label').lines).toEqual(['node/w-1 labeled']);
    expect(() => updateMap(n, n.labels, ['team=y'], false, 'label')).toThrow(
      "'team' already has a value (x), and --overwrite is false",
    );
    updateMap(n, n.labels, ['team=y', 'tier-'], true, 'label');
    expect(n.labels).toEqual({ team: 'y' });
    expect(updateMap(n, n.labels, ['missing-'], true, 'label').errors).toEqual([
      'label "missing" not found.',
    ]);
    expect(() => updateMap(n, n.labels, ['bad key=x'], true, 'label')).toThrow(/invalid label spec/);
  });

  it('taints, refuses a second value of a key and effect without --overwrite, untaints key:Effect-', () => {
    const n = record();
    expect(taintNode(n, ['b=2:NoExecute'], false)).toEqual(['node/w-1 tainted']);
    expect(() => taintNode(n, ['a=9:NoSchedule'], false)).toThrow(
      'node w-1 already has a taint(s) with same effect(s) and --overwrite is false',
    );
    taintNode(n, ['a=9:NoSchedule', 'b:NoExecute-'], true);
    expect(n.taints).toEqual([{ key: 'a', value: '9', effect: 'NoSchedule' }]);
    expect(() => taintNode(n, ['c:NoSchedule-'], true)).toThrow('taint "c:NoSchedule" not found');
    expect(() => taintNode(n, ['c=1:Sometimes'], true)).toThrow(/unsupported taint effect/);
    expect(n.taints).toEqual([{ key: 'a', value: '9', effect: 'NoSchedule' }]);
  });
});
