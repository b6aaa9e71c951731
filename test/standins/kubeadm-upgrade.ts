import { readState, updateState, type ClusterRecord, type ClusterState } from './cluster-state.js';
import { resolveCluster } from './cluster-params.js';
import { checkMixedWithConfig, GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { hostExists, writeHostFile } from './host-files.js';
import { useKubeconfig } from './kubeconfig.js';
import { kubeadmError, loadConfigFile, phaseError, reportedKubeletVersion } from './kubeadm-common.js';
import { joinedNodeName } from './node-identity.js';
import { readAnswer } from './kubeadm-reset.js';
import { requireAdmin } from './kubeadm-token.js';
import { ClusterConfigurationV4 } from './kubeadm-types.js';
import { compareSemver, parseSemver, splitHostPort, type Semver } from './k8s-values.js';
import { MANIFESTS_DIR, renderKubeletConfigYaml, renderStaticPods } from './node-files.js';
import { STANDIN_MARK, type StandinEnv } from './standin-env.js';

/**
 * `kubeadm upgrade plan | apply | node` with kubeadm's version policy: at most one minor at a
 * time, never beyond kubeadm's own version, no downgrade, kubelets no more than 3 minors behind.
 */

const UPGRADE_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'config', kind: 'string' },
  { name: 'kubeconfig', kind: 'string' },
  { name: 'yes', kind: 'bool', short: 'y' },
  { name: 'force', kind: 'bool', short: 'f' },
  { name: 'dry-run', kind: 'bool' },
  { name: 'etcd-upgrade', kind: 'bool' },
  { name: 'certificate-renewal', kind: 'bool' },
  { name: 'ignore-preflight-errors', kind: 'stringSlice' },
  { name: 'allow-experimental-upgrades', kind: 'bool' },
  { name: 'allow-release-candidate-upgrades', kind: 'bool' },
  { name: 'print-config', kind: 'bool' },
  { name: 'patches', kind: 'string' },
  { name: 'skip-phases', kind: 'stringSlice' },
  { name: 'output', kind: 'string', short: 'o' },
];

const short = (v: Semver): string => `${v.major}.${v.minor}.${v.patch}`;

/** EnforceVersionPolicies: mandatory errors, and errors --force may skip. */
export function versionPolicy(
  target: Semver,
  cluster: Semver,
  kubeadm: Semver,
  kubelets: readonly Semver[],
): { mandatory: string[]; skippable: string[] } {
  const mandatory: string[] = [];
  const skippable: string[] = [];
  if (target.major !== cluster.major || target.minor > cluster.minor + 1) {
    mandatory.push(
      `Specified version to upgrade to "${target.raw}" is too high; kubeadm can upgrade only 1 minor version at a time`,
    );
  }
  if (target.major === cluster.major && target.minor < cluster.minor) {
    mandatory.push(
      `Specified version to upgrade to "${target.raw}" is at least one minor release lower than the minimum supported control plane version "${short(cluster)}". Please specify a higher version to upgrade to`,
    );
  } else if (compareSemver(target, cluster) < 0) {
    skippable.push(
      `Specified version to upgrade to "${target.raw}" is equal to or lower than the cluster version "${cluster.raw}". Downgrading is not supported yet`,
    );
  }
  if (compareSemver(target, kubeadm) > 0 && (target.minor > kubeadm.minor || target.patch > kubeadm.patch)) {
    skippable.push(
      `Specified version to upgrade to "${target.raw}" is higher than the kubeadm version "${kubeadm.raw}". Upgrade kubeadm first using the tool you used to install kubeadm`,
    );
  }
  const tooOld = kubelets.filter((k) => k.minor < target.minor - 3).map((k) => k.raw);
  if (tooOld.length > 0) {
    skippable.push(
      `There are kubelets in this cluster that are too old that have these versions [${[...new Set(tooOld)].join(' ')}]`,
    );
  }
  return { mandatory, skippable };
}

function rewriteControlPlane(
  env: StandinEnv,
  record: ClusterRecord,
  target: Semver,
  nodeName: string,
  state: ClusterState,
): void {
  const cc = ClusterConfigurationV4.parse({ ...record.clusterConfiguration, kubernetesVersion: target.raw });
  const cluster = resolveCluster(cc, target);
  const node = state.nodes.find((n) => n.name === nodeName);
  const ep = node?.apiEndpoint ? splitHostPort(node.apiEndpoint) : undefined;
  const params = {
    nodeName,
    advertiseAddress: ep?.host ?? node?.internalIP ?? '127.0.0.1',
    bindPort: ep?.port ?? 6443,
  };
  const initialCluster = state.etcdMembers.map((m) => `${m.name}=${m.peerURL}`).join(',');
  const manifests = renderStaticPods(cluster, params, {
    initialCluster,
    state: record.initializedBy === nodeName && state.etcdMembers.length <= 1 ? 'new' : 'existing',
  });
  for (const [file, content] of Object.entries(manifests)) {
    if (hostExists(env, `${MANIFESTS_DIR}/${file}`))
      writeHostFile(env, `${MANIFESTS_DIR}/${file}`, content, 0o600);
  }
}

