import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { StepPlan } from '../../proto/results.js';
import type { PreflightSpec } from '../../proto/checks.js';
import type { Store } from '../store/store.js';
import { resolveCluster, type ResolvedCluster } from './resolved-cluster.js';
import { observeCluster, type HostObservation, type Observation } from './observe.js';
import type { HostClient } from '../host-client.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { PlanningContext, TaskRun } from './phase.js';
import { loadBalancerChecksPhase, loadBalancersPhase } from './phases/load-balancers.js';
import { phasesOf } from './phases/index.js';
import { createsKeepalivedConfig } from './lb-observe.js';

/**
 * Dedicated lb hosts through cluster resolution and the two load balancer phases: the lb hosts get
 * HAProxy (binding the VIP, every control plane behind it) and keepalived, the control planes none
 * of it; the VIP and VRRP checks run once, before any keepalived of the cluster is set up.
 */

const FIXTURE = join(import.meta.dirname, '../../test/fixtures/cluster/lb-hosts.yaml');
const VIP = '198.18.0.100';
const HOSTS = [
  { name: 'lb-1', ips: ['198.18.0.31'] },
  { name: 'lb-2', ips: ['198.18.0.32'] },
  { name: 'cp-1', ips: ['198.18.0.11'] },
  { name: 'cp-2', ips: ['198.18.0.12'] },
  { name: 'cp-3', ips: ['198.18.0.13'] },
  { name: 'w-1', ips: ['198.18.0.21'], labels: { pool: 'workers' } },
];

