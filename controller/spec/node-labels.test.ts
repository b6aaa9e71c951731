import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from './parse.js';

const spec = (hosts: string): string => `apiVersion: kctl.dev/v1alpha1
kind: Cluster
name: demo
kubernetesVersion: v1.31.2
controlPlaneEndpoint: {host: 198.18.0.100}
ha: {mode: kube-vip, interface: eth0}
hosts:
${hosts}`;

describe('hosts[].nodeLabels, nodeTaints and schedulable', () => {
  it('accepts labels, taints in key[=value]:Effect form and a schedulable control plane', () => {
    const r = parseClusterSpec(
      spec(`  - name: cp-1
    role: control-plane
    schedulable: true
  - name: w-1
    role: worker
    nodeLabels: {node-role.kubernetes.io/worker: '', example.com/tier: gold}
    nodeTaints: ['dedicated=gpu:NoSchedule', 'example.com/spot:PreferNoSchedule', 'drain:NoExecute']
`),
    );
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.spec.hosts[0]?.schedulable).toBe(true);
    expect(r.spec.hosts[1]?.nodeLabels).toEqual({
      'node-role.kubernetes.io/worker': '',
      'example.com/tier': 'gold',
    });
    expect(r.spec.hosts[1]?.nodeTaints).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'example.com/spot', effect: 'PreferNoSchedule' },
      { key: 'drain', effect: 'NoExecute' },
    ]);
  });

  it.each([
    ['a label key with a space', `nodeLabels: {'bad key': x}`, 'hosts[1].nodeLabels.bad key', /label key/],
    ['a label key with two slashes', `nodeLabels: {'a/b/c': x}`, 'hosts[1].nodeLabels.a/b/c', /label key/],
    [
      'a label value over 63 characters',
      `nodeLabels: {tier: ${'x'.repeat(64)}}`,
      'hosts[1].nodeLabels.tier',
      /./,
    ],
    ['a label value with a slash', `nodeLabels: {tier: 'a/b'}`, 'hosts[1].nodeLabels.tier', /label value/],
    [
      'a taint effect kubectl does not know',
      `nodeTaints: ['dedicated=gpu:NoRun']`,
      'hosts[1].nodeTaints[0]',
      /Effect NoSchedule, PreferNoSchedule, NoExecute/,
    ],
    [
      'a taint without an effect',
      `nodeTaints: ['dedicated=gpu']`,
      'hosts[1].nodeTaints[0]',
      /key\[=value\]:Effect/,
    ],
    ['a taint with a bad key', `nodeTaints: ['-bad:NoSchedule']`, 'hosts[1].nodeTaints[0]', /taint/],
    ['a taint with a bad value', `nodeTaints: ['k=a b:NoSchedule']`, 'hosts[1].nodeTaints[0]', /taint/],
    [
      'the same taint twice',
      `nodeTaints: ['k=a:NoSchedule', 'k=b:NoSchedule']`,
      'hosts[1].nodeTaints[1]',
      /already given/,
    ],
    ['schedulable on a worker', `schedulable: true`, 'hosts[1].schedulable', /only control planes/],
    [
      'the control-plane taint by hand',
      `nodeTaints: ['node-role.kubernetes.io/control-plane:NoSchedule']`,
      'hosts[1].nodeTaints[0]',
      /use schedulable/,
    ],
  ])('refuses %s, naming the field', (_what, field, path, message) => {
    const r = parseClusterSpec(
      spec(`  - {name: cp-1, role: control-plane}\n  - name: w-1\n    role: worker\n    ${field}\n`),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.errors.find((e) => e.path === path);
    expect(issue, JSON.stringify(r.errors)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('refuses labels on an etcd member', () => {
    const r = parseClusterSpec(
      spec(
        `  - {name: cp-1, role: control-plane}\n  - {name: e-1, role: etcd, nodeLabels: {a: b}}\n`,
      ).replace('hosts:', 'etcd: {mode: managed}\nhosts:'),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toContain('hosts[1].nodeLabels');
  });
});

describe('a parsed spec', () => {
  it('parses again to the same taints (the CLI sends the parsed spec to the controller)', async () => {
    const { ClusterSpec } = await import('../../proto/cluster-spec.js');
    const r = parseClusterSpec(
      spec(
        `  - {name: cp-1, role: control-plane}\n  - {name: w-1, role: worker, nodeTaints: ['a=b:NoSchedule', 'c:NoExecute']}\n`,
      ),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const again = ClusterSpec.parse(JSON.parse(JSON.stringify(r.spec)));
    expect(again.hosts[1]?.nodeTaints).toEqual(r.spec.hosts[1]?.nodeTaints);
  });
});
