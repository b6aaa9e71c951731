import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../../proto/cluster-spec.js';
import type { EtcdStatus } from '../../../proto/etcd-ops.js';
import { KctlError } from '../../../proto/errors.js';
import type { KubeadmState, Observation } from '../observe.js';
import type { PlanningContext } from '../phase.js';
import type { ResolvedCluster } from '../resolved-cluster.js';
import { phaseRecord, phasesOf } from './index.js';

/** Planning a removal: the managed member's own phase, and the stacked member kubeadm reset takes along. */

function spec(mode: 'stacked' | 'managed') {
  return ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c1',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.11' },
    etcd: { mode },
    hosts: [
      { name: 'cp-1', role: 'control-plane' },
      { name: 'cp-2', role: 'control-plane' },
      { name: 'w-1', role: 'worker' },
    ],
  });
}

const members = ['etcd-1', 'etcd-2', 'etcd-3'].map((name, i) => ({
  name,
  hostId: `id-${name}`,
  address: `198.18.0.3${i + 1}`,
  packageFormat: 'deb' as const,
}));

function cluster(mode: 'stacked' | 'managed', etcdMembers = mode === 'managed' ? members : []) {
  const hosts = new Map(
    ['cp-1', 'cp-2', 'w-1'].map((name) => [
      name,
      { name, role: name.startsWith('cp') ? 'control-plane' : 'worker', first: name === 'cp-1' },
    ]),
  );
  return { spec: spec(mode), hosts, etcdMembers } as unknown as ResolvedCluster;
}

function state(controlPlane: boolean): KubeadmState {
  return {
    initialized: controlPlane,
    joined: true,
    kubeletVersion: 'v1.31.2',
    controlPlaneVersion: controlPlane ? 'v1.31.2' : null,
  };
}

function etcdStatus(healthy: Record<string, boolean>): EtcdStatus {
  const list = Object.entries(healthy);
  return {
    clusterId: 'c1',
    leader: '1',
    members: list.map(([name, h], i) => ({
      id: (i + 1).toString(16),
      name,
      peerUrls: [`https://198.18.0.3${i + 1}:2380`],
      clientUrls: [`https://198.18.0.3${i + 1}:2379`],
      isLeader: i === 0,
      healthy: h,
    })),
    healthy: list.every(([, h]) => h),
  };
}

function context(
  c: ResolvedCluster,
  node: string,
  extra: Partial<Observation> = {},
  hosts: Record<string, KubeadmState> = {},
): PlanningContext {
  return {
    cluster: c,
    target: { node },
    observed: {
      hosts: new Map(Object.entries(hosts).map(([n, s]) => [n, { state: s, prepareVersion: 'v1.31.2' }])),
      nodes: Object.keys(hosts).map((name) => ({ name }) as never),
      adminHost: 'cp-1',
      ...extra,
    },
  };
}

const via = { host: 'etcd-1', endpoint: 'https://198.18.0.31:2379' };

describe('removing a node with etcd', () => {
  it('runs the etcd member removal after the node removal, in the remove-node operation', () => {
    expect(phasesOf('remove-node').map((p) => p.id)).toEqual([
      'remove-node',
      'etcd-remove-member',
      'apiserver-etcd-after-removal',
    ]);
  });

  it.each([
    ['a stacked control plane', 'stacked', 'cp-2', true, true],
    ['a worker of a stacked cluster', 'stacked', 'w-1', false, false],
    ['a control plane of a managed-etcd cluster', 'managed', 'cp-2', true, false],
  ] as const)('shows whether kubeadm reset removes an etcd member for %s', (_t, mode, node, cp, shown) => {
    const [task] = phaseRecord('remove-node').tasks(context(cluster(mode), node, {}, { [node]: state(cp) }));
    expect(task?.detail.includes('kubeadm reset -f (removes its stacked etcd member)')).toBe(shown);
    expect(phaseRecord('etcd-remove-member').tasks(context(cluster(mode), node))).toEqual([]);
  });

  it('plans a managed member removal through a surviving member, then the stop on its host', () => {
    const ctx = context(cluster('managed'), 'etcd-3', {
      etcdMembership: { status: etcdStatus({ 'etcd-1': true, 'etcd-2': true, 'etcd-3': true }), via },
    });
    const tasks = phaseRecord('etcd-remove-member').tasks(ctx);
    expect(tasks).toEqual([
      {
        host: 'etcd-3',
        title: 'remove etcd member',
        input: { name: 'etcd-3', peerUrl: 'https://198.18.0.33:2380', via },
        detail:
          'etcdctl member remove 3 (etcd-3) on etcd-1, 2 member(s) left; then stop and disable etcd.service on etcd-3 and empty /var/lib/etcd/kctl',
      },
    ]);
  });

  it('finds a member cluster.yaml no longer names by its name, and plans nothing once it is gone', () => {
    const c = cluster('managed', members.slice(0, 2));
    const status = etcdStatus({ 'etcd-1': true, 'etcd-2': true, 'etcd-3': false });
    const [task] = phaseRecord('etcd-remove-member').tasks(
      context(c, 'etcd-3', { etcdMembership: { status, via } }),
    );
    expect(task?.input).toEqual({ name: 'etcd-3', via });
    const gone = etcdStatus({ 'etcd-1': true, 'etcd-2': true });
    expect(
      phaseRecord('etcd-remove-member').tasks(
        context(c, 'etcd-3', { etcdMembership: { status: gone, via } }),
      ),
    ).toEqual([]);
  });

  it.each([
    ['the last member', { 'etcd-3': true }, /"etcd-3" is the last member/],
    [
      'a member whose removal breaks quorum',
      { 'etcd-1': true, 'etcd-2': false, 'etcd-3': true },
      /would break quorum: 1 of the 2 member\(s\) left are healthy, 2 needed/,
    ],
  ])('refuses to plan removing %s', (_t, healthy, message) => {
    const ctx = context(cluster('managed'), 'etcd-3', {
      etcdMembership: { status: etcdStatus(healthy), via },
    });
    let error: KctlError | undefined;
    try {
      phaseRecord('etcd-remove-member').tasks(ctx);
    } catch (err) {
      error = err as KctlError;
    }
    expect(error?.code).toBe('check_failed');
    expect(error?.message).toMatch(message);
    expect(error?.details).toMatchObject({ member: 'etcd-3', remedy: expect.any(String) });
  });

  it('refuses to plan when no surviving member answered for a member cluster.yaml names', () => {
    expect(() => phaseRecord('etcd-remove-member').tasks(context(cluster('managed'), 'etcd-3'))).toThrow(
      /etcd member "etcd-3": no other etcd member of cluster "c1" answered etcd status/,
    );
    // a host cluster.yaml does not name as an etcd member is not taken for one
    expect(phaseRecord('etcd-remove-member').tasks(context(cluster('managed'), 'w-9'))).toEqual([]);
  });
});
