import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../../proto/cluster-spec.js';
import type { EtcdStatus } from '../../../proto/etcd-ops.js';
import type { OpArgs, OpName } from '../../../proto/ops.js';
import type { KubeadmState, Observation } from '../observe.js';
import type { PlanningContext, TaskRun } from '../phase.js';
import type { ResolvedCluster } from '../resolved-cluster.js';
import { endpointDiff, type ApiserverEtcdInput } from './apiserver-etcd.js';
import { phaseRecord, phasesOf } from './index.js';

/** Planning the API servers' --etcd-servers after managed etcd grows or shrinks, and after drift. */

const url = (i: number) => `https://198.18.0.3${i}:2379`;
const THREE = [1, 2, 3].map(url);
const FIVE = [1, 2, 3, 4, 5].map(url);

function spec(etcd: unknown) {
  return ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c1',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.10' },
    etcd,
    hosts: [
      { name: 'cp-1', role: 'control-plane' },
      { name: 'cp-2', role: 'control-plane' },
      { name: 'w-1', role: 'worker' },
    ],
  });
}

const member = (i: number) => ({
  name: `etcd-${i}`,
  hostId: `id-etcd-${i}`,
  address: `198.18.0.3${i}`,
  packageFormat: 'deb' as const,
});

function cluster(count: number, etcd: unknown = { mode: 'managed' }): ResolvedCluster {
  const hosts = new Map(
    ['cp-1', 'cp-2', 'w-1'].map((name, i) => [
      name,
      {
        name,
        role: name.startsWith('cp') ? 'control-plane' : 'worker',
        first: name === 'cp-1',
        address: `198.18.0.1${i + 1}`,
      },
    ]),
  );
  return {
    spec: spec(etcd),
    hosts,
    etcdMembers: Array.from({ length: count }, (_, i) => member(i + 1)),
  } as unknown as ResolvedCluster;
}

function state(etcdServers: string[] | null, member = true, version = 'v1.31.2'): KubeadmState {
  return {
    initialized: member,
    joined: member,
    kubeletVersion: version,
    controlPlaneVersion: member ? version : null,
    etcdServers,
  };
}

function context(
  c: ResolvedCluster,
  hosts: Record<string, KubeadmState>,
  extra: { target?: { node: string }; observed?: Partial<Observation> } = {},
): PlanningContext {
  return {
    cluster: c,
    ...(extra.target ? { target: extra.target } : {}),
    observed: {
      hosts: new Map(Object.entries(hosts).map(([n, s]) => [n, { state: s, prepareVersion: 'v1.31.2' }])),
      nodes: undefined,
      adminHost: 'cp-1',
      ...extra.observed,
    },
  };
}

const apply = (c: PlanningContext) =>
  phaseRecord('apiserver-etcd-endpoints').tasks(c) as Array<{
    host: string;
    detail: string;
    input: ApiserverEtcdInput;
  }>;
const removal = (c: PlanningContext) =>
  phaseRecord('apiserver-etcd-after-removal').tasks(c) as Array<{
    host: string;
    detail: string;
    input: ApiserverEtcdInput;
  }>;

function status(names: string[]): EtcdStatus {
  return {
    clusterId: 'c1',
    leader: '1',
    healthy: true,
    members: names.map((name, i) => ({
      id: (i + 1).toString(16),
      name,
      peerUrls: [`https://198.18.0.3${i + 1}:2380`],
      clientUrls: [url(i + 1)],
      isLeader: i === 0,
      healthy: true,
    })),
  };
}

