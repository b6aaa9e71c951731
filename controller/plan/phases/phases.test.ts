import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PHASE_IDS } from '../../../proto/phases.js';
import type { NodeStatus } from '../../../proto/kubeadm-ops.js';
import type { KctlError } from '../../../proto/errors.js';
import type { Store } from '../../store/store.js';
import { parseClusterSpec } from '../../spec/parse.js';
import { resolveCluster, type ResolvedCluster } from '../resolved-cluster.js';
import type { HostObservation, KubeadmState, Observation } from '../observe.js';
import type { PlanningContext } from '../phase.js';
import { PHASES, phaseHelp, phaseRecord, phasesOf } from './index.js';
import type { UpgradeInput } from './upgrade.js';

const HOSTS = ['cp-1', 'cp-2', 'cp-3', 'w-1', 'w-2'];

function cluster(version: string, source = 'bundle'): ResolvedCluster {
  const text = readFileSync('test/fixtures/cluster/full.yaml', 'utf8')
    .replace('kubernetesVersion: v1.31.2', `kubernetesVersion: ${version}`)
    .replace(/packages:\n {2}source: mirror\n {2}url: \S+\n/, `packages:\n  source: ${source}\n`);
  const parsed = parseClusterSpec(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const store = {
    listHosts: () =>
      HOSTS.map((name, i) => ({
        id: `id-${name}`,
        name,
        labels: name.startsWith('w-') ? { role: 'worker' } : {},
        state: 'active',
        facts: { ips: [`198.18.0.${11 + i}`], kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster({ store, controllerUrl: 'https://198.18.0.1:7443' }, parsed.spec, 'kind: List\n');
}

interface HostState {
  member?: boolean;
  kubelet?: string | undefined;
  controlPlane?: string | undefined;
  node?: string | undefined;
  unschedulable?: boolean;
}

function context(c: ResolvedCluster, hosts: Record<string, HostState>, prepareChanges = 0): PlanningContext {
  const observed = new Map<string, HostObservation>();
  const nodes: NodeStatus[] = [];
  for (const name of HOSTS) {
    const h = hosts[name] ?? {};
    const state: KubeadmState = {
      initialized: (h.member ?? false) && name === 'cp-1',
      joined: (h.member ?? false) && name !== 'cp-1',
      kubeletVersion: h.kubelet ?? null,
      controlPlaneVersion: h.controlPlane ?? null,
    };
    observed.set(name, {
      state,
      prepareVersion: h.kubelet ?? c.spec.kubernetesVersion,
      prepare: [
        {
          stepId: 'sysctl',
          title: 'sysctl',
          changes: Array.from({ length: prepareChanges }, () => ({
            kind: 'sysctl' as const,
            key: 'net.ipv4.ip_forward',
            from: '0',
            to: '1',
          })),
        },
      ],
    });
    if (h.node)
      nodes.push({
        name,
        ready: true,
        kubeletVersion: h.node,
        controlPlane: name.startsWith('cp-'),
        unschedulable: h.unschedulable ?? false,
      });
  }
  const o: Observation = {
    hosts: observed,
    nodes: nodes.length > 0 ? nodes : undefined,
    adminHost: hosts['cp-1']?.member ? 'cp-1' : undefined,
  };
  return { cluster: c, observed: o };
}

/** Every host a member running `v`: kubelet package, control plane manifests and Node all at v. */
const running = (v: string, overrides: Record<string, HostState> = {}): Record<string, HostState> =>
  Object.fromEntries(
    HOSTS.map((n) => [
      n,
      {
        member: true,
        kubelet: v,
        node: v,
        ...(n.startsWith('cp-') ? { controlPlane: v } : {}),
        ...overrides[n],
      },
    ]),
  );

const taskIds = (ctx: PlanningContext): string[] =>
  phasesOf('apply').flatMap((p) => p.tasks(ctx).map((t) => `${p.id}/${t.host}`));

describe('phase records', () => {
  it('has one record per phase id, in the order of proto/phases.ts', () => {
    expect(PHASES.map((p) => p.id)).toEqual([...PHASE_IDS]);
    for (const id of PHASE_IDS) expect(phaseRecord(id).id).toBe(id);
  });

  it('writes the help text from the records', () => {
    const help = phaseHelp('apply');
    for (const p of phasesOf('apply')) expect(help).toContain(`${p.id}  `);
    expect(help).not.toContain('remove-node');
  });

  it('plans the whole day 1 for fresh hosts', () => {
    const ctx = context(cluster('v1.31.2'), {}, 2);
    expect(taskIds(ctx)).toEqual([
      ...HOSTS.map((h) => `preflight/${h}`),
      ...HOSTS.map((h) => `prepare/${h}`),
      'init/cp-1',
      'join-material/cp-1',
      'control-planes/cp-2',
      'control-planes/cp-3',
      'workers/w-1',
      'workers/w-2',
      'cni/cp-1',
      'verify/cp-1',
    ]);
  });

  it('plans nothing for a converged cluster at the spec version', () => {
    expect(taskIds(context(cluster('v1.31.2'), running('v1.31.2')))).toEqual([]);
  });

  it('plans only the join of a host that is new', () => {
    const hosts = running('v1.31.2', { 'w-2': { member: false, node: undefined, kubelet: undefined } });
    const ids = taskIds(context(cluster('v1.31.2'), hosts));
    expect(ids).toEqual(['preflight/w-2', 'join-material/cp-1', 'workers/w-2', 'cni/cp-1', 'verify/cp-1']);
    expect(phaseRecord('join-material').tasks(context(cluster('v1.31.2'), hosts))[0]?.input).toEqual({
      joiners: ['w-2'],
    });
  });
});

describe('upgrades derived from cluster.yaml and what the hosts run', () => {
  it('upgrades every node in kubeadm order when the spec names the next patch', () => {
    const ctx = context(cluster('v1.31.3'), running('v1.31.2'));
    expect(taskIds(ctx)).toEqual([
      'upgrade-first/cp-1',
      'upgrade-control-planes/cp-2',
      'upgrade-control-planes/cp-3',
      'upgrade-workers/w-1',
      'upgrade-workers/w-2',
    ]);
    const [first] = phaseRecord('upgrade-first').tasks(ctx);
    expect(first?.detail).toContain('v1.31.2 -> v1.31.3');
    expect(first?.detail).toContain('kubeadm upgrade plan v1.31.3');
    expect(first?.detail).toContain('kubeadm upgrade apply v1.31.3');
    const input = (first?.input ?? {}) as UpgradeInput;
    const versions = (stage: UpgradeInput['kubeadmStage']) =>
      Object.fromEntries((stage?.packages ?? []).map((p) => [p.name, p.version]));
    // kubeadm first, the kubelet and kubectl only after kubeadm's upgrade
    expect(versions(input.kubeadmStage)).toMatchObject({
      kubeadm: '1.31.3-1.1',
      kubelet: '1.31.2-1.1',
      kubectl: '1.31.2-1.1',
    });
    expect(versions(input.finalStage)).toMatchObject({
      kubeadm: '1.31.3-1.1',
      kubelet: '1.31.3-1.1',
      kubectl: '1.31.3-1.1',
    });
    expect(input.finalStage?.packages.every((p) => p.name.startsWith('kube') === p.hold)).toBe(true);
  });

  it('moves the package source to the next minor repository and says so', () => {
    const ctx = context(cluster('v1.32.0', 'upstream'), running('v1.31.2'));
    const [first] = phaseRecord('upgrade-first').tasks(ctx);
    expect(first?.detail).toContain('package source moves to the v1.32 repository');
    const input = (first?.input ?? {}) as UpgradeInput;
    const repo = (s: UpgradeInput['kubeadmStage']) =>
      s?.files.find((f) => f.path === '/etc/apt/sources.list.d/kubernetes.list')?.content ?? '';
    expect(repo(input.kubeadmStage)).toContain('/v1.32/deb/');
    expect(repo(input.finalStage)).toContain('/v1.32/deb/');
  });

  it('keeps prepare away from a running node whose packages are older than the spec', () => {
    const c = cluster('v1.31.3');
    const spec = c.hostSpecFor(c.host('w-1'), 'v1.31.2');
    expect(spec.packages.find((p) => p.name === 'kubelet')?.version).toBe('1.31.2-1.1');
  });

  it('finishes what an earlier upgrade left: a node whose package moved but whose kubelet did not restart', () => {
    const hosts = running('v1.31.3', { 'w-1': { kubelet: 'v1.31.3', node: 'v1.31.2' } });
    expect(taskIds(context(cluster('v1.31.3'), hosts))).toEqual(['upgrade-workers/w-1']);
  });

  it.each([
    [
      'a downgrade',
      'v1.31.1',
      running('v1.31.2'),
      /v1\.31\.1 is older than .* of cp-1 \(v1\.31\.2\); kubeadm does not downgrade/,
    ],
    [
      'a skipped minor',
      'v1.33.0',
      running('v1.31.2'),
      /v1\.33\.0 skips a minor: .* upgrade to v1\.32\.x first/,
    ],
    [
      'going back behind a control plane already upgraded',
      'v1.31.2',
      running('v1.31.2', { 'cp-1': { controlPlane: 'v1.31.3' } }),
      /older than the control plane of cp-1 \(v1\.31\.3\)/,
    ],
  ])('refuses %s at plan time, naming kubernetesVersion', (_what, version, hosts, message) => {
    const ctx = context(cluster(version), hosts);
    let error: KctlError | undefined;
    try {
      taskIds(ctx);
    } catch (err) {
      error = err as KctlError;
    }
    expect(error?.code).toBe('invalid_spec');
    expect(error?.message).toMatch(/^kubernetesVersion: /);
    expect(error?.message).toMatch(message);
    expect(error?.details).toMatchObject({ issues: [{ path: 'kubernetesVersion' }] });
  });

  it('upgrades workers rollout.maxUnavailable at a time, control planes one at a time', () => {
    const c = cluster('v1.31.3');
    expect(
      phaseRecord('upgrade-workers').concurrency({
        ...c.spec,
        rollout: { concurrency: 10, maxUnavailable: 3 },
      }),
    ).toBe(3);
    expect(phaseRecord('upgrade-control-planes').mode).toBe('serial');
  });
});

describe('lifecycle plans', () => {
  it('removes a registered member: drain from another control plane, reset, delete', () => {
    const ctx = { ...context(cluster('v1.31.2'), running('v1.31.2')), target: { node: 'w-2' } };
    const [task] = phaseRecord('remove-node').tasks(ctx);
    expect(task).toMatchObject({ host: 'w-2', input: { admin: 'cp-1', registered: true, member: true } });
    expect(task?.detail).toBe(
      'drain (kubectl on cp-1), kubeadm reset -f, clean /etc/cni/net.d, iptables, ipvs, delete the Node',
    );
  });

  it('has nothing to remove for a host that is neither a member nor a Node', () => {
    const ctx = {
      ...context(cluster('v1.31.2'), running('v1.31.2', { 'w-2': { member: false, node: undefined } })),
      target: { node: 'w-2' },
    };
    expect(phaseRecord('remove-node').tasks(ctx)).toEqual([]);
  });

  it('resets workers first and the first control plane last', () => {
    const tasks = phaseRecord('reset').tasks(context(cluster('v1.31.2'), running('v1.31.2')));
    expect(tasks.map((t) => t.host)).toEqual(['w-1', 'w-2', 'cp-2', 'cp-3', 'cp-1']);
  });

  it('renews certificates on member control planes only, the first one last, showing the soonest expiry', () => {
    const ctx = context(cluster('v1.31.2'), running('v1.31.2', { 'cp-3': { member: false } }));
    const cp2 = ctx.observed.hosts.get('cp-2');
    if (cp2)
      cp2.certificates = [
        {
          name: 'ca',
          path: '/etc/kubernetes/pki/ca.crt',
          kind: 'ca',
          subject: 'CN=kubernetes',
          notAfter: '2027-01-01T00:00:00.000Z',
        },
        {
          name: 'apiserver',
          path: '/etc/kubernetes/pki/apiserver.crt',
          kind: 'leaf',
          subject: 'CN=kube-apiserver',
          notAfter: '2026-12-10T00:00:00.000Z',
        },
        {
          name: 'admin.conf',
          path: '/etc/kubernetes/admin.conf',
          kind: 'kubeconfig',
          subject: 'CN=kubernetes-admin',
          notAfter: '2026-12-20T00:00:00.000Z',
        },
      ];
    const tasks = phaseRecord('renew-certs').tasks({ ...ctx, renew: { restartWaitMs: 5000 } });
    expect(tasks.map((t) => t.host)).toEqual(['cp-2', 'cp-1']);
    expect(tasks[0]?.input).toEqual({ restartWaitMs: 5000 });
    expect(tasks[0]?.detail).toBe(
      'kubeadm certs renew all (soonest now: apiserver, 2026-12-10T00:00:00.000Z); restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler (5 s each)',
    );
    expect(phasesOf('apply').map((p) => p.id)).not.toContain('renew-certs');
  });
});
