import { beforeAll, describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { StepPlan } from '../../proto/results.js';
import { ensureEtcdPki, type EtcdPki } from '../etcd/pki.js';
import type { Store } from '../store/store.js';
import type { Observation } from './observe.js';
import type { TaskRun } from './phase.js';
import { etcdMembersPhase, etcdPhase, type EtcdMemberTaskInput } from './phases/etcd.js';
import { PHASES } from './phases/index.js';
import { resolveCluster, type ResolvedCluster } from './resolved-cluster.js';

/** etcd.mode through cluster resolution: external etcd reaches the control planes and kubeadm. */

const HOSTS = [
  { name: 'cp-1', ips: ['198.18.0.11'] },
  { name: 'w-1', ips: ['198.18.0.21'] },
  { name: 'etcd-1', ips: ['198.18.0.31'] },
];
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CLIENT = '-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n';

function cluster(etcd: unknown, extraHosts: unknown[] = []) {
  const store = {
    listHosts: () =>
      HOSTS.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: {},
        state: 'active',
        facts: { ips: h.ips, kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster(
    { store },
    {
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'ext',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: '198.18.0.11' },
      cni: { plugin: 'none' },
      etcd,
      hosts: [{ name: 'cp-1', role: 'control-plane' }, { name: 'w-1', role: 'worker' }, ...extraHosts],
    },
    undefined,
  );
}

const external = {
  mode: 'external',
  endpoints: ['https://198.18.0.31:2379'],
  caCert: CERT,
  clientCert: CLIENT,
  clientKey: KEY,
};

describe('etcd.mode through cluster resolution', () => {
  it("puts an external cluster's CA and client pair on the control planes only, the key 0600 and hidden", () => {
    const c = cluster(external);
    const files = c
      .hostSpecFor(c.host('cp-1'))
      .files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/'));
    expect(files.map((f) => [f.path, f.content, f.mode, f.sensitive])).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', CERT, 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.crt', CLIENT, 0o644, false],
      ['/etc/kubernetes/pki/apiserver-etcd-client.key', KEY, 0o600, true],
    ]);
    expect(c.hostSpecFor(c.host('w-1')).files.some((f) => f.path.startsWith('/etc/kubernetes/pki/'))).toBe(
      false,
    );
  });

  it('renders kubeadm init with etcd.external for an external cluster', () => {
    const c = cluster(external);
    const init = c.renderers.init(c.host('cp-1'), {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'a'.repeat(64),
    });
    expect(init).toContain('external:\n    endpoints:\n      - https://198.18.0.31:2379\n');
    expect(init).not.toContain('local:');
  });

  it('gives stacked control planes no etcd client files', () => {
    const c = cluster({ mode: 'stacked' });
    expect(c.hostSpecFor(c.host('cp-1')).files.some((f) => f.path.includes('etcd'))).toBe(false);
  });
});

