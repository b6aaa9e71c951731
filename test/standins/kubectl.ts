import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { readState, updateState, type ClusterState, type NodeRecord } from './cluster-state.js';
import { cniConfig } from './cni.js';
import { GLOBAL_FLAGS, parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { applyObjects, parseManifest } from './kubectl-apply.js';
import { taintNode, updateMap } from './kubectl-node-meta.js';
import { useKubeconfig, type KubeconfigIdentity } from './kubeconfig.js';
import { nodeIsReady, reportedKubeletVersion } from './kubeadm-common.js';
import { shortHumanDuration } from './k8s-values.js';
import { runStandin } from './standin-main.js';
import { STANDIN_MARK, StandinExit, type StandinEnv } from './standin-env.js';

/**
 * The kubectl STAND-IN: get nodes, apply, drain, cordon, uncordon, delete node and version, against
 * the stand-in cluster, through a kubeconfig that must exist on the host and belong to the cluster.
 */

const HELP = `kubectl (${STANDIN_MARK}): a test double for kubectl, used by kctl's tests.
It talks to the stand-in cluster (see kubeadm --help) through the kubeconfig given with
--kubeconfig (or $KUBECONFIG), which must exist under $KCTL_HOST_ROOT and carry this cluster's CA
and a client certificate it signed.

Commands:
  kubectl get nodes [NAME] [-o json|yaml|wide|name]
  kubectl apply -f FILE|DIR [-f ...]        (after a CNI DaemonSet, nodes turn Ready)
  kubectl drain NODE --ignore-daemonsets [--delete-emptydir-data] [--force] [--timeout=D]
  kubectl cordon NODE | uncordon NODE
  kubectl delete node NODE
  kubectl label node NODE [--overwrite] KEY=VALUE... KEY-...
  kubectl annotate node NODE [--overwrite] KEY=VALUE... KEY-...
  kubectl taint node NODE [--overwrite] KEY[=VALUE]:EFFECT... KEY[:EFFECT]-...
  kubectl version [-o json|yaml] [--client]
`;

const FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'kubeconfig', kind: 'string' },
  { name: 'context', kind: 'string' },
  { name: 'namespace', kind: 'string', short: 'n' },
  { name: 'output', kind: 'string', short: 'o' },
  { name: 'filename', kind: 'stringSlice', short: 'f' },
  { name: 'recursive', kind: 'bool', short: 'R' },
  { name: 'server-side', kind: 'bool' },
  { name: 'force-conflicts', kind: 'bool' },
  { name: 'field-manager', kind: 'string' },
  { name: 'dry-run', kind: 'string' },
  { name: 'ignore-daemonsets', kind: 'bool' },
  { name: 'delete-emptydir-data', kind: 'bool' },
  { name: 'delete-local-data', kind: 'bool' },
  { name: 'force', kind: 'bool' },
  { name: 'disable-eviction', kind: 'bool' },
  { name: 'grace-period', kind: 'string' },
  { name: 'timeout', kind: 'string' },
  { name: 'skip-wait-for-delete-timeout', kind: 'string' },
  { name: 'pod-selector', kind: 'string' },
  { name: 'selector', kind: 'string', short: 'l' },
  { name: 'request-timeout', kind: 'string' },
  { name: 'client', kind: 'bool' },
  { name: 'wait', kind: 'bool' },
  { name: 'overwrite', kind: 'bool' },
];

function isAdmin(id: KubeconfigIdentity): boolean {
  return id.organizations.some((o) => o === 'system:masters' || o === 'kubeadm:cluster-admins');
}

function forbidden(id: KubeconfigIdentity, verb: string, resource: string, name?: string): StandinExit {
  return new StandinExit(
    `Error from server (Forbidden): ${resource}${name ? ` "${name}"` : ''} is forbidden: User "${id.commonName}" cannot ${verb} resource "${resource}" in API group "" at the cluster scope`,
  );
}

function connect(
  env: StandinEnv,
  flags: ParsedFlags,
): { state: ClusterState; identity: KubeconfigIdentity; dir: string } {
  const kubeconfig = flags.string('kubeconfig') ?? env.env.KUBECONFIG;
  if (!kubeconfig)
    throw new StandinExit(
      'The connection to the server localhost:8080 was refused - did you specify the right host or port?',
    );
  const dir = env.clusterDir();
  const state = readState(dir);
  return { state, identity: useKubeconfig(env, kubeconfig, state, 'kubectl'), dir };
}

