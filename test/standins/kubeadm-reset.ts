import { readSync } from 'node:fs';
import { noteEtcdMemberRemoved } from './call-log.js';
import { emptyState, updateState } from './cluster-state.js';
import { GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { cleanHostDir, hostExists, removeHostPath } from './host-files.js';
import { kubeadmError, loadConfigFile } from './kubeadm-common.js';
import { forgetRunningKubelet } from './kubelet-run.js';
import { stopStandinApiServer } from './apiserver.js';
import { joinedNodeName } from './node-identity.js';
import { ClusterConfigurationV4 } from './kubeadm-types.js';
import { ignoreSet, realRootChecks, runChecks } from './preflight.js';
import type { StandinEnv } from './standin-env.js';

/** `kubeadm reset`: removes what init/join wrote on this host and this control plane's etcd member. */

const RESET_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'force', kind: 'bool', short: 'f' },
  { name: 'cri-socket', kind: 'string' },
  { name: 'cleanup-tmp-dir', kind: 'bool' },
  { name: 'ignore-preflight-errors', kind: 'stringSlice' },
  { name: 'kubeconfig', kind: 'string' },
  { name: 'config', kind: 'string' },
  { name: 'dry-run', kind: 'bool' },
  { name: 'skip-phases', kind: 'stringSlice' },
  { name: 'cert-dir', kind: 'string' },
];

const KUBECONFIG_FILES = [
  'admin.conf',
  'super-admin.conf',
  'kubelet.conf',
  'bootstrap-kubelet.conf',
  'controller-manager.conf',
  'scheduler.conf',
];

/** One line from stdin; empty at EOF or when there is no stdin (the agent runs programs with stdin ignored). */
export function readAnswer(): string {
  const buf = Buffer.alloc(1);
  let line = '';
  for (;;) {
    let n = 0;
    try {
      n = readSync(0, buf, 0, 1, null);
    } catch {
      return line;
    }
    if (n === 0 || buf[0] === 0x0a) return line;
    line += buf.toString('utf8');
  }
}

export async function kubeadmReset(env: StandinEnv, args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, RESET_FLAGS, 'kubeadm reset');
  const configPath = flags.string('config');
  const resetConfig = configPath ? loadConfigFile(env, configPath, 'reset', env.version()).reset : undefined;
  const force = flags.bool('force') || resetConfig?.force === true;
  const dryRun = flags.bool('dry-run') || resetConfig?.dryRun === true;
  const say = (line: string) => env.out(`${line}\n`);
  const nodeName = joinedNodeName(env) ?? env.defaultNodeName();

  const dir = env.clusterDirIfAny();
  say('[reset] Reading configuration from the cluster...');
  say(
    "[reset] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'",
  );
  if (!force) {
    say("[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.");
    env.out('[reset] Are you sure you want to proceed? [y/N]: ');
    const answer = readAnswer().trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw kubeadmError('aborted reset operation');
  }
  say('[preflight] Running pre-flight checks');
  runChecks(
    env,
    realRootChecks(env, false),
    ignoreSet([flags.list('ignore-preflight-errors'), resetConfig?.ignorePreflightErrors ?? []]),
  );

  const hasEtcd = hostExists(env, '/etc/kubernetes/manifests/etcd.yaml');
  let certsDir = flags.string('cert-dir') ?? resetConfig?.certificatesDir ?? '/etc/kubernetes/pki';
  let etcdDataDir = '/var/lib/etcd';
  if (dryRun) {
    say(
      "[dryrun] Would remove this node's etcd member and delete the files kubeadm wrote; nothing was changed",
    );
    return nodeName;
  }
  if (dir) {
    await updateState(dir, (state) => {
      const record = state.cluster;
      if (record) {
        const cc = ClusterConfigurationV4.safeParse(record.clusterConfiguration);
        if (cc.success) {
          certsDir =
            flags.string('cert-dir') ?? resetConfig?.certificatesDir ?? cc.data.certificatesDir ?? certsDir;
          etcdDataDir = cc.data.etcd?.local?.dataDir ?? etcdDataDir;
        }
      }
      if (hasEtcd && state.etcdMembers.some((m) => m.name === nodeName)) {
        say(`[reset] Removing info for node "${nodeName}" from the etcd cluster`);
        state.etcdMembers = state.etcdMembers.filter((m) => m.name !== nodeName);
        // real kubeadm's remove-etcd-member phase does this; the call log shows it to tests
        noteEtcdMemberRemoved(nodeName);
        if (record?.localEtcd && state.etcdMembers.length === 0) {
          // the last etcd member held the cluster's data: the cluster is gone
          Object.assign(state, { ...emptyState(), nodes: [] });
          return;
        }
      }
      for (const n of state.nodes) if (n.name === nodeName) n.kubeletRunning = false;
      forgetRunningKubelet(state, nodeName);
    });
  } else {
    say('[reset] WARNING: no cluster directory is configured; the etcd member (if any) was not removed');
  }

  if (hasEtcd) {
    cleanHostDir(env, etcdDataDir);
    say(`[reset] Deleted contents of the etcd data directory: ${etcdDataDir}`);
  }
  say('[reset] Stopping the kubelet service');
  say('[reset] Unmounting mounted directories in "/var/lib/kubelet"');
  const dirs = ['/etc/kubernetes/manifests', '/var/lib/kubelet', certsDir];
  for (const d of dirs) cleanHostDir(env, d);
  stopStandinApiServer(env);
  say(`[reset] Deleting contents of directories: [${dirs.join(' ')}]`);
  const files = KUBECONFIG_FILES.map((f) => `/etc/kubernetes/${f}`);
  for (const f of files) removeHostPath(env, f);
  say(`[reset] Deleting files: [${files.join(' ')}]`);
  if (flags.bool('cleanup-tmp-dir') || resetConfig?.cleanupTmpDir) {
    removeHostPath(env, '/etc/kubernetes/tmp');
  }
  env.out(
    [
      '',
      'The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d',
      '',
      'The reset process does not reset or clean up iptables rules or IPVS tables.',
      'If you wish to reset iptables, you must do so manually by using the "iptables" command.',
      '',
      'If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)',
      "to reset your system's IPVS tables.",
      '',
      'The reset process does not clean your kubeconfig files and you must remove them manually.',
      'Please, check the contents of the $HOME/.kube/config file.',
      '',
    ].join('\n'),
  );
  return nodeName;
}
