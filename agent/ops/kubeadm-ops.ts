import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import { caPinOf } from '../../proto/ca-pin.js';
import type { NodeStatus } from '../../proto/kubeadm-ops.js';
import {
  MANAGED_LABELS_ANNOTATION,
  MANAGED_TAINTS_ANNOTATION,
  parseManagedAnnotation,
} from '../../proto/node-labels.js';
import type { Host } from '../host/host.js';
import { resetHalfDoneJoin } from './join-leftovers.js';
import { apiserverEtcdServers } from './apiserver-etcd-ops.js';
import type { AgentOp, OpImplementations } from './registry.js';

const ADMIN_CONF = '/etc/kubernetes/admin.conf';
const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';
const CA_CERT = '/etc/kubernetes/pki/ca.crt';
/** transient, secret-bearing kubeadm configs live here (0600) only while kubeadm runs */
const RUN_DIR = '/var/lib/kctl-agent/run';
const KUBEADM_TIMEOUT_MS = 15 * 60_000;

/** Writes a secret-bearing file, runs fn, and removes the file whatever happens. */
async function withSecretFile<T>(
  host: Host,
  name: string,
  content: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const path = `${RUN_DIR}/${name}`;
  await host.writeFileAtomic(path, content, { mode: 0o600, uid: 0, gid: 0 });
  try {
    return await fn(path);
  } finally {
    await host.removeFile(path);
  }
}

async function caCertHash(host: Host): Promise<string> {
  const pem = await host.readFile(CA_CERT);
  if (pem === undefined) {
    throw new KctlError('step_failed', `${CA_CERT} does not exist after kubeadm ran`, {
      details: { remedy: 'check the kubeadm output in the agent log' },
    });
  }
  // the discovery hash is the same recipe as our own CA pin: SHA-256 over the SubjectPublicKeyInfo
  return caPinOf(pem);
}

function ignoreFlag(ignore: readonly string[]): string[] {
  return ignore.length > 0 ? [`--ignore-preflight-errors=${ignore.join(',')}`] : [];
}

export const kubeadmInitOp: AgentOp<'kubeadm.init'> = {
  name: 'kubeadm.init',
  exclusive: 'kubeadm',
  async run(args, { host, log, progress }) {
    // kubeadm init cannot run twice: the host's real state decides, not our memory of it
    if (await host.exists(ADMIN_CONF)) {
      log.info('control plane already initialised; init skipped');
      return { alreadyInitialized: true, caCertHash: await caCertHash(host) };
    }
    for (const m of args.manifests) {
      progress({ message: `writing ${m.path}` });
      await host.writeFileAtomic(m.path, m.content, { mode: 0o600 });
    }
    progress({ message: 'kubeadm init --upload-certs' });
    await withSecretFile(host, 'kubeadm-init.yaml', args.config, (path) =>
      host.run(
        'kubeadm',
        ['init', '--config', path, '--upload-certs', ...ignoreFlag(args.ignorePreflightErrors)],
        {
          timeoutMs: KUBEADM_TIMEOUT_MS,
        },
      ),
    );
    return { alreadyInitialized: false, caCertHash: await caCertHash(host) };
  },
};

export const kubeadmJoinMaterialOp: AgentOp<'kubeadm.joinMaterial'> = {
  name: 'kubeadm.joinMaterial',
  exclusive: 'kubeadm',
  async run(args, { host }) {
    const kubeconfig = ['--kubeconfig', ADMIN_CONF];
    // a token we minted: `token create <token>` makes kubeadm print nothing secret we did not already know
    await host.run('kubeadm', ['token', 'create', args.token, '--ttl', args.tokenTtl, ...kubeconfig], {
      timeoutMs: 120_000,
    });
    let certsUploadedAt: number | null = null;
    if (args.certificateKey) {
      await host.run(
        'kubeadm',
        [
          'init',
          'phase',
          'upload-certs',
          '--upload-certs',
          '--certificate-key',
          args.certificateKey,
          ...kubeconfig,
        ],
        { timeoutMs: 300_000 },
      );
      certsUploadedAt = Date.now();
    }
    return { caCertHash: await caCertHash(host), certsUploadedAt };
  },
};

export const kubeadmJoinOp: AgentOp<'kubeadm.join'> = {
  name: 'kubeadm.join',
  exclusive: 'kubeadm',
  async run(args, { host, log, progress }) {
    if (await host.exists(KUBELET_CONF)) {
      log.info('node already joined; join skipped');
      for (const m of args.manifests) await host.writeFileAtomic(m.path, m.content, { mode: 0o600 });
      return { alreadyJoined: true };
    }
    await resetHalfDoneJoin(host, log, progress);
    progress({ message: args.controlPlane ? 'kubeadm join --control-plane' : 'kubeadm join' });
    await withSecretFile(host, 'kubeadm-join.yaml', args.config, (path) =>
      host.run('kubeadm', ['join', '--config', path, ...ignoreFlag(args.ignorePreflightErrors)], {
        timeoutMs: KUBEADM_TIMEOUT_MS,
      }),
    );
    for (const m of args.manifests) {
      progress({ message: `writing ${m.path}` });
      await host.writeFileAtomic(m.path, m.content, { mode: 0o600 });
    }
    return { alreadyJoined: false };
  },
};