function nodeObject(state: ClusterState, n: NodeRecord, now: number): Record<string, unknown> {
  const ready = nodeIsReady(state, n);
  const readyCondition = !n.kubeletRunning
    ? { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }
    : ready
      ? { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
      : {
          status: 'False',
          reason: 'KubeletNotReady',
          message:
            'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
        };
  const time = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const taints = [
    ...n.taints,
    ...(n.unschedulable
      ? [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: time }]
      : []),
    ...(ready ? [] : [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kctl.dev/stand-in': 'true', ...n.annotations },
      creationTimestamp: new Date(n.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      labels: n.labels,
      name: n.name,
    },
    spec: { ...(taints.length > 0 ? { taints } : {}), ...(n.unschedulable ? { unschedulable: true } : {}) },
    status: {
      addresses: [
        { address: n.internalIP, type: 'InternalIP' },
        { address: n.name, type: 'Hostname' },
      ],
      conditions: [
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
          type,
          status: n.kubeletRunning ? 'False' : 'Unknown',
          lastHeartbeatTime: time,
          lastTransitionTime: time,
          reason: n.kubeletRunning
            ? `KubeletHasSufficient${type.replace('Pressure', '')}`
            : 'NodeStatusUnknown',
          message: n.kubeletRunning
            ? `kubelet has no ${type.toLowerCase()}`
            : 'Kubelet stopped posting node status.',
        })),
        { type: 'Ready', ...readyCondition, lastHeartbeatTime: time, lastTransitionTime: time },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://stand-in',
        kernelVersion: STANDIN_MARK,
        kubeletVersion: reportedKubeletVersion(state, n.name),
        operatingSystem: 'linux',
        osImage: STANDIN_MARK,
      },
    },
  };
}

