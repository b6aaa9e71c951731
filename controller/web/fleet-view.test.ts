import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../store/store.js';
import type { ApplyRecord, StepRecord } from '../orchestrator/apply-store.js';
import type { HostFacts } from '../../proto/facts.js';
import type { FleetHostRow, PreflightSummary } from './fleet-api.js';
import {
  buildFleetSnapshot,
  diffRows,
  kubernetesVersionOfPlan,
  lastApplyByHost,
  rolesOf,
  summarizePreflight,
} from './fleet-view.js';

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  hostname: 'h',
  machineId: 'm',
  productUuid: 'u',
  macs: [],
  ips: ['10.0.0.9'],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  kernel: '6.1.0-27-amd64',
  arch: 'x86_64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
  ...over,
});

const host = (name: string, over: Partial<HostRecord> = {}): HostRecord => ({
  id: `id-${name}`,
  name,
  labels: { role: 'worker' },
  state: 'active',
  certSerial: '1',
  certNotAfter: 0,
  enrolledAt: 0,
  revokedAt: null,
  lastSeenAt: 100,
  lastIp: '192.0.2.1',
  agentVersion: '0.1.0',
  facts: facts({ hostname: name, machineId: `m-${name}`, productUuid: `u-${name}` }),
  ...over,
});

const input = (
  over: Partial<Parameters<typeof buildFleetSnapshot>[0]> = {},
): Parameters<typeof buildFleetSnapshot>[0] => ({
  hosts: [],
  isOnline: () => false,
  preflight: new Map(),
  apply: null,
  kubernetesVersion: null,
  now: 1000,
  heartbeatIntervalMs: 500,
  ...over,
});