export const kubectlApplyOp: AgentOp<'kubectl.apply'> = {
  name: 'kubectl.apply',
  async run(args, { host }) {
    const path = `${RUN_DIR}/${args.name}.yaml`;
    await host.writeFileAtomic(path, args.manifest, { mode: 0o600 });
    await host.run('kubectl', ['--kubeconfig', ADMIN_CONF, 'apply', '-f', path], { timeoutMs: 300_000 });
    return { applied: true };
  },
};

const NodeList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({
        name: z.string(),
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      }),
      spec: z
        .object({
          unschedulable: z.boolean().optional(),
          taints: z
            .array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() }))
            .optional(),
        })
        .optional(),
      status: z
        .object({
          conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
          nodeInfo: z.object({ kubeletVersion: z.string() }).partial().optional(),
        })
        .optional(),
    }),
  ),
});

export function parseNodeList(json: string): NodeStatus[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new KctlError('step_failed', 'kubectl get nodes -o json printed something that is not JSON');
  }
  const parsed = NodeList.safeParse(data);
  if (!parsed.success) throw new KctlError('step_failed', 'kubectl get nodes -o json: unexpected shape');
  return parsed.data.items.map((n) => ({
    name: n.metadata.name,
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
    controlPlane: n.metadata.labels?.['node-role.kubernetes.io/control-plane'] !== undefined,
    unschedulable: n.spec?.unschedulable ?? false,
    labels: n.metadata.labels ?? {},
    taints: (n.spec?.taints ?? []).map((t) => ({
      key: t.key,
      ...(t.value !== undefined && t.value !== '' ? { value: t.value } : {}),
      effect: t.effect,
    })),
    managed: {
      labels: parseManagedAnnotation(n.metadata.annotations?.[MANAGED_LABELS_ANNOTATION]),
      taints: parseManagedAnnotation(n.metadata.annotations?.[MANAGED_TAINTS_ANNOTATION]),
    },
  }));
}

export const kubectlNodesOp: AgentOp<'kubectl.nodes'> = {
  name: 'kubectl.nodes',
  async run(_args, { host }) {
    const r = await host.run('kubectl', ['--kubeconfig', ADMIN_CONF, 'get', 'nodes', '-o', 'json'], {
      timeoutMs: 60_000,
    });
    return { nodes: parseNodeList(r.stdout) };
  },
};

const APISERVER_MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';

/** The version this control plane runs: the tag of its API server image, which kubeadm upgrade rewrites. */
async function controlPlaneVersion(host: Host): Promise<string | null> {
  const manifest = await host.readFile(APISERVER_MANIFEST).catch(() => undefined);
  if (manifest === undefined) return null;
  return /image:\s*\S*\/kube-apiserver:(v\d+\.\d+\.\d+\S*)/.exec(manifest)?.[1] ?? null;
}

export const kubeadmStateOp: AgentOp<'kubeadm.state'> = {
  name: 'kubeadm.state',
  async run(_args, { host }) {
    const [initialized, joined] = await Promise.all([host.exists(ADMIN_CONF), host.exists(KUBELET_CONF)]);
    const kubelet = await host
      .run('kubelet', ['--version'], { allowFailure: true, timeoutMs: 10_000 })
      .catch(() => undefined);
    const version = kubelet?.exitCode === 0 ? (/v\d+\.\d+\.\d+\S*/.exec(kubelet.stdout)?.[0] ?? null) : null;
    return {
      initialized,
      joined,
      kubeletVersion: version,
      controlPlaneVersion: await controlPlaneVersion(host),
      etcdServers: await apiserverEtcdServers(host),
    };
  },
};

export const kubectlDrainOp: AgentOp<'kubectl.drain'> = {
  name: 'kubectl.drain',
  async run({ node }, { host }) {
    await host.run(
      'kubectl',
      [
        '--kubeconfig',
        ADMIN_CONF,
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=300s',
      ],
      { timeoutMs: 330_000 },
    );
    return { drained: true };
  },
};