export async function kubeadmUpgrade(env: StandinEnv, args: string[]): Promise<string | undefined> {
  const [sub = '', ...rest] = args;
  if (!['plan', 'apply', 'node'].includes(sub))
    throw kubeadmError(`unknown command "${sub}" for "kubeadm upgrade"`);
  const flags = parseFlags(rest, UPGRADE_FLAGS, `kubeadm upgrade ${sub}`);
  checkMixedWithConfig(flags);
  const kubeadm = env.version();
  const configPath = flags.string('config');
  const upgradeConfig = configPath ? loadConfigFile(env, configPath, 'upgrade', kubeadm).upgrade : undefined;
  const dir = env.clusterDir();
  const snapshot = readState(dir);
  const joined = hostExists(env, '/etc/kubernetes/kubelet.conf');
  const kubeconfig =
    flags.string('kubeconfig') ??
    (sub === 'node' && !hostExists(env, '/etc/kubernetes/admin.conf')
      ? '/etc/kubernetes/kubelet.conf'
      : '/etc/kubernetes/admin.conf');
  const identity = useKubeconfig(env, kubeconfig, snapshot, 'kubeadm');
  const record = snapshot.cluster;
  if (!record) throw kubeadmError(`${STANDIN_MARK}: no cluster`);
  const clusterVersion = parseSemver(record.kubernetesVersion);
  if (!clusterVersion)
    throw kubeadmError(`${STANDIN_MARK}: unparseable cluster version ${record.kubernetesVersion}`);
  const say = (line: string) => env.out(`${line}\n`);
  const nodeName = joinedNodeName(env) ?? env.defaultNodeName();
  const isControlPlane = hostExists(env, `${MANIFESTS_DIR}/kube-apiserver.yaml`);
  const kubelets = snapshot.nodes
    .map((n) => parseSemver(reportedKubeletVersion(snapshot, n.name)))
    .filter((v): v is Semver => v !== undefined);

  if (sub === 'plan') {
    const candidate = flags.positionals[0] ? parseSemver(flags.positionals[0]) : kubeadm;
    if (!candidate) throw kubeadmError(`couldn't parse version "${flags.positionals[0] ?? ''}"`);
    say(
      '[upgrade/config] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...',
    );
    say(`[upgrade] Running cluster health checks`);
    say(`[upgrade] Fetching available versions to upgrade to`);
    say(`[upgrade/versions] Cluster version: ${clusterVersion.raw}`);
    say(`[upgrade/versions] kubeadm version: ${kubeadm.raw}`);
    const policy = versionPolicy(candidate, clusterVersion, kubeadm, kubelets);
    if (compareSemver(candidate, clusterVersion) <= 0 || policy.mandatory.length > 0) {
      say("\nAwesome, you're up-to-date! Enjoy!");
      return nodeName;
    }
    env.out(
      [
        '',
        "Components that must be upgraded manually after you have upgraded the control plane with 'kubeadm upgrade apply':",
        'COMPONENT   NODE   CURRENT   TARGET',
        ...snapshot.nodes.map(
          (n) => `kubelet     ${n.name}   ${reportedKubeletVersion(snapshot, n.name)}   ${candidate.raw}`,
        ),
        '',
        'Upgrade to the latest version in the v' + `${candidate.major}.${candidate.minor} series:`,
        '',
        'COMPONENT                 NODE   CURRENT   TARGET',
        `kube-apiserver            ${record.initializedBy}   ${clusterVersion.raw}   ${candidate.raw}`,
        '',
        'You can now apply the upgrade by executing the following command:',
        '',
        `\tkubeadm upgrade apply ${candidate.raw}`,
        '',
      ].join('\n'),
    );
    return nodeName;
  }

  if (sub === 'apply') {
    requireAdmin(identity, 'update', 'configmaps');
    const requested = flags.positionals[0] ?? upgradeConfig?.apply?.kubernetesVersion;
    if (!requested)
      throw kubeadmError('missing one or more required arguments. Required arguments: [version]');
    const target = parseSemver(requested);
    if (!target) throw kubeadmError(`couldn't parse version "${requested}"`);
    if (!isControlPlane) {
      throw phaseError(
        'preflight',
        `couldn't find static Pod manifest "${MANIFESTS_DIR}/kube-apiserver.yaml": kubeadm upgrade apply must run on a control-plane node`,
      );
    }
    say('[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...');
    say('[preflight] Running pre-flight checks.');
    say(`[upgrade/version] You have chosen to change the cluster version to "${target.raw}"`);
    say(`[upgrade/versions] Cluster version: ${clusterVersion.raw}`);
    say(`[upgrade/versions] kubeadm version: ${kubeadm.raw}`);
    const policy = versionPolicy(target, clusterVersion, kubeadm, kubelets);
    const force = flags.bool('force') || upgradeConfig?.apply?.forceUpgrade === true;
    if (policy.mandatory.length > 0) {
      throw kubeadmError(
        `[upgrade/version] FATAL: the --version argument is invalid due to these fatal errors:\n\n${policy.mandatory.map((e) => `\t- ${e}\n`).join('')}\nPlease fix the misalignments highlighted above and try upgrading again`,
      );
    }
    if (policy.skippable.length > 0 && !force) {
      throw kubeadmError(
        `[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n${policy.skippable.map((e) => `\t- ${e}\n`).join('')}\nCan be bypassed if you pass the --force flag`,
      );
    }
    if (!flags.bool('yes')) {
      env.out('[upgrade] Are you sure you want to proceed? [y/N]: ');
      const answer = readAnswer().trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes')
        throw kubeadmError("won't proceed; the user didn't answer (Y|y) in order to continue");
    }
    if (flags.bool('dry-run') || upgradeConfig?.apply?.dryRun) {
      say(`[dryrun] Would upgrade the control plane to ${target.raw}; nothing was changed`);
      return nodeName;
    }
    await updateState(dir, (state) => {
      if (!state.cluster) throw kubeadmError(`${STANDIN_MARK}: the cluster went away`);
      state.cluster.kubernetesVersion = target.raw;
      state.cluster.clusterConfiguration = {
        ...state.cluster.clusterConfiguration,
        kubernetesVersion: target.raw,
      };
      rewriteControlPlane(env, state.cluster, target, nodeName, state);
      writeHostFile(
        env,
        '/var/lib/kubelet/config.yaml',
        renderKubeletConfigYaml(state.cluster.kubeletConfiguration),
        0o644,
      );
    });
    say(`[upgrade/staticpods] Writing new Static Pod manifests to "${MANIFESTS_DIR}"`);
    say('[upgrade] Backing up kubelet config file to /etc/kubernetes/tmp');
    say('[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!');
    say(`[upgrade/successful] SUCCESS! Your cluster was upgraded to "${target.raw}". Enjoy!`);
    say(
      "[upgrade/kubelet] Now that your control plane is upgraded, please proceed with upgrading your kubelets if you haven't already done so.",
    );
    return nodeName;
  }

  // upgrade node
  if (flags.positionals.length > 0)
    throw kubeadmError(`unknown command "${flags.positionals[0] ?? ''}" for "kubeadm upgrade node"`);
  if (!joined) {
    throw kubeadmError(
      `couldn't create a Kubernetes client from file "/etc/kubernetes/kubelet.conf": failed to load admin kubeconfig: open /etc/kubernetes/kubelet.conf: no such file or directory`,
    );
  }
  say('[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...');
  say('[preflight] Running pre-flight checks');
  if (isControlPlane) {
    if (
      compareSemver(kubeadm, clusterVersion) < 0 &&
      (kubeadm.minor < clusterVersion.minor || kubeadm.patch < clusterVersion.patch)
    ) {
      throw phaseError(
        'control-plane',
        `the kubeadm version "${kubeadm.raw}" is lower than the cluster version "${clusterVersion.raw}"; upgrade kubeadm on this node first`,
      );
    }
    say(
      '[upgrade] Upgrading your Static Pod-hosted control plane instance to version "' +
        clusterVersion.raw +
        '"...',
    );
    if (!(flags.bool('dry-run') || upgradeConfig?.node?.dryRun))
      rewriteControlPlane(env, record, clusterVersion, nodeName, snapshot);
    say('[upgrade] The control plane instance for this node was successfully upgraded!');
  } else {
    say('[upgrade] Skipping phase. Not a control plane node.');
  }
  if (!(flags.bool('dry-run') || upgradeConfig?.node?.dryRun)) {
    writeHostFile(
      env,
      '/var/lib/kubelet/config.yaml',
      renderKubeletConfigYaml(record.kubeletConfiguration),
      0o644,
    );
  }
  say('[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!');
  say('[upgrade] The configuration for this node was successfully upgraded!');
  say('[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.');
  return nodeName;
}