describe('fleet snapshot', () => {
  it.each([
    ['an active host with a connection is online', host('a'), true, 'online'],
    ['an active host without one is offline', host('a'), false, 'offline'],
    ['a revoked host is revoked even while connected', host('a', { state: 'revoked' }), true, 'revoked'],
  ])('%s', (_what, h, online, status) => {
    const snap = buildFleetSnapshot(input({ hosts: [h], isOnline: () => online }));
    expect(snap.hosts[0]?.status).toBe(status);
    expect(snap.summary.byStatus[status as 'online']).toBe(1);
  });

  it('takes the columns from the record and its facts', () => {
    const snap = buildFleetSnapshot(
      input({
        hosts: [
          host('cp-1', { labels: { role: 'control-plane' }, facts: facts({ kubeletVersion: 'v1.33.1' }) }),
        ],
      }),
    );
    expect(snap.hosts[0]).toMatchObject({
      name: 'cp-1',
      roles: ['control-plane'],
      ip: '192.0.2.1',
      os: 'Debian GNU/Linux 12 (bookworm)',
      kernel: '6.1.0-27-amd64',
      agentVersion: '0.1.0',
      kubeVersion: 'v1.33.1',
      preflight: null,
      apply: null,
    });
  });

  it('falls back to the first reported IP and shows nulls for a host that never said hello', () => {
    const snap = buildFleetSnapshot(
      input({
        hosts: [host('a', { lastIp: null }), host('b', { lastIp: null, facts: null, agentVersion: null })],
      }),
    );
    expect(snap.hosts.map((h) => h.ip)).toEqual(['10.0.0.9', null]);
    expect(snap.hosts[1]).toMatchObject({ os: null, kernel: null, kubeVersion: null, agentVersion: null });
  });

  it('counts preflight outcomes of hosts that are not revoked', () => {
    const pf = (over: Partial<PreflightSummary>): PreflightSummary => ({
      pass: 3,
      warn: 0,
      fail: 0,
      skip: 0,
      at: 1,
      error: null,
      ...over,
    });
    const snap = buildFleetSnapshot(
      input({
        hosts: [host('a'), host('b'), host('c'), host('d'), host('e'), host('f', { state: 'revoked' })],
        preflight: new Map([
          ['id-a', pf({ fail: 1 })],
          ['id-b', pf({ warn: 2 })],
          ['id-c', pf({})],
          ['id-d', pf({ error: 'host offline' })],
        ]),
      }),
    );
    expect(snap.summary.preflight).toEqual({ failing: 2, warning: 1, notRun: 1 });
  });

  it('reports duplicate identities among active hosts and kubelet skew against the target', () => {
    const snap = buildFleetSnapshot(
      input({
        hosts: [
          host('a', { facts: facts({ machineId: 'same', productUuid: 'u1', kubeletVersion: 'v1.33.0' }) }),
          host('b', { facts: facts({ machineId: 'same', productUuid: 'u2', kubeletVersion: 'v1.35.0' }) }),
          host('c', { state: 'revoked', facts: facts({ machineId: 'same', productUuid: 'u3' }) }),
        ],
        kubernetesVersion: 'v1.33.0',
      }),
    );
    const ids = snap.summary.warnings.map((w) => `${w.id}:${w.hosts.join(',')}`);
    expect(ids).toContain('DuplicateMachineID:a,b');
    expect(ids).toContain('KubeletVersionSkew:b');
  });

  it('shows each host at its latest step of an unfinished apply, and the apply at its first open phase', () => {
    const plan = {
      phases: [
        {
          id: 'preflight',
          title: 'Preflight',
          tasks: [{ id: 'preflight/a', title: 'Preflight a', host: 'a' }],
        },
        {
          id: 'converge',
          title: 'Converge',
          tasks: [
            { id: 'converge/a', title: 'Converge a', host: 'a' },
            { id: 'converge/b', title: 'Converge b', host: 'b' },
          ],
        },
      ],
    };
    const record: ApplyRecord = {
      id: 'ap',
      cluster: 'lab',
      planHash: 'h',
      plan,
      status: 'running',
      startedAt: 10,
      finishedAt: null,
      error: null,
    };
    const step = (taskId: string, status: StepRecord['status'], startedAt: number): StepRecord => ({
      applyId: 'ap',
      taskId,
      phase: taskId.split('/')[0]!,
      host: taskId.split('/')[1]!,
      status,
      attempt: 1,
      startedAt,
      finishedAt: null,
      output: null,
      error: status === 'failed' ? { code: 'internal', message: 'dpkg broke', retryable: false } : null,
    });
    const steps = [
      step('preflight/a', 'done', 1),
      step('converge/a', 'running', 2),
      step('converge/b', 'failed', 3),
    ];
    const snap = buildFleetSnapshot(
      input({ hosts: [host('a'), host('b'), host('c')], apply: { record, steps } }),
    );
    expect(snap.hosts.map((h) => h.apply)).toEqual([
      { phase: 'converge', step: 'Converge a', state: 'running', applyId: 'ap', at: 2 },
      { phase: 'converge', step: 'Converge b', state: 'failed', applyId: 'ap', at: 3 },
      null,
    ]);
    expect(snap.summary.apply).toMatchObject({
      cluster: 'lab',
      phase: { id: 'converge', title: 'Converge' },
      phasesDone: 1,
      phasesTotal: 2,
      tasksDone: 1,
      tasksTotal: 3,
      failures: [{ host: 'b', step: 'Converge b', message: 'dpkg broke' }],
    });
    // after a successful apply every host shows its last task done (issue 13: the column was "-")
    const doneSteps = [
      step('preflight/a', 'done', 1),
      step('converge/a', 'done', 2),
      step('converge/b', 'done', 3),
    ];
    const done = buildFleetSnapshot(
      input({
        hosts: [host('a'), host('b'), host('c')],
        apply: { record: { ...record, status: 'succeeded' }, steps: doneSteps },
      }),
    );
    expect(done.hosts.map((h) => h.apply?.state ?? null)).toEqual(['done', 'done', null]);
    expect(done.hosts[0]?.apply).toMatchObject({ phase: 'converge', step: 'Converge a' });
  });

  it("keeps a host's last apply from an older apply when the newest left it alone", () => {
    const applyOf = (id: string, startedAt: number, hosts: string[]) => ({
      record: {
        id,
        cluster: 'lab',
        planHash: id,
        plan: {
          phases: [
            {
              id: 'converge',
              title: 'Converge',
              tasks: hosts.map((h) => ({ id: `converge/${h}`, title: `Converge ${h}`, host: h })),
            },
          ],
        },
        status: 'succeeded' as const,
        startedAt,
        finishedAt: startedAt + 5,
        error: null,
      },
      steps: hosts.map((h): StepRecord => ({
        applyId: id,
        taskId: `converge/${h}`,
        phase: 'converge',
        host: h,
        status: 'done',
        attempt: 1,
        startedAt: startedAt + 1,
        finishedAt: startedAt + 2,
        output: null,
        error: null,
      })),
    });
    // newest first, as listApplies gives them
    const byHost = lastApplyByHost([applyOf('add-c', 100, ['c']), applyOf('first', 10, ['a', 'b'])]);
    expect(byHost.get('a')).toMatchObject({ applyId: 'first', state: 'done', at: 12 });
    expect(byHost.get('c')).toMatchObject({ applyId: 'add-c', state: 'done', at: 102 });
  });

  it('counts hosts by health: a stopped unit in the facts is critical, a warning run is a warning', () => {
    const snap = buildFleetSnapshot(
      input({
        hosts: [
          host('a', { facts: facts({ services: { 'containerd.service': 'failed' } }) }),
          host('b'),
          host('c', { facts: facts({ services: { 'kubelet.service': 'active' } }) }),
          host('d'),
        ],
        health: new Map([
          [
            'id-d',
            {
              worst: 'warning',
              warnings: 1,
              criticals: 0,
              findings: ['Drift-sysctl'],
              at: 1,
              error: null,
              drift: [],
              certs: [],
            },
          ],
        ]),
      }),
    );
    expect(snap.summary.health).toEqual({ ok: 1, warning: 1, critical: 1, notRun: 1 });
    expect(snap.hosts[3]?.health?.findings).toEqual(['Drift-sysctl']);
  });

  it('takes the kube version from the kubelet package when the kubelet did not answer', () => {
    const snap = buildFleetSnapshot(
      input({ hosts: [host('a', { facts: facts({ kubePackages: { kubelet: '1.31.2-1.1' } }) })] }),
    );
    expect(snap.hosts[0]?.kubeVersion).toBe('v1.31.2');
  });
});