describe('etcd.mode managed through cluster resolution and the etcd phase', () => {
  const managedHosts = [
    { name: 'etcd-1', role: 'etcd' },
    { name: 'etcd-2', role: 'etcd', address: '198.18.0.32' },
    { name: 'etcd-3', role: 'etcd', address: '198.18.0.33' },
  ];
  const enrolled = [
    ...HOSTS,
    { name: 'etcd-2', ips: ['198.18.0.32'] },
    { name: 'etcd-3', ips: ['198.18.0.33'] },
  ];
  const store = {
    listHosts: () =>
      enrolled.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: h.name === 'etcd-3' ? { tier: 'etcd' } : {},
        state: 'active',
        facts: { ips: h.ips, kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  const raw = {
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'ext',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.11' },
    cni: { plugin: 'none' },
    etcd: { mode: 'managed' },
    hosts: [{ name: 'cp-1', role: 'control-plane' }, { name: 'w-1', role: 'worker' }, ...managedHosts],
  };
  const ENDPOINTS = ['https://198.18.0.31:2379', 'https://198.18.0.32:2379', 'https://198.18.0.33:2379'];
  let pki: EtcdPki;
  let c: ResolvedCluster;

  beforeAll(async () => {
    pki = (
      await ensureEtcdPki(undefined, [
        { name: 'etcd-1', address: '198.18.0.31' },
        { name: 'etcd-2', address: '198.18.0.32' },
        { name: 'etcd-3', address: '198.18.0.33' },
      ])
    ).pki;
    c = resolveCluster({ store, etcdPki: pki }, raw, undefined);
  });

  const observation = (
    etcd: Record<string, StepPlan[]>,
    running?: { listed: string[]; started: string[] },
  ): Observation => ({
    hosts: new Map(),
    nodes: undefined,
    adminHost: undefined,
    etcd: { plans: new Map(Object.entries(etcd)), ...(running ? { running } : {}) },
  });
  const PEERS = ['https://198.18.0.31:2380', 'https://198.18.0.32:2380', 'https://198.18.0.33:2380'];
  const pending: StepPlan[] = [
    {
      stepId: 'packages',
      title: 'packages',
      changes: [{ kind: 'package', name: 'etcd-server', from: null, to: '3.4.30-2' }],
    },
  ];

  it('resolves the etcd hosts as members, not nodes, and kubeadm init gets etcd.external at them', () => {
    expect(c.etcdMembers.map((m) => [m.name, m.address])).toEqual([
      ['etcd-1', '198.18.0.31'],
      ['etcd-2', '198.18.0.32'],
      ['etcd-3', '198.18.0.33'],
    ]);
    expect([...c.hosts.keys()]).toEqual(['cp-1', 'w-1']);
    const init = c.renderers.init(c.host('cp-1'), {
      token: 'abcdef.0123456789abcdef',
      certificateKey: 'a'.repeat(64),
    });
    expect(init).toContain(`external:\n    endpoints:\n${ENDPOINTS.map((e) => `      - ${e}\n`).join('')}`);
    expect(init).toContain('caFile: /etc/kubernetes/pki/etcd/ca.crt');
    expect(init).not.toContain('local:');
  });

  it("puts the etcd CA and the API server's client pair from the etcd PKI on the control planes", () => {
    const files = c
      .hostSpecFor(c.host('cp-1'))
      .files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/'))
      .map((f) => [f.path, f.content, f.mode]);
    expect(files).toEqual([
      ['/etc/kubernetes/pki/etcd/ca.crt', pki.ca.certPem, 0o644],
      ['/etc/kubernetes/pki/apiserver-etcd-client.crt', pki.apiserverClient.certPem, 0o644],
      ['/etc/kubernetes/pki/apiserver-etcd-client.key', pki.apiserverClient.keyPem, 0o600],
    ]);
  });

  it('renders each member with every member in its initial cluster, state new', () => {
    const spec = c.etcdHostSpecFor(c.etcdMembers[1]!);
    const defaults = spec.files.find((f) => f.path === '/etc/default/etcd')?.content ?? '';
    expect(defaults).toContain(
      'ETCD_INITIAL_CLUSTER=etcd-1=https://198.18.0.31:2380,etcd-2=https://198.18.0.32:2380,etcd-3=https://198.18.0.33:2380\n',
    );
    expect(defaults).toContain('ETCD_INITIAL_CLUSTER_STATE=new\n');
    expect(spec.packages.map((p) => p.name)).toEqual(['etcd-server', 'etcd-client']);
  });

  it('runs before init, one task per member that has changes, all at once, ports checked before installing', () => {
    const ids = PHASES.map((p) => p.id);
    expect(ids.indexOf('etcd')).toBeGreaterThan(ids.indexOf('prepare'));
    expect(ids.indexOf('etcd')).toBeLessThan(ids.indexOf('init'));
    const tasks = etcdPhase.tasks({
      cluster: c,
      observed: observation({ 'etcd-1': pending, 'etcd-2': pending, 'etcd-3': [] }),
    });
    expect(tasks.map((t) => t.host)).toEqual(['etcd-1', 'etcd-2']);
    expect(tasks[0]?.input).toMatchObject({ endpoint: 'https://198.18.0.31:2379', checkPorts: true });
    expect(etcdPhase.concurrency(c.spec)).toBeGreaterThanOrEqual(3);
    expect(etcdPhase.mode).toBe('parallel');
  });

  it('derives no etcd task once every member converged (a second plan is empty)', () => {
    expect(
      etcdPhase.tasks({ cluster: c, observed: observation({ 'etcd-1': [], 'etcd-2': [], 'etcd-3': [] }) }),
    ).toEqual([]);
  });

  const changed: StepPlan[] = [
    {
      stepId: 'files',
      title: 'files',
      changes: [
        {
          kind: 'file',
          path: '/etc/default/etcd',
          mode: 0o644,
          diff: '-x\n+y\n',
          previousSha256: 'a',
          nextSha256: 'b',
          sensitive: false,
        },
      ],
    },
  ];

  it('forms nothing once etcd runs: the etcd-members phase starts an original member that never started, through a started one', () => {
    const observed = observation(
      { 'etcd-1': [], 'etcd-2': [], 'etcd-3': pending },
      { listed: PEERS, started: PEERS.slice(0, 2) },
    );
    expect(etcdPhase.tasks({ cluster: c, observed })).toEqual([]);
    const tasks = etcdMembersPhase.tasks({ cluster: c, observed });
    expect(tasks.map((t) => [t.host, t.title])).toEqual([['etcd-3', 'add etcd member']]);
    const input = tasks[0]?.input as unknown as EtcdMemberTaskInput;
    expect(input.members).toBe(3);
    expect(input.join?.via).toEqual({ host: 'etcd-1', endpoint: 'https://198.18.0.31:2379' });
    expect(input.join?.peerUrl).toBe('https://198.18.0.33:2380');
    const joinDefaults = input.join?.joinSpec.files.find((f) => f.path === '/etc/default/etcd')?.content;
    expect(joinDefaults).toContain('ETCD_INITIAL_CLUSTER_STATE=existing\n');
  });

  it('grows a running cluster: the new member added first (state existing, the members etcd lists then), then the changed members restarted one at a time', () => {
    const observed = observation(
      { 'etcd-1': changed, 'etcd-2': changed, 'etcd-3': pending },
      { listed: PEERS.slice(0, 2), started: PEERS.slice(0, 2) },
    );
    expect(etcdMembersPhase.mode).toBe('serial');
    const tasks = etcdMembersPhase.tasks({ cluster: c, observed });
    expect(tasks.map((t) => [t.host, t.title])).toEqual([
      ['etcd-3', 'add etcd member'],
      ['etcd-1', 'restart etcd member'],
      ['etcd-2', 'restart etcd member'],
    ]);
    const join = (tasks[0]?.input as unknown as EtcdMemberTaskInput).join;
    const defaults = join?.joinSpec.files.find((f) => f.path === '/etc/default/etcd')?.content ?? '';
    expect(defaults).toContain(
      'ETCD_INITIAL_CLUSTER=etcd-1=https://198.18.0.31:2380,etcd-2=https://198.18.0.32:2380,etcd-3=https://198.18.0.33:2380\n',
    );
    // its steady spec is every other member's: the plan after the growth is empty
    const steady = (tasks[0]?.input as unknown as EtcdMemberTaskInput).hostSpec;
    expect(steady).toEqual(c.etcdHostSpecFor(c.etcdMembers[2]!));
    expect(
      etcdMembersPhase.tasks({
        cluster: c,
        observed: observation(
          { 'etcd-1': [], 'etcd-2': [], 'etcd-3': [] },
          { listed: PEERS, started: PEERS },
        ),
      }),
    ).toEqual([]);
  });

  it('stops a plan that would drop a running member, naming its peer URL', () => {
    const listed = [...PEERS, 'https://198.18.0.34:2380'];
    expect(() =>
      etcdMembersPhase.tasks({ cluster: c, observed: observation({}, { listed, started: listed }) }),
    ).toThrow(/member\(s\) at https:\/\/198.18.0.34:2380 that cluster.yaml no longer names/);
  });

  it('warns about an even number of members once selectors are resolved', () => {
    const even = resolveCluster(
      { store, etcdPki: pki },
      {
        ...raw,
        hosts: [
          { name: 'cp-1', role: 'control-plane' },
          { name: 'etcd-1', role: 'etcd' },
          { selector: { tier: 'etcd' }, role: 'etcd' },
        ],
      },
      undefined,
    );
    expect(even.warnings.map((w) => w.message)).toContainEqual(expect.stringMatching(/2 etcd members/));
  });
});

describe('an etcd phase task', () => {
  const hostSpec = { hostName: 'etcd-1' } as unknown as HostSpec;
  const input = { hostSpec, endpoint: 'https://198.18.0.31:2379', checkPorts: true };
  const status = (healthy: boolean) => ({
    clusterId: 'a1',
    ...(healthy ? { leader: 'b1' } : {}),
    members: ['b1', 'b2', 'b3'].map((id, i) => ({
      id,
      name: `etcd-${i + 1}`,
      peerUrls: [],
      clientUrls: [],
      isLeader: healthy && i === 0,
      healthy: healthy || i === 0,
    })),
    healthy,
  });

  function taskRun(answers: Record<string, Array<unknown>>) {
    const calls: Array<[string, string, unknown]> = [];
    const t = {
      cluster: {
        etcdMembers: [{}, {}, {}],
        spec: ClusterSpec.parse({
          apiVersion: 'kctl.dev/v1alpha1',
          kind: 'Cluster',
          name: 'ext',
          kubernetesVersion: 'v1.31.2',
          controlPlaneEndpoint: { host: '198.18.0.11' },
          hosts: [{ name: 'cp-1', role: 'control-plane' }],
        }),
      },
      attempt: 1,
      log: { info: () => undefined },
      progress: () => undefined,
      call: (host: string, op: string, args: unknown) => {
        calls.push([host, op, args]);
        const next = answers[op]?.shift();
        if (next instanceof Error) return Promise.reject(next);
        return Promise.resolve(next);
      },
    };
    return { t: t as unknown as TaskRun, calls };
  }

  it('checks the ports, converges the member, then polls etcd.status with its healthcheck client until healthy', async () => {
    const { t, calls } = taskRun({
      'preflight.run': [{ results: [{ id: 'Port-2379', status: 'pass', observed: '', remedy: '' }] }],
      'host.apply': [{ reports: [{ stepId: 'files', status: 'applied' }], changed: true }],
      'etcd.status': [new Error('context deadline exceeded'), status(false), status(true)],
    });
    const r = await etcdPhase.run(input as never, 'etcd-1', t);
    expect(r).toEqual({ applied: ['files'], members: 3, healthy: 3 });
    expect(calls.map((c) => c[1])).toEqual([
      'preflight.run',
      'host.apply',
      'etcd.status',
      'etcd.status',
      'etcd.status',
    ]);
    expect(calls[2]?.[2]).toEqual({
      endpoints: ['https://198.18.0.31:2379'],
      cacert: '/etc/kubernetes/pki/etcd/ca.crt',
      cert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
      key: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
    });
  }, 15_000);

  it('adds a member through a started one, starts it as existing, then moves it to its steady config', async () => {
    const { t, calls } = taskRun({
      'preflight.run': [{ results: [] }],
      'etcd.memberAdd': [{ added: true, peerUrls: [] }],
      'host.apply': [
        { reports: [{ stepId: 'packages', status: 'applied' }], changed: true },
        { reports: [{ stepId: 'files', status: 'applied' }], changed: true },
      ],
      'etcd.status': [status(true), status(true)],
    });
    const joinSpec = { hostName: 'etcd-1', files: [] } as unknown as HostSpec;
    const r = await etcdMembersPhase.run(
      {
        ...input,
        members: 3,
        join: {
          joinSpec,
          name: 'etcd-1',
          peerUrl: 'https://198.18.0.31:2380',
          via: { host: 'etcd-2', endpoint: 'https://198.18.0.32:2379' },
        },
      } as never,
      'etcd-1',
      t,
    );
    expect(r).toEqual({ applied: ['packages', 'files'], members: 3, healthy: 3 });
    expect(calls.map((c) => `${c[0]} ${c[1]}`)).toEqual([
      'etcd-1 preflight.run',
      'etcd-2 etcd.memberAdd',
      'etcd-1 host.apply',
      'etcd-1 etcd.status',
      'etcd-1 host.apply',
      'etcd-1 etcd.status',
    ]);
    expect(calls[1]?.[2]).toMatchObject({
      endpoints: ['https://198.18.0.32:2379'],
      name: 'etcd-1',
      peerUrl: 'https://198.18.0.31:2380',
    });
    expect(calls[2]?.[2]).toEqual({ spec: joinSpec });
    expect(calls[4]?.[2]).toEqual({ spec: hostSpec });
  });

  it('stops before installing etcd when its peer port is taken, naming the host and the port', async () => {
    const { t, calls } = taskRun({
      'preflight.run': [
        {
          results: [
            { id: 'Port-2379', status: 'pass', observed: '', remedy: '' },
            { id: 'Port-2380', status: 'fail', observed: 'port 2380 is in use', remedy: '' },
          ],
        },
      ],
    });
    await expect(etcdPhase.run(input as never, 'etcd-1', t)).rejects.toThrow(
      /etcd member "etcd-1": Port-2380 \(port 2380 is in use\)/,
    );
    expect(calls.map((c) => c[1])).toEqual(['preflight.run']);
  });
});
