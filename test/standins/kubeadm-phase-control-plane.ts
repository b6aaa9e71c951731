import { readState, updateState } from './cluster-state.js';
import { DEFAULT_BIND_PORT, resolveCluster } from './cluster-params.js';
import { GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { writeHostFile } from './host-files.js';
import { detectHostIp, kubeadmError, loadConfigFile, phaseError } from './kubeadm-common.js';
import { externalEtcdChecks } from './kubeadm-external-etcd.js';
import { resolveKubernetesVersion } from './kubeadm-init.js';
import { requireAdmin } from './kubeadm-token.js';
import { useKubeconfig } from './kubeconfig.js';
import { DNS1123_SUBDOMAIN_MESSAGE, isDns1123Subdomain } from './k8s-values.js';
import { aggregate, validateNodeRegistration } from './kubeadm-validate.js';
import { MANIFESTS_DIR, renderStaticPods } from './node-files.js';
import { runChecks } from './preflight.js';
import { STANDIN_MARK, type StandinEnv } from './standin-env.js';

/**
 * The kubeadm STAND-IN's `init phase control-plane apiserver --config F` and `init phase
 * upload-config kubeadm --config F`: what kctl runs on a running control plane when the API servers'
 * etcd endpoints change. The config is decoded and validated as `init` does; the manifest is
 * rendered by the same code as init's; the upload replaces the ClusterConfiguration of the
 * cluster's kubeadm-config "ConfigMap" (state.json).
 */

const PHASE_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'config', kind: 'string' },
  { name: 'kubeconfig', kind: 'string' },
  { name: 'kubernetes-version', kind: 'string' },
  { name: 'dry-run', kind: 'bool' },
];
const ADMIN_CONF = '/etc/kubernetes/admin.conf';
const COMPONENTS = ['apiserver', 'controller-manager', 'scheduler', 'all'];

function loadPhaseConfig(env: StandinEnv, args: string[], command: string) {
  const flags = parseFlags(args, PHASE_FLAGS, command);
  if (flags.positionals.length > 0)
    throw kubeadmError(`unknown command "${flags.positionals[0] ?? ''}" for "${command}"`);
  const path = flags.string('config');
  if (!path) throw kubeadmError(`${STANDIN_MARK}: ${command} needs --config (kctl always passes one)`);
  const kubeadm = env.version();
  const loaded = loadConfigFile(env, path, 'init', kubeadm);
  if (loaded.cluster === undefined)
    throw kubeadmError(`${STANDIN_MARK}: ${path} holds no ClusterConfiguration`);
  return { flags, loaded, cluster: loaded.cluster, kubeadm };
}

/** `kubeadm init phase control-plane apiserver` (other components are not modelled). */
export function kubeadmPhaseControlPlane(env: StandinEnv, args: string[]): void {
  const [component = '', ...rest] = args;
  if (component !== 'apiserver')
    throw kubeadmError(
      COMPONENTS.includes(component)
        ? `${STANDIN_MARK}: "init phase control-plane ${component}" is not implemented by the stand-in (only apiserver)`
        : `unknown command "${component}" for "kubeadm init phase control-plane"`,
    );
  const command = 'kubeadm init phase control-plane apiserver';
  const { loaded, cluster: clusterConfig, kubeadm } = loadPhaseConfig(env, rest, command);
  const target = resolveKubernetesVersion(env, clusterConfig.kubernetesVersion, kubeadm);
  const cluster = resolveCluster(clusterConfig, target);
  const nr = loaded.init?.nodeRegistration ?? {};
  const nodeName = nr.name ?? env.defaultNodeName();
  env.node = nodeName;
  // init's node checks: the name becomes the pod's node and the manifest's annotations
  if (!isDns1123Subdomain(nodeName))
    throw kubeadmError(`nodeRegistration.name: Invalid value: "${nodeName}": ${DNS1123_SUBDOMAIN_MESSAGE}`);
  const nrErrors = validateNodeRegistration({ ...nr, name: nodeName });
  if (nrErrors.length > 0) throw kubeadmError(aggregate(nrErrors));
  const advertiseAddress = loaded.init?.localAPIEndpoint?.advertiseAddress || detectHostIp(env);
  const bindPort = loaded.init?.localAPIEndpoint?.bindPort || DEFAULT_BIND_PORT;
  // the API server could not reach etcd without its client pair: refused as init's preflight does
  runChecks(env, externalEtcdChecks(env, cluster), new Set(), 'control-plane');
  const manifests = renderStaticPods(
    cluster,
    { nodeName, advertiseAddress, bindPort },
    { initialCluster: '', state: 'existing' },
  );
  const manifest = manifests['kube-apiserver.yaml'];
  if (manifest === undefined)
    throw phaseError('control-plane', `${STANDIN_MARK}: no kube-apiserver manifest`);
  env.out(`[control-plane] Using manifest folder "${MANIFESTS_DIR}"\n`);
  env.out('[control-plane] Creating static Pod manifest for "kube-apiserver"\n');
  writeHostFile(env, `${MANIFESTS_DIR}/kube-apiserver.yaml`, manifest, 0o600);
}

/** `kubeadm init phase upload-config kubeadm`: the ClusterConfiguration into the kubeadm-config ConfigMap. */
export async function kubeadmPhaseUploadConfig(env: StandinEnv, args: string[]): Promise<void> {
  const [what = '', ...rest] = args;
  if (what !== 'kubeadm')
    throw kubeadmError(
      what === 'kubelet' || what === 'all'
        ? `${STANDIN_MARK}: "init phase upload-config ${what}" is not implemented by the stand-in (only kubeadm)`
        : `unknown command "${what}" for "kubeadm init phase upload-config"`,
    );
  const command = 'kubeadm init phase upload-config kubeadm';
  const { flags, cluster: clusterConfig, kubeadm } = loadPhaseConfig(env, rest, command);
  const target = resolveKubernetesVersion(env, clusterConfig.kubernetesVersion, kubeadm);
  const resolved = resolveCluster(clusterConfig, target);
  if (resolved.etcd.kind === 'external') externalEtcdChecks(env, resolved); // notes the endpoints
  const dir = env.clusterDir();
  const identity = useKubeconfig(env, flags.string('kubeconfig') ?? ADMIN_CONF, readState(dir), 'kubeadm');
  requireAdmin(identity, 'update', 'configmaps');
  await updateState(dir, (state) => {
    if (!state.cluster)
      throw phaseError('upload-config/kubeadm', `${STANDIN_MARK}: the cluster directory holds no cluster`);
    const was = state.cluster.clusterName;
    if (was !== resolved.clusterName)
      throw phaseError(
        'upload-config/kubeadm',
        `${STANDIN_MARK}: the config is for cluster "${resolved.clusterName}", the ConfigMap for "${was}"`,
      );
    state.cluster.clusterConfiguration = {
      ...clusterConfig,
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kubernetesVersion: target.raw,
    };
  });
  env.out(
    '[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace\n',
  );
}