describe('apiserver-etcd-endpoints in apply plans', () => {
  it('sits after the etcd membership change and before anything that joins or upgrades', () => {
    const ids = phasesOf('apply').map((p) => p.id);
    const at = ids.indexOf('apiserver-etcd-endpoints');
    expect(ids[at - 1]).toBe('etcd-members');
    expect(at).toBeLessThan(ids.indexOf('upgrade-first'));
    expect(at).toBeLessThan(ids.indexOf('control-planes'));
    expect(
      phasesOf('remove-node')
        .map((p) => p.id)
        .at(-1),
    ).toBe('apiserver-etcd-after-removal');
  });

  it('plans growth from 3 to 5 members on each control plane, the first last, showing the endpoint diff', () => {
    const tasks = apply(
      context(cluster(5), { 'cp-1': state(THREE), 'cp-2': state(THREE), 'w-1': state(null) }),
    );
    expect(tasks.map((t) => t.host)).toEqual(['cp-2', 'cp-1']);
    expect(tasks[0]?.detail).toBe(
      `--etcd-servers +${url(4)} +${url(5)}: kubeadm init phase control-plane apiserver, then wait for /readyz`,
    );
    expect(tasks[1]?.detail).toBe(
      `--etcd-servers +${url(4)} +${url(5)}: kubeadm init phase control-plane apiserver, upload-config kubeadm, then wait for /readyz`,
    );
    expect(tasks.map((t) => t.input.uploadConfig)).toEqual([false, true]);
    for (const t of tasks) {
      expect(t.input.etcdServers).toEqual(FIVE);
      expect(t.input.before).toEqual(THREE);
      expect(t.input.restartWaitMs).toBe(20_000);
    }
  });

  it('renders a secret-free kubeadm config for the host, at the version its control plane runs', () => {
    const c = cluster(5);
    c.spec.kubernetesVersion = 'v1.32.0'; // an upgrade planned in the same apply comes later
    const [task] = apply(context(c, { 'cp-2': state(THREE, true, 'v1.31.2') }));
    const docs = (task?.input.config ?? '').split(/^---$/m).map((d) => parse(d) as Record<string, unknown>);
    expect(docs.map((d) => d.kind)).toEqual(['InitConfiguration', 'ClusterConfiguration']);
    expect(docs[0]).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'InitConfiguration',
      nodeRegistration: { name: 'cp-2', criSocket: 'unix:///var/run/containerd/containerd.sock' },
      localAPIEndpoint: { advertiseAddress: '198.18.0.12', bindPort: 6443 },
    });
    expect(docs[1]).toMatchObject({
      kubernetesVersion: 'v1.31.2',
      etcd: { external: { endpoints: FIVE, caFile: '/etc/kubernetes/pki/etcd/ca.crt' } },
    });
    expect(task?.input.config).not.toMatch(/token|certificateKey/);
  });

  it.each([
    ['the same endpoints', THREE],
    ['the same endpoints in another order', [...THREE].reverse()],
  ])('plans nothing when every manifest lists %s', (_t, listed) => {
    expect(apply(context(cluster(3), { 'cp-1': state(listed), 'cp-2': state(listed) }))).toEqual([]);
  });

  it('repairs one edited manifest alone, and that task uploads the config', () => {
    const edited = [url(1), url(2)];
    const tasks = apply(context(cluster(3), { 'cp-1': state(THREE), 'cp-2': state(edited) }));
    expect(tasks.map((t) => [t.host, t.input.uploadConfig, t.detail.split(': kubeadm')[0]])).toEqual([
      ['cp-2', true, `--etcd-servers +${url(3)}`],
    ]);
  });

  it('leaves control planes that have not joined yet, or whose agent does not report the list, to their join', () => {
    const joining = state(null, false);
    const silent: KubeadmState = { initialized: true, joined: true, kubeletVersion: 'v1.31.2' };
    expect(apply(context(cluster(5), { 'cp-1': silent, 'cp-2': joining }))).toEqual([]);
  });

  it('follows etcd.external endpoints too, and never stacked etcd', () => {
    const external = {
      mode: 'external',
      endpoints: [url(7)],
      caCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      clientCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      clientKey: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
    };
    const tasks = apply(context(cluster(0, external), { 'cp-1': state([url(6)]) }));
    expect(tasks.map((t) => t.detail.split(': kubeadm')[0])).toEqual([
      `--etcd-servers -${url(6)} +${url(7)}`,
    ]);
    const stacked = cluster(0, { mode: 'stacked' });
    expect(apply(context(stacked, { 'cp-1': state(['https://127.0.0.1:2379']) }))).toEqual([]);
  });

  it('runs one typed call with the planned input on the task host', async () => {
    const [task] = apply(context(cluster(5), { 'cp-1': state(THREE) }));
    const calls: Array<[string, OpName, unknown]> = [];
    const t = {
      progress: () => undefined,
      call: <N extends OpName>(host: string, op: N, args: OpArgs<N>) => {
        calls.push([host, op, args]);
        return Promise.resolve({
          rewritten: true,
          before: THREE,
          etcdServers: FIVE,
          uploaded: true,
          readyAfterMs: 21_000,
        });
      },
    } as unknown as TaskRun;
    const input = task!.input;
    const r = await phaseRecord('apiserver-etcd-endpoints').run(input as never, 'cp-1', t);
    expect(calls).toEqual([
      [
        'cp-1',
        'kubeadm.apiserverEtcd',
        {
          config: input.config,
          etcdServers: FIVE,
          uploadConfig: true,
          restartWaitMs: 20_000,
          healthTimeoutMs: 180_000,
        },
      ],
    ]);
    expect(r).toEqual({ rewritten: true, etcdServers: 5, uploaded: true, readyAfterMs: 21_000 });
  });
});

