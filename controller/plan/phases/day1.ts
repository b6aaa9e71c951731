import { randomBytes } from 'node:crypto';
import { KctlError } from '../../../proto/errors.js';
import type { PreflightSpec } from '../../../proto/checks.js';
import type { HostSpec } from '../../../proto/host-spec.js';
import { INIT_TOKEN_TTL } from '../../render/kubeadm.js';
import { generateToken } from '../../tokens.js';
import { phase, type PlanningContext, type TaskRun } from '../phase.js';
import { isMember } from '../observe.js';
import { preflightSpecFor } from '../resolved-cluster.js';

/** `1h0m0s` -> ms (kubeadm's duration form for the init token's TTL). */
function durationMs(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m) return 0;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

const member = (c: PlanningContext, host: string): boolean => isMember(c.observed.hosts.get(host)?.state);
const newHosts = (c: PlanningContext) => [...c.cluster.hosts.values()].filter((h) => !member(c, h.name));

/** Every host of the spec is a node and Ready, as the API server sees it. */
function allNodesReady(c: PlanningContext): boolean {
  const nodes = c.observed.nodes;
  if (!nodes) return false;
  return [...c.cluster.hosts.keys()].every((n) => nodes.some((x) => x.name === n && x.ready));
}

function adminHostName(t: TaskRun): string {
  const first = t.cluster.first;
  if (!first) throw new KctlError('invalid_spec', 'The cluster has no first control plane');
  return first.name;
}

export const preflightPhase = phase<{ spec: PreflightSpec }>({
  id: 'preflight',
  operation: 'apply',
  title: 'Preflight checks',
  summary: "kubeadm's checks on every host that is not a node yet",
  mode: 'parallel',
  concurrency: (spec) => spec.rollout.concurrency,
  tasks: (c) =>
    newHosts(c).map((h) => ({
      host: h.name,
      title: 'preflight checks',
      input: { spec: preflightSpecFor(c.cluster.spec, h) },
      detail: 'checks will run',
    })),
  async run(input, host, t) {
    // a node's own ports and files fail install checks: a host that joined since the plan skips them
    if (isMember(await t.call(host, 'kubeadm.state', {}))) return { skipped: 'already part of the cluster' };
    const r = await t.call(host, 'preflight.run', { spec: input.spec });
    const failed = r.results.filter((c) => c.status === 'fail');
    if (failed.length > 0) {
      throw new KctlError(
        'check_failed',
        `preflight failed: ${failed.map((c) => `${c.id} (${c.observed}; ${c.remedy})`).join('; ')}`,
        { details: { failed: failed.map((c) => c.id) } },
      );
    }
    return {
      checks: r.results.length,
      warnings: r.results.filter((c) => c.status === 'warn').map((c) => c.id),
    };
  },
});

export const preparePhase = phase<{ hostSpec: HostSpec }>({
  id: 'prepare',
  operation: 'apply',
  title: 'Prepare hosts',
  summary: 'swap, modules, sysctls, /etc/hosts, files, package sources, pinned and held packages, services',
  mode: 'parallel',
  concurrency: (spec) => spec.rollout.concurrency,
  tasks: (c) =>
    [...c.cluster.hosts.values()].flatMap((h) => {
      const o = c.observed.hosts.get(h.name);
      const changes = (o?.prepare ?? []).flatMap((s) => s.changes);
      if (!o || changes.length === 0) return [];
      return [
        {
          host: h.name,
          title: 'converge host',
          input: { hostSpec: c.cluster.hostSpecFor(h, o.prepareVersion, { member: isMember(o.state) }) },
          detail: `${changes.length} change(s)`,
          changes,
        },
      ];
    }),
  async run(input, host, t) {
    const r = await t.call(host, 'host.apply', { spec: input.hostSpec });
    const failed = r.reports.filter((s) => s.status === 'failed');
    if (failed.length > 0) {
      const first = failed[0]?.error;
      throw new KctlError(
        'step_failed',
        failed.map((s) => `${s.title}: ${s.error?.message ?? 'failed'}`).join('; '),
        {
          retryable: failed.every((s) => s.error?.retryable === true),
          ...(first?.details ? { details: first.details } : {}),
        },
      );
    }
    return {
      changed: r.changed,
      applied: r.reports.filter((s) => s.status === 'applied').map((s) => s.stepId),
    };
  },
});

export const initPhase = phase<Record<string, never>>({
  id: 'init',
  operation: 'apply',
  title: 'Initialise the first control plane',
  summary:
    'kube-vip manifest, kubeadm init --upload-certs on the first control plane, then kube-vip moved to admin.conf',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const first = c.cluster.first;
    if (!first || member(c, first.name)) return [];
    return [{ host: first.name, title: 'kubeadm init', input: {}, detail: 'kubeadm init --upload-certs' }];
  },
  async run(_input, host, t) {
    const h = t.cluster.host(host);
    const vip = t.cluster.renderers.kubeVip(h);
    // the cluster is up: kube-vip moves from super-admin.conf to admin.conf, as on every other
    // control plane (the prepare spec of a member keeps that manifest from now on). Also on a
    // resumed task whose init had finished before a crash.
    const steadyKubeVip = async (): Promise<void> => {
      if (!vip) return;
      t.progress('kube-vip: admin.conf');
      const steady = t.cluster.hostSpecFor(h, undefined, { member: true });
      await t.call(host, 'host.apply', { spec: steady, only: [`file:${vip.path}`] });
    };
    if ((await t.call(host, 'kubeadm.state', {})).initialized) {
      await steadyKubeVip();
      return { alreadyInitialized: true };
    }
    const secrets = { token: generateToken().token, certificateKey: randomBytes(32).toString('hex') };
    const before = Date.now();
    const r = await t.call(host, 'kubeadm.init', {
      config: t.cluster.renderers.init(h, secrets),
      manifests: vip ? [vip] : [],
      ignorePreflightErrors: [],
    });
    await steadyKubeVip();
    // only an init that ran registered this token and uploaded with this key: reuse them for joins
    if (!r.alreadyInitialized) {
      t.material.remember({
        ...secrets,
        tokenExpiresAt: before + durationMs(INIT_TOKEN_TTL),
        caCertHash: r.caCertHash,
        certsUploadedAt: before,
      });
    }
    return { alreadyInitialized: r.alreadyInitialized, caCertHash: r.caCertHash };
  },
});