export const kubectlDeleteNodeOp: AgentOp<'kubectl.deleteNode'> = {
  name: 'kubectl.deleteNode',
  async run({ node }, { host }) {
    const r = await host.run('kubectl', ['--kubeconfig', ADMIN_CONF, 'delete', 'node', node], {
      timeoutMs: 120_000,
      allowFailure: true,
    });
    if (r.exitCode !== 0 && !/not found/i.test(r.stderr)) {
      throw new KctlError('program_failed', `kubectl delete node ${node} exited with ${r.exitCode}`);
    }
    return { deleted: r.exitCode === 0 };
  },
};

/** What kubeadm reset leaves behind, per its own advice: CNI configs and packet-filter rules. */
export const kubeadmResetOp: AgentOp<'kubeadm.reset'> = {
  name: 'kubeadm.reset',
  exclusive: 'kubeadm',
  async run(_args, { host, log }) {
    const wasMember = (await host.exists(KUBELET_CONF)) || (await host.exists(ADMIN_CONF));
    if (wasMember) await host.run('kubeadm', ['reset', '-f'], { timeoutMs: 600_000 });
    const cleaned: string[] = [];
    // through held directories: a symlinked net.d is removed as a link, its target left alone
    cleaned.push(...(await host.clearDirectory('/etc/cni/net.d')));
    // best effort: these tools may be absent (nftables-only hosts, no IPVS)
    for (const [program, args] of [
      ['iptables', ['-F']],
      ['iptables', ['-t', 'nat', '-F']],
      ['iptables', ['-t', 'mangle', '-F']],
      ['iptables', ['-X']],
      ['ipvsadm', ['--clear']],
    ] as const) {
      if (!(await host.which(program))) continue;
      const r = await host.run(program, args, { allowFailure: true, timeoutMs: 60_000 });
      if (r.exitCode === 0) cleaned.push(`${program} ${args.join(' ')}`);
      else log.warn({ program, args, exitCode: r.exitCode }, 'reset cleanup step failed');
    }
    return { wasMember, cleaned };
  },
};

export const kubeadmUpgradeApplyOp: AgentOp<'kubeadm.upgradeApply'> = {
  name: 'kubeadm.upgradeApply',
  exclusive: 'kubeadm',
  async run({ version }, { host }) {
    await host.run('kubeadm', ['upgrade', 'apply', version, '-y'], { timeoutMs: 1_800_000 });
    return { upgraded: true };
  },
};

export const kubeadmUpgradePlanOp: AgentOp<'kubeadm.upgradePlan'> = {
  name: 'kubeadm.upgradePlan',
  exclusive: 'kubeadm',
  async run({ version }, { host }) {
    // kubeadm's version policy and health checks; a refusal fails the op with kubeadm's words
    await host.run('kubeadm', ['upgrade', 'plan', version], { timeoutMs: 300_000 });
    return { ok: true };
  },
};

export const kubeadmUpgradeNodeOp: AgentOp<'kubeadm.upgradeNode'> = {
  name: 'kubeadm.upgradeNode',
  exclusive: 'kubeadm',
  async run(_args, { host }) {
    await host.run('kubeadm', ['upgrade', 'node'], { timeoutMs: 1_800_000 });
    return { upgraded: true };
  },
};

export const kubectlUncordonOp: AgentOp<'kubectl.uncordon'> = {
  name: 'kubectl.uncordon',
  async run({ node }, { host }) {
    await host.run('kubectl', ['--kubeconfig', ADMIN_CONF, 'uncordon', node], { timeoutMs: 120_000 });
    return { uncordoned: true };
  },
};

export const kubeadmOps: Pick<
  OpImplementations,
  | 'kubeadm.state'
  | 'kubeadm.init'
  | 'kubeadm.joinMaterial'
  | 'kubeadm.join'
  | 'kubectl.apply'
  | 'kubectl.nodes'
  | 'kubectl.drain'
  | 'kubectl.deleteNode'
  | 'kubeadm.reset'
  | 'kubeadm.upgradeApply'
  | 'kubeadm.upgradePlan'
  | 'kubeadm.upgradeNode'
  | 'kubectl.uncordon'
> = {
  'kubeadm.state': kubeadmStateOp,
  'kubeadm.init': kubeadmInitOp,
  'kubeadm.joinMaterial': kubeadmJoinMaterialOp,
  'kubeadm.join': kubeadmJoinOp,
  'kubectl.apply': kubectlApplyOp,
  'kubectl.nodes': kubectlNodesOp,
  'kubectl.drain': kubectlDrainOp,
  'kubectl.deleteNode': kubectlDeleteNodeOp,
  'kubeadm.reset': kubeadmResetOp,
  'kubeadm.upgradeApply': kubeadmUpgradeApplyOp,
  'kubeadm.upgradePlan': kubeadmUpgradePlanOp,
  'kubeadm.upgradeNode': kubeadmUpgradeNodeOp,
  'kubectl.uncordon': kubectlUncordonOp,
};