function getNodes(env: StandinEnv, flags: ParsedFlags, names: string[]): void {
  const { state } = connect(env, flags);
  const now = env.now();
  const missing = names.filter((name) => !state.nodes.some((n) => n.name === name));
  if (missing.length > 0)
    throw new StandinExit(`Error from server (NotFound): nodes "${missing[0] ?? ''}" not found`);
  const nodes =
    names.length > 0
      ? state.nodes.filter((n) => names.includes(n.name))
      : [...state.nodes].sort((a, b) => (a.name < b.name ? -1 : 1));
  const objects = nodes.map((n) => nodeObject(state, n, now));
  const single = names.length === 1 ? objects[0] : undefined;
  const list = { apiVersion: 'v1', items: objects, kind: 'List', metadata: { resourceVersion: '' } };
  const output = flags.string('output') ?? '';
  if (output === 'json') return env.out(`${JSON.stringify(single ?? list, null, 4)}\n`);
  if (output === 'yaml') return env.out(toYaml(single ?? list));
  if (output === 'name') return env.out(nodes.map((n) => `node/${n.name}\n`).join(''));
  if (output !== '' && output !== 'wide')
    throw new StandinExit(`error: unable to match a printer suitable for the output format "${output}"`);
  if (nodes.length === 0) return env.err('No resources found\n');
  const rows = [['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', ...(output === 'wide' ? ['INTERNAL-IP'] : [])]];
  for (const n of nodes) {
    const status =
      (!n.kubeletRunning ? 'NotReady' : nodeIsReady(state, n) ? 'Ready' : 'NotReady') +
      (n.unschedulable ? ',SchedulingDisabled' : '');
    rows.push([
      n.name,
      status,
      n.controlPlane ? 'control-plane' : '<none>',
      shortHumanDuration(now - n.createdAt),
      reportedKubeletVersion(state, n.name),
      ...(output === 'wide' ? [n.internalIP] : []),
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  env.out(
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd((widths[i] ?? 0) + 3))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n',
  );
}

function manifestFiles(env: StandinEnv, target: string, recursive: boolean): string[] {
  const real = env.hostPath(target);
  let isDir = false;
  try {
    isDir = statSync(real).isDirectory();
  } catch {
    throw new StandinExit(`error: the path "${target}" does not exist`);
  }
  if (!isDir) return [target];
  return readdirSync(real)
    .sort()
    .flatMap((e) => {
      const child = join(target, e);
      if (statSync(env.hostPath(child)).isDirectory())
        return recursive ? manifestFiles(env, child, true) : [];
      return /\.(ya?ml|json)$/.test(e) ? [child] : [];
    });
}

async function apply(env: StandinEnv, flags: ParsedFlags): Promise<void> {
  const files = flags.list('filename');
  if (files.length === 0) throw new StandinExit('error: must specify one of -f and -k');
  const { identity, dir } = connect(env, flags);
  if (!isAdmin(identity)) throw forbidden(identity, 'create', 'resources');
  const now = env.now();
  const errors: string[] = [];
  for (const target of files) {
    for (const file of target === '-' ? ['-'] : manifestFiles(env, target, flags.bool('recursive'))) {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(env.hostPath(file), 'utf8');
      const parsed = parseManifest(text, file);
      if ('error' in parsed) {
        errors.push(parsed.error);
        continue;
      }
      if (flags.string('dry-run') && flags.string('dry-run') !== 'none') {
        for (const o of parsed.objects)
          env.out(`${String((o as { kind?: unknown }).kind).toLowerCase()} configured (dry run)\n`);
        continue;
      }
      await updateState(dir, (state) => {
        const outcome = applyObjects(state, parsed.objects, file, now);
        for (const line of outcome.lines) env.out(`${line}\n`);
        errors.push(...outcome.errors);
        if (outcome.cni && !state.cni) {
          state.cni = { name: outcome.cni, appliedAt: now };
          // the CNI's DaemonSet writes its config on every node
          const conf = cniConfig(outcome.cni);
          for (const n of state.nodes.filter((x) => x.kubeletRunning)) {
            try {
              const path = n.hostRoot === '/' ? conf.path : join(n.hostRoot, conf.path);
              mkdirSync(dirname(path), { recursive: true });
              writeFileSync(path, conf.content, { mode: 0o644 });
            } catch {
              // a node whose root is gone simply does not get the file
            }
          }
        }
      });
    }
  }
  if (errors.length > 0) throw new StandinExit(errors.join('\n'));
}

async function changeNode(
  env: StandinEnv,
  flags: ParsedFlags,
  name: string | undefined,
  verb: 'cordon' | 'uncordon' | 'drain' | 'delete',
): Promise<void> {
  if (!name) throw new StandinExit(`error: resource name may not be empty`);
  const { identity, dir } = connect(env, flags);
  if (!isAdmin(identity)) throw forbidden(identity, verb === 'delete' ? 'delete' : 'patch', 'nodes', name);
  const failure = await updateState(dir, (state): StandinExit | undefined => {
    const node = state.nodes.find((n) => n.name === name);
    if (!node) throw new StandinExit(`Error from server (NotFound): nodes "${name}" not found`);
    if (verb === 'delete') {
      state.nodes = state.nodes.filter((n) => n !== node);
      env.out(`node "${name}" deleted\n`);
      return undefined;
    }
    if (verb === 'uncordon') {
      env.out(`node/${name} ${node.unschedulable ? 'uncordoned' : 'already uncordoned'}\n`);
      node.unschedulable = false;
      return undefined;
    }
    env.out(`node/${name} ${node.unschedulable ? 'already cordoned' : 'cordoned'}\n`);
    node.unschedulable = true;
    if (verb === 'drain') {
      // kube-proxy (and every applied DaemonSet) has a pod on each node
      const daemonSets = [
        'kube-proxy',
        ...state.resources.filter((r) => r.kind === 'DaemonSet').map((r) => r.name),
      ];
      const pods = daemonSets.map((d) => `kube-system/${d}-${name.replace(/[^a-z0-9]/g, '').slice(0, 5)}`);
      if (!flags.bool('ignore-daemonsets')) {
        // the node stays cordoned, as with kubectl
        const msg = `cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${pods.join(', ')}`;
        return new StandinExit(
          `error: unable to drain node "${name}" due to error: ${msg}, continuing command...\nThere are pending nodes to be drained:\n ${name}\n${msg}`,
        );
      }
      env.out(`Warning: ignoring DaemonSet-managed Pods: ${pods.join(', ')}\n`);
      env.out(`node/${name} drained\n`);
    }
    return undefined;
  });
  if (failure) throw failure;
}

/** label, annotate and taint of one node: admin only, changed under the state lock or not at all */
async function nodeMeta(
  env: StandinEnv,
  flags: ParsedFlags,
  verb: 'label' | 'annotate' | 'taint',
  kind: string,
  rest: readonly string[],
): Promise<void> {
  if (!['node', 'nodes', 'no'].includes(kind))
    throw new StandinExit(
      `kubectl (${STANDIN_MARK}): "${verb} ${kind}" is not implemented by the stand-in; only nodes are`,
    );
  const [name, ...updates] = rest;
  if (!name) throw new StandinExit('error: resource name may not be empty');
  const { identity, dir } = connect(env, flags);
  if (!isAdmin(identity)) throw forbidden(identity, 'patch', 'nodes', name);
  const overwrite = flags.bool('overwrite');
  await updateState(dir, (state) => {
    const node = state.nodes.find((n) => n.name === name);
    if (!node) throw new StandinExit(`Error from server (NotFound): nodes "${name}" not found`);
    if (verb === 'taint') {
      for (const line of taintNode(node, updates, overwrite)) env.out(`${line}\n`);
      return;
    }
    const map = verb === 'label' ? node.labels : (node.annotations ??= {});
    const r = updateMap(node, map, updates, overwrite, verb === 'label' ? 'label' : 'annotation');
    for (const e of r.errors) env.err(`${e}\n`);
    for (const line of r.lines) env.out(`${line}\n`);
  });
}

function version(env: StandinEnv, flags: ParsedFlags): void {
  const v = env.version();
  const info = (gitVersion: string, major: number, minor: number) => ({
    major: String(major),
    minor: String(minor),
    gitVersion,
    gitCommit: STANDIN_MARK,
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `(${STANDIN_MARK} on node ${process.version})`,
    compiler: 'gc',
    platform: 'linux/amd64',
  });
  const client = info(v.raw, v.major, v.minor);
  let server: ReturnType<typeof info> | undefined;
  let failure: string | undefined;
  if (!flags.bool('client')) {
    try {
      const { state } = connect(env, flags);
      const sv = state.cluster?.kubernetesVersion ?? '';
      const m = /^v(\d+)\.(\d+)/.exec(sv);
      server = info(sv, Number(m?.[1] ?? 0), Number(m?.[2] ?? 0));
    } catch (err) {
      failure = err instanceof StandinExit ? err.message : String(err);
    }
  }
  const output = flags.string('output') ?? '';
  const doc = {
    clientVersion: client,
    kustomizeVersion: 'v5.4.2',
    ...(server ? { serverVersion: server } : {}),
  };
  if (output === 'json') env.out(`${JSON.stringify(doc, null, 2)}\n`);
  else if (output === 'yaml') env.out(toYaml(doc));
  else {
    env.out(
      `Client Version: ${v.raw} (${STANDIN_MARK})\nKustomize Version: v5.4.2\n${server ? `Server Version: ${server.gitVersion}\n` : ''}`,
    );
  }
  if (failure) throw new StandinExit(failure);
}

runStandin('kubectl', async (env, args) => {
  if (args.length === 0 || args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    env.out(HELP);
    return undefined;
  }
  const flags = parseFlags(args, FLAGS, 'kubectl');
  const [cmd, ...rest] = flags.positionals;
  const resourceName = (): { kind: string; name: string | undefined } => {
    const [kindArg = '', nameArg] = rest;
    const [kind = '', slashName] = kindArg.split('/');
    return { kind, name: slashName ?? nameArg };
  };
  switch (cmd ?? '') {
    case 'version':
      version(env, flags);
      return undefined;
    case 'get': {
      const { kind } = resourceName();
      if (!['node', 'nodes', 'no'].includes(kind)) {
        throw new StandinExit(
          `kubectl (${STANDIN_MARK}): "get ${kind}" is not implemented by the stand-in; only nodes are`,
        );
      }
      const names = rest[0]?.includes('/') ? [rest[0].split('/')[1] ?? ''] : rest.slice(1);
      getNodes(env, flags, names);
      return undefined;
    }
    case 'apply':
      await apply(env, flags);
      return undefined;
    case 'cordon':
    case 'uncordon':
    case 'drain':
      await changeNode(env, flags, rest[0]?.replace(/^nodes?\//, ''), cmd as 'cordon' | 'uncordon' | 'drain');
      return undefined;
    case 'label':
    case 'annotate':
    case 'taint': {
      const [kindArg = '', ...more] = rest;
      const [kind = '', slashName] = kindArg.split('/');
      await nodeMeta(
        env,
        flags,
        cmd as 'label' | 'annotate' | 'taint',
        kind,
        slashName ? [slashName, ...more] : more,
      );
      return undefined;
    }
    case 'delete': {
      const { kind, name } = resourceName();
      if (!['node', 'nodes', 'no'].includes(kind)) {
        throw new StandinExit(
          `kubectl (${STANDIN_MARK}): "delete ${kind}" is not implemented by the stand-in; only nodes are`,
        );
      }
      await changeNode(env, flags, name, 'delete');
      return undefined;
    }
    default:
      throw new StandinExit(
        `error: unknown command "${cmd ?? ''}" for "kubectl"\nRun 'kubectl --help' for usage.`,
      );
  }
});