export const joinMaterialPhase = phase<{ joiners: string[] }>({
  id: 'join-material',
  operation: 'apply',
  title: 'Mint join material',
  summary: 'a bootstrap token and a fresh upload of the control-plane certificates, within their TTL',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const first = c.cluster.first;
    const joiners = newHosts(c)
      .filter((h) => !h.first)
      .map((h) => h.name);
    if (!first || joiners.length === 0) return [];
    return [
      {
        host: first.name,
        title: 'bootstrap token and certificate upload',
        input: { joiners },
        detail: `token (1h) and certificate upload for ${joiners.length} host(s)`,
      },
    ];
  },
  async run(input, _host, t) {
    const states = await Promise.all(input.joiners.map((h) => t.call(h, 'kubeadm.state', {})));
    if (states.every(isMember)) return { needed: false };
    const m = await t.material.get({ fresh: t.attempt > 1 });
    return { needed: true, caCertHash: m.caCertHash };
  },
});

async function join(host: string, t: TaskRun, controlPlane: boolean): Promise<unknown> {
  if (isMember(await t.call(host, 'kubeadm.state', {}))) return { alreadyJoined: true };
  const h = t.cluster.host(host);
  // a retried join gets material minted for it: the last try may have failed on an expired token
  const material = await t.material.get({ fresh: t.attempt > 1 });
  const vip = controlPlane ? t.cluster.renderers.kubeVip(h) : undefined;
  const r = await t.call(host, 'kubeadm.join', {
    config: t.cluster.renderers.join(h, material),
    controlPlane,
    manifests: vip ? [vip] : [],
    ignorePreflightErrors: [],
  });
  return { alreadyJoined: r.alreadyJoined };
}

export const controlPlanesPhase = phase<Record<string, never>>({
  id: 'control-planes',
  operation: 'apply',
  title: 'Join control planes (one at a time)',
  summary: 'kubeadm join --control-plane, one host at a time (etcd grows one member at a time)',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) =>
    newHosts(c)
      .filter((h) => h.role === 'control-plane' && !h.first)
      .map((h) => ({
        host: h.name,
        title: 'kubeadm join --control-plane',
        input: {},
        detail: 'kubeadm join --control-plane',
      })),
  run: (_input, host, t) => join(host, t, true),
});

export const workersPhase = phase<Record<string, never>>({
  id: 'workers',
  operation: 'apply',
  title: 'Join workers',
  summary: 'kubeadm join on the workers, rollout.concurrency at a time',
  mode: 'parallel',
  concurrency: (spec) => spec.rollout.concurrency,
  tasks: (c) =>
    newHosts(c)
      .filter((h) => h.role === 'worker')
      .map((h) => ({ host: h.name, title: 'kubeadm join', input: {}, detail: 'kubeadm join' })),
  run: (_input, host, t) => join(host, t, false),
});

export const cniPhase = phase<{ plugin: string; manifest: string }>({
  id: 'cni',
  operation: 'apply',
  title: 'Install the CNI',
  summary: 'kubectl apply of the CNI manifest, until every node is Ready',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const { spec, first, cni } = c.cluster;
    if (!first || cni === undefined || allNodesReady(c)) return [];
    const from =
      cni.source === 'file'
        ? `cni.manifest ${spec.cni.manifest ?? ''}`
        : `kctl's template: podSubnet ${spec.networking.podSubnet}, MTU ${spec.cni.mtu ?? 'auto'}`;
    return [
      {
        host: first.name,
        title: `kubectl apply ${cni.plugin}`,
        input: { plugin: cni.plugin, manifest: cni.content },
        detail: `kubectl apply ${cni.plugin}${cni.version !== undefined ? ` ${cni.version}` : ''} (${from})`,
      },
    ];
  },
  async run(input, host, t) {
    await t.call(host, 'kubectl.apply', { name: `cni-${input.plugin}`, manifest: input.manifest });
    return { applied: true };
  },
});

export const verifyPhase = phase<{ nodes: string[] }>({
  id: 'verify',
  operation: 'apply',
  title: 'Verify nodes are Ready',
  summary: 'every host of the spec is a Ready node',
  mode: 'serial',
  concurrency: () => 1,
  tasks: (c) => {
    const first = c.cluster.first;
    if (!first || allNodesReady(c)) return [];
    return [
      {
        host: first.name,
        title: 'nodes Ready',
        input: { nodes: [...c.cluster.hosts.keys()] },
        detail: 'nodes Ready',
      },
    ];
  },
  async run(input, _host, t) {
    const { nodes } = await t.call(adminHostName(t), 'kubectl.nodes', {});
    const missing = input.nodes.filter((n) => !nodes.some((x) => x.name === n));
    const notReady = nodes.filter((n) => input.nodes.includes(n.name) && !n.ready).map((n) => n.name);
    if (missing.length > 0 || notReady.length > 0) {
      throw new KctlError(
        'step_failed',
        `nodes not Ready: ${[...missing.map((m) => `${m} (absent)`), ...notReady].join(', ')}`,
        { retryable: true },
      );
    }
    return { ready: nodes.length };
  },
});
