import { describe, expect, it } from 'vitest';
import type { StepPlan } from '../../proto/results.js';
import type { HostClient } from '../host-client.js';
import { observeEtcd } from './etcd-observe.js';
import type { ResolvedCluster } from './resolved-cluster.js';

const MEMBERS = [1, 2, 3].map((i) => ({
  name: `etcd-${i}`,
  hostId: `id-${i}`,
  address: `198.18.0.3${i}`,
  packageFormat: 'deb' as const,
}));
const cluster = {
  etcdMembers: MEMBERS,
  etcdHostSpecFor: (m: { name: string }) => ({ hostName: m.name }),
} as unknown as ResolvedCluster;
const fresh: StepPlan[] = [
  {
    stepId: 'packages',
    title: 'p',
    changes: [{ kind: 'package', name: 'etcd-server', from: null, to: '3.4' }],
  },
];

function fakeClient(plans: Record<string, StepPlan[]>, status: Record<string, unknown>) {
  const calls: string[] = [];
  const client = {
    call: (h: { name: string }, op: string) => {
      calls.push(`${h.name} ${op}`);
      if (op === 'host.plan') return Promise.resolve({ steps: plans[h.name] ?? [] });
      const s = status[h.name];
      return s === undefined ? Promise.reject(new Error('connection refused')) : Promise.resolve(s);
    },
  } as unknown as HostClient;
  return { client, calls };
}

describe('observing managed etcd members', () => {
  it('asks no member for the member list on a first apply (etcd not installed anywhere)', async () => {
    const { client, calls } = fakeClient({ 'etcd-1': fresh, 'etcd-2': fresh, 'etcd-3': fresh }, {});
    const o = await observeEtcd(client, cluster);
    expect(o.running).toBeUndefined();
    expect(calls.filter((c) => c.endsWith('etcd.status'))).toEqual([]);
    expect([...o.plans.keys()]).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
  });

  it('reads the running members (listed, and started: an added member has no name until it starts) from the next installed member when the first does not answer', async () => {
    const { client, calls } = fakeClient(
      { 'etcd-3': fresh },
      {
        'etcd-2': {
          members: [
            { name: 'etcd-1', peerUrls: ['https://198.18.0.31:2380'] },
            { name: '', peerUrls: ['https://198.18.0.32:2380'] },
          ],
        },
      },
    );
    const o = await observeEtcd(client, cluster);
    expect(o.running).toEqual({
      listed: ['https://198.18.0.31:2380', 'https://198.18.0.32:2380'],
      started: ['https://198.18.0.31:2380'],
    });
    expect(calls.filter((c) => c.endsWith('etcd.status'))).toEqual([
      'etcd-1 etcd.status',
      'etcd-2 etcd.status',
    ]);
  });
});