describe('fleet view helpers', () => {
  it.each([
    [{ role: 'control-plane' }, ['control-plane']],
    [{ role: 'control-plane, etcd' }, ['control-plane', 'etcd']],
    [{ zone: 'a' }, []],
    [{ role: '' }, []],
  ])('reads roles %j as %j', (labels, roles) => {
    expect(rolesOf(labels)).toEqual(roles);
  });

  it.each([
    [{ phases: [{ tasks: [{ input: { spec: { kubernetesVersion: 'v1.33.2' } } }] }] }, 'v1.33.2'],
    [{ phases: [] }, null],
    [null, null],
  ])('finds the Kubernetes version in plan %j', (plan, version) => {
    expect(kubernetesVersionOfPlan(plan)).toBe(version);
  });

  it('counts check results by status and keeps the error message', () => {
    const r = (status: 'pass' | 'warn' | 'fail' | 'skip') => ({
      id: status,
      title: '',
      severity: 'error' as const,
      status,
      observed: '',
      expected: '',
      remedy: '',
    });
    expect(
      summarizePreflight({
        hostId: 'x',
        at: 5,
        spec: {
          role: 'worker',
          kubernetesVersion: 'v1.33.0',
          isFirstControlPlane: false,
          kubeProxyMode: 'iptables',
        },
        results: [r('pass'), r('pass'), r('warn'), r('fail'), r('skip')],
        error: null,
        durationMs: 1,
      }),
    ).toEqual({ pass: 2, warn: 1, fail: 1, skip: 1, at: 5, error: null });
  });

  it('sends only changed rows and names the removed ones', () => {
    const row = (id: string, lastSeenAt: number): FleetHostRow => ({
      id,
      name: id,
      roles: [],
      status: 'online',
      lastSeenAt,
      ip: null,
      os: null,
      kernel: null,
      agentVersion: null,
      kubeVersion: null,
      kubePackages: null,
      services: null,
      health: null,
      preflight: null,
      apply: null,
    });
    const known = new Map<string, string>();
    expect(diffRows(known, [row('a', 1), row('b', 1)]).upserts.map((r) => r.id)).toEqual(['a', 'b']);
    expect(diffRows(known, [row('a', 1), row('b', 2)])).toEqual({ upserts: [row('b', 2)], removed: [] });
    expect(diffRows(known, [row('b', 2)])).toEqual({ upserts: [], removed: ['a'] });
    expect(diffRows(known, [row('b', 2)])).toEqual({ upserts: [], removed: [] });
  });
});
