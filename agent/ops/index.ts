import type { OpName } from '../../proto/ops.js';
import type { HealthInput } from '../health/health-check.js';
import type { AgentOp, OpImplementations } from './registry.js';

/** How to load each op's code, and its kubeadm lane (the executor queues by it before loading). */
export type OpLoaders = {
  [N in OpName]: { load: () => Promise<AgentOp<N>>; exclusive?: 'kubeadm'; secretResult?: true };
};

/**
 * An op whose code is loaded when it first runs (issue 13 part 7): an idle agent does not hold the
 * steps, checks, health probes, diff or kubeadm code, only this table. A unit test checks each
 * declared lane and secretResult flag against the loaded implementation.
 */
export function lazyOp<N extends OpName>(name: N, loader: OpLoaders[N]): AgentOp<N> {
  let loading: Promise<AgentOp<N>> | undefined;
  const loaded = (): Promise<AgentOp<N>> =>
    (loading ??= loader.load().catch((err: unknown) => {
      loading = undefined; // a failed import is tried again on the next command
      throw err;
    }));
  return {
    name,
    ...(loader.exclusive ? { exclusive: loader.exclusive } : {}),
    ...(loader.secretResult ? { secretResult: loader.secretResult } : {}),
    ...(loader.secretResult ? { secretResult: loader.secretResult } : {}),
    run: async (args, ctx) => (await loaded()).run(args, ctx),
  };
}

const kubeadm = async <N extends keyof typeof import('./kubeadm-ops.js').kubeadmOps>(
  name: N,
): Promise<AgentOp<N>> => (await import('./kubeadm-ops.js')).kubeadmOps[name];

/** Where each op's code lives; the type forces one entry per op in proto/ops.ts. */
export function opLoaders(options: Pick<HealthInput, 'clockOffset'> = {}): OpLoaders {
  return {
    ping: { load: async () => (await import('./basic-ops.js')).pingOp },
    'facts.get': { load: async () => (await import('./basic-ops.js')).factsOp },
    'preflight.run': {
      load: async () => (await import('./preflight-ops.js')).makePreflightOps(options)['preflight.run'],
    },
    'kubeadm.state': { load: () => kubeadm('kubeadm.state') },
    'kubeadm.init': { load: () => kubeadm('kubeadm.init'), exclusive: 'kubeadm' },
    'kubeadm.joinMaterial': { load: () => kubeadm('kubeadm.joinMaterial'), exclusive: 'kubeadm' },
    'kubeadm.join': { load: () => kubeadm('kubeadm.join'), exclusive: 'kubeadm' },
    'kubectl.apply': { load: () => kubeadm('kubectl.apply') },
    'kubectl.nodes': { load: () => kubeadm('kubectl.nodes') },
    'kubectl.drain': { load: () => kubeadm('kubectl.drain') },
    'kubectl.deleteNode': { load: () => kubeadm('kubectl.deleteNode') },
    'kubeadm.reset': { load: () => kubeadm('kubeadm.reset'), exclusive: 'kubeadm' },
    'kubeadm.upgradeApply': { load: () => kubeadm('kubeadm.upgradeApply'), exclusive: 'kubeadm' },
    'kubeadm.upgradePlan': { load: () => kubeadm('kubeadm.upgradePlan'), exclusive: 'kubeadm' },
    'kubeadm.upgradeNode': { load: () => kubeadm('kubeadm.upgradeNode'), exclusive: 'kubeadm' },
    'kubectl.uncordon': { load: () => kubeadm('kubectl.uncordon') },
    'kubectl.label': { load: async () => (await import('./node-label-ops.js')).kubectlLabelOp },
    'kubectl.taint': { load: async () => (await import('./node-label-ops.js')).kubectlTaintOp },
    'host.plan': { load: async () => (await import('./host-ops.js')).hostOps['host.plan'] },
    'host.apply': { load: async () => (await import('./host-ops.js')).hostOps['host.apply'] },
    'service.restart': { load: async () => (await import('./service-ops.js')).serviceRestartOp },
    'certs.check': { load: async () => (await import('./certs-ops.js')).certsCheckOp },
    'kubeadm.certsRenew': {
      load: async () => (await import('./certs-ops.js')).kubeadmCertsRenewOp,
      exclusive: 'kubeadm',
    },
    'kubeadm.userKubeconfig': {
      load: async () => (await import('./kubeconfig-op.js')).kubeadmUserKubeconfigOp,
      secretResult: true,
    },
    'etcd.status': { load: async () => (await import('./etcd-status-ops.js')).etcdStatusOp },
    'etcd.snapshot': { load: async () => (await import('./etcd-snapshot-ops.js')).etcdSnapshotOp },
    'etcd.snapshotRead': {
      load: async () => (await import('./etcd-snapshot-ops.js')).etcdSnapshotReadOp,
      secretResult: true,
    },
    'etcd.snapshotRemove': {
      load: async () => (await import('./etcd-snapshot-ops.js')).etcdSnapshotRemoveOp,
    },
    'etcd.memberAdd': { load: async () => (await import('./etcd-member-ops.js')).etcdMemberAddOp },
    'etcd.memberRemove': { load: async () => (await import('./etcd-member-ops.js')).etcdMemberRemoveOp },
    'etcd.memberStop': { load: async () => (await import('./etcd-member-ops.js')).etcdMemberStopOp },
    'kubeadm.apiserverEtcd': {
      load: async () => (await import('./apiserver-etcd-ops.js')).kubeadmApiserverEtcdOp,
      exclusive: 'kubeadm',
    },
    'packages.available': {
      load: async () => (await import('./package-index-ops.js')).packagesAvailableOp,
    },
    'health.run': {
      load: async () => (await import('../health/health-op.js')).makeHealthOps(options)['health.run'],
    },
  };
}

/** Every op this agent implements, each loaded on its first run. */
export function agentOps(options: Pick<HealthInput, 'clockOffset'> = {}): OpImplementations {
  const loaders = opLoaders(options);
  const ops: Partial<Record<OpName, AgentOp<OpName>>> = {};
  for (const name of Object.keys(loaders) as OpName[]) {
    ops[name] = lazyOp<OpName>(name, loaders[name]);
  }
  return ops as OpImplementations;
}