describe('apiserver-etcd-after-removal in kctl node remove plans', () => {
  it('drops the removed member from every control plane, the first last', () => {
    // etcd-3 is out of cluster.yaml already; etcd still lists it
    const c = context(
      cluster(2),
      { 'cp-1': state(THREE), 'cp-2': state(THREE) },
      {
        target: { node: 'etcd-3' },
        observed: {
          etcdMembership: {
            status: status(['etcd-1', 'etcd-2', 'etcd-3']),
            via: { host: 'etcd-1', endpoint: url(1) },
          },
        },
      },
    );
    const tasks = removal(c);
    expect(tasks.map((t) => [t.host, t.input.uploadConfig])).toEqual([
      ['cp-2', false],
      ['cp-1', true],
    ]);
    expect(tasks[0]?.detail.split(': kubeadm')[0]).toBe(`--etcd-servers -${url(3)}`);
    expect(tasks[0]?.input.etcdServers).toEqual([url(1), url(2)]);
  });

  it('drops a member cluster.yaml still names, and plans nothing for a worker', () => {
    const still = context(
      cluster(3),
      { 'cp-1': state(THREE), 'cp-2': state(THREE) },
      { target: { node: 'etcd-3' } },
    );
    expect(removal(still).map((t) => t.input.etcdServers)).toEqual([
      [url(1), url(2)],
      [url(1), url(2)],
    ]);
    const worker = context(cluster(3), { 'cp-1': state([url(1)]) }, { target: { node: 'w-1' } });
    expect(removal(worker)).toEqual([]);
  });

  it('plans nothing once the manifests no longer list the removed member (a second plan)', () => {
    const done = context(
      cluster(2),
      { 'cp-1': state([url(2), url(1)]), 'cp-2': state([url(1), url(2)]) },
      {
        target: { node: 'etcd-3' },
        observed: {
          etcdMembership: { status: status(['etcd-1', 'etcd-2']), via: { host: 'etcd-1', endpoint: url(1) } },
        },
      },
    );
    expect(removal(done)).toEqual([]);
  });
});

describe('endpointDiff', () => {
  it.each([
    [[url(1)], [url(1), url(2)], `--etcd-servers +${url(2)}`],
    [[url(1), url(2)], [url(1)], `--etcd-servers -${url(2)}`],
    [[url(2), url(1)], [url(1), url(2)], `--etcd-servers = ${url(1)},${url(2)}`],
  ])('%j -> %j reads %s', (a, b, shown) => {
    expect(endpointDiff(a, b)).toBe(shown);
  });
});