function cluster(raw: unknown = parse(readFileSync(FIXTURE, 'utf8'))): ResolvedCluster {
  const store = {
    listHosts: () =>
      HOSTS.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: h.labels ?? {},
        state: 'active',
        facts: { ips: h.ips, kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
  return resolveCluster({ store }, raw, undefined);
}

const file = (spec: { files: Array<{ path: string; content: string }> }, path: string): string =>
  spec.files.find((f) => f.path === path)?.content ?? '';

/** A plan step that writes keepalived.conf: created (no previous file) or changed. */
function keepalivedStep(created: boolean): StepPlan {
  return {
    stepId: 'file:/etc/keepalived/keepalived.conf',
    title: 'keepalived.conf',
    changes: [
      {
        kind: 'file',
        path: '/etc/keepalived/keepalived.conf',
        mode: 0o644,
        diff: '+...',
        previousSha256: created ? null : 'a'.repeat(64),
        nextSha256: 'b'.repeat(64),
        sensitive: false,
      },
    ],
  };
}

function context(
  c: ResolvedCluster,
  lbPlans: Record<string, StepPlan[]>,
  cpPlans: Record<string, StepPlan[]> = {},
  members: string[] = [],
): PlanningContext {
  const hosts = new Map<string, HostObservation>(
    [...c.hosts.values()].map((h) => [
      h.name,
      {
        state: { initialized: members.includes(h.name), joined: false, kubeletVersion: null },
        prepareVersion: c.spec.kubernetesVersion,
        prepare: cpPlans[h.name] ?? [],
      },
    ]),
  );
  const observed: Observation = {
    hosts,
    nodes: undefined,
    adminHost: undefined,
    ...(Object.keys(lbPlans).length > 0
      ? { loadBalancers: { plans: new Map(Object.entries(lbPlans)) } }
      : {}),
  };
  return { cluster: c, observed };
}

describe('a cluster with two lb hosts, resolved against its enrolled hosts', () => {
  it('lists the lb hosts with their addresses and no node among them', () => {
    const c = cluster();
    expect(c.loadBalancers.map((l) => [l.name, l.address])).toEqual([
      ['lb-1', '198.18.0.31'],
      ['lb-2', '198.18.0.32'],
    ]);
    expect([...c.hosts.keys()]).toEqual(['cp-1', 'cp-2', 'cp-3', 'w-1']);
  });

  it('gives an lb host HAProxy on the VIP with every control plane behind it, keepalived with the other lb host as peer', () => {
    const c = cluster();
    const lb2 = c.lbHostSpecFor(c.loadBalancers[1]!);
    expect(lb2.role).toBe('lb');
    const haproxy = file(lb2, '/etc/haproxy/haproxy.cfg');
    expect(haproxy).toContain(`bind ${VIP}:6443\n    bind 127.0.0.1:6443\n`);
    for (const [name, address] of [
      ['cp-1', '198.18.0.11'],
      ['cp-2', '198.18.0.12'],
      ['cp-3', '198.18.0.13'],
    ])
      expect(haproxy).toContain(`server ${name} ${address}:6443`);
    const keepalived = file(lb2, '/etc/keepalived/keepalived.conf');
    expect(keepalived).toContain('unicast_src_ip 198.18.0.32');
    expect(keepalived).toMatch(/unicast_peer \{\n {8}198\.18\.0\.31\n {4}\}/);
    expect(keepalived).toContain('priority 199');
    expect(lb2.sysctls).toEqual({ 'net.ipv4.ip_nonlocal_bind': '1' });
    expect(lb2.packages.map((p) => p.name)).toEqual(['haproxy', 'keepalived']);
    expect(lb2.services.map((s) => s.unit)).toEqual(['haproxy.service', 'keepalived.service']);
  });

  it('gives an lb host no kubelet, kubeadm, containerd, modules or swap change', () => {
    const c = cluster();
    const lb1 = c.lbHostSpecFor(c.loadBalancers[0]!);
    const names = lb1.packages.map((p) => p.name);
    for (const n of ['kubelet', 'kubeadm', 'kubectl', 'containerd']) expect(names).not.toContain(n);
    expect(lb1.services.map((s) => s.unit)).not.toContain('kubelet.service');
    expect(lb1.modules).toEqual([]);
    expect(lb1.swap).toBe('keep');
    expect(lb1.files.map((f) => f.path)).toEqual([
      '/etc/haproxy/haproxy.cfg',
      '/etc/keepalived/check-haproxy.sh',
      '/etc/keepalived/keepalived.conf',
    ]);
  });

  it('gives the control planes neither HAProxy nor keepalived', () => {
    const c = cluster();
    const cp1 = c.hostSpecFor(c.host('cp-1'));
    expect(cp1.files.map((f) => f.path)).not.toContain('/etc/haproxy/haproxy.cfg');
    expect(cp1.packages.map((p) => p.name)).not.toContain('haproxy');
    expect(cp1.services.map((s) => s.unit)).not.toContain('keepalived.service');
  });

  it('installs nothing on lb hosts with packages.source preinstalled, and still runs the services', () => {
    const raw = parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
    const c = cluster({ ...raw, packages: { source: 'preinstalled' } });
    const lb1 = c.lbHostSpecFor(c.loadBalancers[0]!);
    expect(lb1.packages).toEqual([]);
    expect(lb1.services.map((s) => s.unit)).toEqual(['haproxy.service', 'keepalived.service']);
  });
});

describe('the load balancer phases', () => {
  it('run after preflight and before prepare and init', () => {
    const ids = phasesOf('apply').map((p) => p.id);
    expect(ids.indexOf('preflight')).toBeLessThan(ids.indexOf('load-balancer-checks'));
    expect(ids.indexOf('load-balancer-checks')).toBeLessThan(ids.indexOf('load-balancers'));
    expect(ids.indexOf('load-balancers')).toBeLessThan(ids.indexOf('prepare'));
    expect(ids.indexOf('load-balancers')).toBeLessThan(ids.indexOf('init'));
  });

  it('on a first apply: checks every lb host (VIP must be free), then converges each', () => {
    const c = cluster();
    const ctx = context(c, { 'lb-1': [keepalivedStep(true)], 'lb-2': [keepalivedStep(true)] });
    const checks = loadBalancerChecksPhase.tasks(ctx);
    expect(checks.map((t) => t.host)).toEqual(['lb-1', 'lb-2']);
    expect(checks[0]?.input).toEqual({
      checks: {
        vip: VIP,
        interface: 'eth0',
        address: '198.18.0.31',
        peers: ['198.18.0.32'],
        port: 6443,
        vipMustBeFree: true,
        bindsVip: true,
      },
    });
    const converge = loadBalancersPhase.tasks(ctx);
    expect(converge.map((t) => t.host)).toEqual(['lb-1', 'lb-2']);
    expect(converge[1]?.input).toMatchObject({ hostSpec: { hostName: 'lb-2', role: 'lb' } });
  });

  it('once one lb host has keepalived: the VIP may answer, so only the new one is checked, for VRRP', () => {
    const c = cluster();
    const ctx = context(c, { 'lb-1': [keepalivedStep(false)], 'lb-2': [keepalivedStep(true)] });
    const checks = loadBalancerChecksPhase.tasks(ctx);
    expect(
      checks.map((t) => [t.host, (t.input as { checks: { vipMustBeFree: boolean } }).checks.vipMustBeFree]),
    ).toEqual([['lb-2', false]]);
  });

  it('derives nothing for converged lb hosts (the second plan is empty)', () => {
    const c = cluster();
    const ctx = context(c, { 'lb-1': [], 'lb-2': [] });
    expect(loadBalancerChecksPhase.tasks(ctx)).toEqual([]);
    expect(loadBalancersPhase.tasks(ctx)).toEqual([]);
  });

  it('without lb hosts: checks the control planes about to get keepalived in prepare, converges none', () => {
    const raw = parse(readFileSync(FIXTURE, 'utf8')) as { hosts: Array<{ role: string }> } & Record<
      string,
      unknown
    >;
    const c = cluster({
      ...raw,
      controlPlaneEndpoint: { host: VIP, port: 8443 },
      hosts: raw.hosts.filter((h) => h.role !== 'lb'),
    });
    expect(c.loadBalancers).toEqual([]);
    const ctx = context(
      c,
      {},
      { 'cp-1': [keepalivedStep(true)], 'cp-2': [keepalivedStep(true)], 'cp-3': [keepalivedStep(true)] },
    );
    const checks = loadBalancerChecksPhase.tasks(ctx);
    expect(checks.map((t) => t.host)).toEqual(['cp-1', 'cp-2', 'cp-3']);
    expect(checks[1]?.input).toMatchObject({
      checks: {
        address: '198.18.0.12',
        peers: ['198.18.0.11', '198.18.0.13'],
        port: 8443,
        bindsVip: false,
        vipMustBeFree: true,
      },
    });
    expect(loadBalancersPhase.tasks(ctx)).toEqual([]);
  });

  it('derives nothing for other HA modes', () => {
    const raw = parse(readFileSync(FIXTURE, 'utf8')) as { hosts: Array<{ role: string }> } & Record<
      string,
      unknown
    >;
    const c = cluster({
      ...raw,
      ha: { mode: 'kube-vip', interface: 'eth0' },
      hosts: raw.hosts.filter((h) => h.role !== 'lb'),
    });
    const ctx = context(c, {}, { 'cp-1': [keepalivedStep(true)] });
    expect(loadBalancerChecksPhase.tasks(ctx)).toEqual([]);
  });

  it('stops a check task on a failed check, naming the host, the check and its remedy', async () => {
    const c = cluster();
    const sent: PreflightSpec[] = [];
    const t = {
      cluster: c,
      call: (_host: string, op: string, args: { spec: PreflightSpec }) => {
        expect(op).toBe('preflight.run');
        sent.push(args.spec);
        return Promise.resolve({
          results: [
            {
              id: 'VIP-Free',
              title: 'the VIP is free',
              severity: 'error',
              status: 'fail',
              observed: 'a TCP connection to 198.18.0.100:6443 was answered',
              expected: '',
              remedy: 'choose a free address for ha.vip',
            },
          ],
        });
      },
    } as unknown as TaskRun;
    const ctx = context(c, { 'lb-1': [keepalivedStep(true)], 'lb-2': [keepalivedStep(true)] });
    const [task] = loadBalancerChecksPhase.tasks(ctx);
    await expect(loadBalancerChecksPhase.run(task!.input, 'lb-1', t)).rejects.toMatchObject({
      code: 'check_failed',
      message: expect.stringContaining('load balancer host "lb-1": VIP-Free (a TCP connection'),
      details: { failed: ['VIP-Free'], remedy: 'VIP-Free: choose a free address for ha.vip' },
    });
    expect(sent[0]).toMatchObject({ only: 'load-balancer', loadBalancer: { vip: VIP } });
  });
});

describe('observing a cluster with lb hosts', () => {
  it('asks each lb host for the plan of its lb spec, and no lb host for kubeadm state', async () => {
    const c = cluster();
    const asked: Array<[string, string, string | undefined]> = [];
    const client = {
      call: (host: { name: string }, op: string, args: { spec?: HostSpec }) => {
        asked.push([host.name, op, args.spec?.role]);
        if (op === 'kubeadm.state')
          return Promise.resolve({ initialized: false, joined: false, kubeletVersion: null });
        if (op === 'host.plan')
          return Promise.resolve({ steps: args.spec?.role === 'lb' ? [keepalivedStep(true)] : [] });
        return Promise.reject(new Error(`unexpected ${op}`));
      },
    } as unknown as HostClient;
    const o = await observeCluster(client, c, { prepare: true });
    expect([...(o.loadBalancers?.plans.keys() ?? [])]).toEqual(['lb-1', 'lb-2']);
    expect(asked.filter(([h]) => h.startsWith('lb-'))).toEqual([
      ['lb-1', 'host.plan', 'lb'],
      ['lb-2', 'host.plan', 'lb'],
    ]);
    expect(loadBalancersPhase.tasks({ cluster: c, observed: o }).map((t) => t.host)).toEqual([
      'lb-1',
      'lb-2',
    ]);
  });
});

describe('createsKeepalivedConfig', () => {
  it.each([
    ['a plan creating keepalived.conf', [keepalivedStep(true)], true],
    ['a plan changing an existing keepalived.conf', [keepalivedStep(false)], false],
    ['an empty plan', [], false],
    ['no plan', undefined, false],
  ])('is %s -> %s', (_name, steps, want) => {
    expect(createsKeepalivedConfig(steps)).toBe(want);
  });
});
