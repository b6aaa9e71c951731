import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { readState, updateState, writeSignerKey } from './cluster-state.js';
import { clusterEndpoint, DEFAULT_BIND_PORT, DEFAULT_CRI_SOCKET, resolveCluster } from './cluster-params.js';
import { checkMixedWithConfig, GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { readHostFile, writeHostFile } from './host-files.js';
import { externalEtcdChecks } from './kubeadm-external-etcd.js';
import {
  addToken,
  DEFAULT_TOKEN_TTL_MS,
  detectHostIp,
  joinCommand,
  kubeadmError,
  loadConfigFile,
  newTokenRecord,
  nodeLabels,
  purgeExpired,
  uploadCerts,
} from './kubeadm-common.js';
import {
  controlPlaneKubeconfigs,
  createControlPlaneCerts,
  createSharedCerts,
  renderControlPlaneKubeconfigs,
  SHARED_CERT_FILES,
  type PkiFiles,
} from './kubeadm-pki.js';
import type { ClusterConfiguration, InitConfiguration } from './kubeadm-types.js';
import {
  validateClusterConfiguration,
  validateInitConfiguration,
  validateNodeRegistration,
  aggregate,
} from './kubeadm-validate.js';
import {
  CERTIFICATE_KEY,
  DNS1123_SUBDOMAIN_MESSAGE,
  generateCertificateKey,
  isDns1123Subdomain,
  parseGoDuration,
  parseSemver,
  type Semver,
} from './k8s-values.js';
import {
  defaultedKubeProxyConfiguration,
  defaultedKubeletConfiguration,
  MANIFESTS_DIR,
  renderKubeletConfigYaml,
  renderKubeletFlags,
  renderStaticPods,
  STATIC_POD_NAMES,
} from './node-files.js';
import {
  dirAvailable,
  fileAvailable,
  fileContent,
  ignoreSet,
  kubeletVersionCheck,
  kubernetesVersionCheck,
  realRootChecks,
  runChecks,
  swapCheck,
  type Check,
} from './preflight.js';
import { kubeletRestartedByKubeadm, restartKubeletUnit } from './kubelet-run.js';
import { startStandinApiServer } from './apiserver.js';
import { caCertHashOf, prefetchKeys, type KeyAlgorithm } from './standin-pki.js';
import { STANDIN_MARK, type StandinEnv } from './standin-env.js';

/** `kubeadm init`: validates its configuration, runs the file-based preflight checks, and makes a real cluster CA. */

export const INIT_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'config', kind: 'string' },
  { name: 'upload-certs', kind: 'bool' },
  { name: 'certificate-key', kind: 'string' },
  { name: 'ignore-preflight-errors', kind: 'stringSlice' },
  { name: 'skip-phases', kind: 'stringSlice' },
  { name: 'dry-run', kind: 'bool' },
  { name: 'node-name', kind: 'string' },
  { name: 'skip-token-print', kind: 'bool' },
  { name: 'skip-certificate-key-print', kind: 'bool' },
  { name: 'kubernetes-version', kind: 'string' },
  { name: 'control-plane-endpoint', kind: 'string' },
  { name: 'pod-network-cidr', kind: 'string' },
  { name: 'service-cidr', kind: 'string' },
  { name: 'service-dns-domain', kind: 'string' },
  { name: 'apiserver-advertise-address', kind: 'string' },
  { name: 'apiserver-bind-port', kind: 'string' },
  { name: 'apiserver-cert-extra-sans', kind: 'stringSlice' },
  { name: 'token', kind: 'string' },
  { name: 'token-ttl', kind: 'string' },
  { name: 'cri-socket', kind: 'string' },
  { name: 'image-repository', kind: 'string' },
  { name: 'cert-dir', kind: 'string' },
  { name: 'patches', kind: 'string' },
  { name: 'feature-gates', kind: 'string' },
];

const MIN_CONTROL_PLANE_OFFSET = 1;

/** The Kubernetes version to deploy: labels fall back to kubeadm's own version, as kubeadm does offline. */
export function resolveKubernetesVersion(
  env: StandinEnv,
  requested: string | undefined,
  kubeadm: Semver,
): Semver {
  let target: Semver | undefined;
  if (!requested || /^(stable|latest)/.test(requested)) {
    env.err(
      `W could not fetch a Kubernetes version from the internet: unable to get URL "https://dl.k8s.io/release/${requested ?? 'stable-1'}.txt" (${STANDIN_MARK}: no network)\n` +
        `W falling back to the local client version: ${kubeadm.raw}\n`,
    );
    target = kubeadm;
  } else {
    target = parseSemver(requested);
    if (!target) throw kubeadmError(`couldn't parse Kubernetes version "${requested}"`);
  }
  const min = `${kubeadm.major}.${kubeadm.minor - MIN_CONTROL_PLANE_OFFSET}.0`;
  if (
    target.major < kubeadm.major ||
    (target.major === kubeadm.major && target.minor < kubeadm.minor - MIN_CONTROL_PLANE_OFFSET)
  ) {
    throw kubeadmError(
      `this version of kubeadm only supports deploying clusters with the control plane version >= ${min}. Current version: ${requested ?? target.raw}`,
    );
  }
  return target;
}

/** Builds the configuration kubeadm would build from flags when there is no --config. */
function configFromFlags(flags: ReturnType<typeof parseFlags>): {
  init: InitConfiguration;
  cluster: ClusterConfiguration;
} {
  const s = (n: string) => flags.string(n);
  const port = s('apiserver-bind-port');
  const init: InitConfiguration = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'InitConfiguration',
    ...(s('token')
      ? { bootstrapTokens: [{ token: s('token') ?? '', ...(s('token-ttl') ? { ttl: s('token-ttl') } : {}) }] }
      : {}),
    nodeRegistration: {
      ...(s('node-name') ? { name: s('node-name') } : {}),
      ...(s('cri-socket') ? { criSocket: s('cri-socket') } : {}),
    },
    localAPIEndpoint: {
      ...(s('apiserver-advertise-address') ? { advertiseAddress: s('apiserver-advertise-address') } : {}),
      ...(port ? { bindPort: Number(port) } : {}),
    },
    ...(s('certificate-key') ? { certificateKey: s('certificate-key') } : {}),
  };
  const cluster: ClusterConfiguration = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'ClusterConfiguration',
    ...(s('kubernetes-version') ? { kubernetesVersion: s('kubernetes-version') } : {}),
    ...(s('control-plane-endpoint') ? { controlPlaneEndpoint: s('control-plane-endpoint') } : {}),
    networking: {
      ...(s('pod-network-cidr') ? { podSubnet: s('pod-network-cidr') } : {}),
      ...(s('service-cidr') ? { serviceSubnet: s('service-cidr') } : {}),
      ...(s('service-dns-domain') ? { dnsDomain: s('service-dns-domain') } : {}),
    },
    ...(s('image-repository') ? { imageRepository: s('image-repository') } : {}),
    ...(s('cert-dir') ? { certificatesDir: s('cert-dir') } : {}),
    ...(flags.list('apiserver-cert-extra-sans').length > 0
      ? { apiServer: { certSANs: flags.list('apiserver-cert-extra-sans') } }
      : {}),
  };
  return { init, cluster };
}

function writeFiles(
  env: StandinEnv,
  dir: string,
  files: Record<string, string>,
  modeFor: (name: string) => number,
): void {
  for (const [name, content] of Object.entries(files))
    writeHostFile(env, `${dir}/${name}`, content, modeFor(name));
}

export const keyMode = (name: string): number => (name.endsWith('.key') ? 0o600 : 0o644);

export function ipForwardChecks(env: StandinEnv, kubeadm: Semver, ipv6: boolean): Check[] {
  const checks = [
    ipv6
      ? fileContent(env, '/proc/sys/net/ipv6/conf/default/forwarding', '1')
      : fileContent(env, '/proc/sys/net/ipv4/ip_forward', '1'),
  ];
  // before 1.30 kubeadm also required the bridge netfilter sysctls (k/k PR #123464 removed them)
  if (kubeadm.minor < 30) {
    checks.unshift(
      fileContent(
        env,
        ipv6
          ? '/proc/sys/net/bridge/bridge-nf-call-ip6tables'
          : '/proc/sys/net/bridge/bridge-nf-call-iptables',
        '1',
      ),
    );
  }
  return checks;
}

export async function kubeadmInit(env: StandinEnv, args: string[]): Promise<string> {
  const flags = parseFlags(args, INIT_FLAGS, 'kubeadm init');
  checkMixedWithConfig(flags);
  if (flags.positionals.length > 0)
    throw kubeadmError(`unknown command "${flags.positionals[0] ?? ''}" for "kubeadm init"`);
  const kubeadm = env.version();
  const configPath = flags.string('config');
  const loaded = configPath ? loadConfigFile(env, configPath, 'init', kubeadm) : undefined;
  const fromFlags = configPath ? undefined : configFromFlags(flags);
  const init: InitConfiguration = loaded?.init ??
    fromFlags?.init ?? { apiVersion: 'kubeadm.k8s.io/v1beta4', kind: 'InitConfiguration' };
  const clusterConfig: ClusterConfiguration = loaded?.cluster ??
    fromFlags?.cluster ?? { apiVersion: 'kubeadm.k8s.io/v1beta4', kind: 'ClusterConfiguration' };
  if (fromFlags) {
    const errors = [
      ...validateInitConfiguration(init),
      ...validateClusterConfiguration(clusterConfig, kubeadm),
    ];
    if (errors.length > 0) throw kubeadmError(aggregate(errors));
  }

  const target = resolveKubernetesVersion(env, clusterConfig.kubernetesVersion, kubeadm);
  const cluster = resolveCluster(clusterConfig, target);
  const nr = init.nodeRegistration ?? {};
  const nodeName = nr.name ?? env.defaultNodeName();
  env.node = nodeName;
  if (!isDns1123Subdomain(nodeName))
    throw kubeadmError(`nodeRegistration.name: Invalid value: "${nodeName}": ${DNS1123_SUBDOMAIN_MESSAGE}`);
  const nrErrors = validateNodeRegistration({ ...nr, name: nodeName });
  if (nrErrors.length > 0) throw kubeadmError(aggregate(nrErrors));
  const advertiseAddress = init.localAPIEndpoint?.advertiseAddress || detectHostIp(env);
  const bindPort = init.localAPIEndpoint?.bindPort || DEFAULT_BIND_PORT;
  const node = { nodeName, advertiseAddress, bindPort };
  const endpoint = clusterEndpoint(cluster, advertiseAddress, bindPort);
  // --skip-phases (over skipPhases): the phases whose effect the stand-in models
  const skipPhases = flags.has('skip-phases') ? flags.list('skip-phases') : (init.skipPhases ?? []);
  const skipped = (phase: string): boolean =>
    skipPhases.some((p) => p === phase || phase.startsWith(`${p}/`));
  const uploadCertsWanted = flags.bool('upload-certs') && !skipped('upload-certs');
  const certificateKey = init.certificateKey ?? generateCertificateKey();
  if (uploadCertsWanted && !CERTIFICATE_KEY.test(certificateKey.toLowerCase())) {
    throw kubeadmError(
      `error decoding certificate key: the certificate key must be a hex encoded string of 32 bytes (64 hex characters)`,
    );
  }

  const clusterDir = env.clusterDir();
  const existing = readState(clusterDir).cluster;
  if (existing) {
    throw kubeadmError(
      `${STANDIN_MARK}: the cluster directory ${clusterDir} already holds a cluster initialised by node "${existing.initializedBy}"; ` +
        'a second `kubeadm init` would create a second, separate cluster',
    );
  }

  const say = (line: string) => env.out(`${line}\n`);
  say(`[init] Using Kubernetes version: ${target.raw}`);
  say('[preflight] Running pre-flight checks');
  const kubeletAnswer = env.kubeletVersion();
  const checks: Check[] = [
    ...realRootChecks(env, true),
    kubernetesVersionCheck(target, kubeadm),
    ...STATIC_POD_NAMES.filter((n) => n !== 'etcd' || cluster.etcd.kind === 'local').map((n) =>
      fileAvailable(env, `${MANIFESTS_DIR}/${n}.yaml`),
    ),
    ...(cluster.etcd.kind === 'local' ? [dirAvailable(env, cluster.etcd.dataDir)] : []),
    ...externalEtcdChecks(env, cluster),
    ...ipForwardChecks(env, kubeadm, isIP(advertiseAddress) === 6),
    swapCheck(env),
    kubeletVersionCheck(kubeletAnswer, kubeadm, target),
  ];
  const ignore = ignoreSet([flags.list('ignore-preflight-errors'), nr.ignorePreflightErrors ?? []]);
  if (!skipped('preflight')) runChecks(env, checks, ignore);
  if (flags.bool('dry-run') || init.dryRun) {
    say('[dryrun] Would write certificates, kubeconfig files and static Pod manifests; nothing was changed');
    return nodeName;
  }
  // 4 CAs and keys, 7 leaf certificates with local etcd, 5 kubeconfigs: all generated at once
  prefetchKeys(cluster.encryptionAlgorithm, cluster.etcd.kind === 'local' ? 16 : 12);
  say('[preflight] Pulling images required for setting up a Kubernetes cluster');
  say(`[preflight] (${STANDIN_MARK}: no images are pulled)`);

  const now = env.now();
  const validity = {
    now,
    certMs: clusterConfig.certificateValidityPeriod
      ? parseGoDuration(clusterConfig.certificateValidityPeriod)
      : undefined,
    caMs: clusterConfig.caCertificateValidityPeriod
      ? parseGoDuration(clusterConfig.caCertificateValidityPeriod)
      : undefined,
  };
  const alg: KeyAlgorithm = cluster.encryptionAlgorithm;
  const certsDir = cluster.certificatesDir;
  say(`[certs] Using certificateDir folder "${certsDir}"`);
  // a CA the operator put in place beforehand is used as is (external CA mode); the rest is generated
  const shared: PkiFiles = await createSharedCerts(alg, validity);
  // external etcd: kubeadm makes no etcd CA; the operator's etcd/ca.crt stays as it is
  if (cluster.etcd.kind === 'external')
    for (const name of Object.keys(shared)) if (name.startsWith('etcd/')) delete shared[name];
  for (const name of SHARED_CERT_FILES) {
    if (cluster.etcd.kind === 'external' && name.startsWith('etcd/')) continue;
    const existingFile = readHostFile(env, `${certsDir}/${name}`);
    if (existingFile !== undefined) {
      shared[name] = existingFile;
      if (name.endsWith('.crt'))
        say(`[certs] Using existing ${name.replace('.crt', '')} certificate authority`);
    }
  }
  const own = await createControlPlaneCerts(shared, cluster, node, alg, kubeadm.minor, validity);
  for (const name of [
    'ca',
    'apiserver',
    'apiserver-kubelet-client',
    'front-proxy-ca',
    'front-proxy-client',
    'etcd/ca',
    'etcd/server',
    'etcd/peer',
    'etcd/healthcheck-client',
    'apiserver-etcd-client',
  ]) {
    if (`${name}.crt` in own || `${name}.crt` in shared)
      say(`[certs] Generating "${name}" certificate and key`);
  }
  say('[certs] Generating "sa" key and public key');
  writeFiles(env, certsDir, { ...shared, ...own }, keyMode);

  say('[kubeconfig] Using kubeconfig folder "/etc/kubernetes"');
  const specs = controlPlaneKubeconfigs(nodeName, kubeadm.minor, true);
  const kubeconfigs = await renderControlPlaneKubeconfigs(specs, shared, cluster, node, alg, validity);
  for (const s of specs) say(`[kubeconfig] Writing "${s.file}" kubeconfig file`);
  writeFiles(env, '/etc/kubernetes', kubeconfigs, () => 0o600);

  const etcdMemberId = randomBytes(8).toString('hex');
  const manifests = renderStaticPods(cluster, node, {
    initialCluster: `${nodeName}=https://${advertiseAddress.includes(':') ? `[${advertiseAddress}]` : advertiseAddress}:2380`,
    state: 'new',
  });
  if (cluster.etcd.kind === 'local')
    say(`[etcd] Creating static Pod manifest for local etcd in "${MANIFESTS_DIR}"`);
  say(`[control-plane] Using manifest folder "${MANIFESTS_DIR}"`);
  for (const n of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
    say(`[control-plane] Creating static Pod manifest for "${n}"`);
  writeFiles(env, MANIFESTS_DIR, manifests, () => 0o600);

  const kubeletConfig = defaultedKubeletConfiguration(loaded?.kubelet, cluster);
  const kubeProxyConfig = defaultedKubeProxyConfiguration(loaded?.kubeProxy, cluster);
  say(
    '[kubelet-start] Writing kubelet environment file with flags to file "/var/lib/kubelet/kubeadm-flags.env"',
  );
  writeHostFile(
    env,
    '/var/lib/kubelet/kubeadm-flags.env',
    renderKubeletFlags({
      criSocket: nr.criSocket ?? DEFAULT_CRI_SOCKET,
      nodeName,
      hostname: env.defaultNodeName(),
      extraArgs: nr.kubeletExtraArgs ?? [],
    }),
    0o644,
  );
  say('[kubelet-start] Writing kubelet configuration to file "/var/lib/kubelet/config.yaml"');
  writeHostFile(env, '/var/lib/kubelet/config.yaml', renderKubeletConfigYaml(kubeletConfig), 0o644);
  say('[kubelet-start] Starting the kubelet');
  // what etcd itself would write once the kubelet starts it: a later init sees a non-empty data dir
  if (cluster.etcd.kind === 'local') {
    writeHostFile(
      env,
      `${cluster.etcd.dataDir}/member/${STANDIN_MARK.replace(' ', '-')}`,
      `member ${etcdMemberId}\n`,
      0o600,
    );
  }
  say(
    `[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory "${MANIFESTS_DIR}"`,
  );
  say('[api-check] The API server is healthy');

  const caCertPem = shared['ca.crt'] ?? '';
  const caHash = caCertHashOf(caCertPem);
  const configured = init.bootstrapTokens ?? [];
  const tokens =
    configured.length === 0
      ? [newTokenRecord({ ttlMs: DEFAULT_TOKEN_TTL_MS, now })]
      : configured.map((bt) =>
          newTokenRecord({
            token: bt.token,
            ttlMs: bt.expires
              ? Date.parse(bt.expires) - now
              : bt.ttl !== undefined
                ? (parseGoDuration(bt.ttl) ?? DEFAULT_TOKEN_TTL_MS)
                : DEFAULT_TOKEN_TTL_MS,
            now,
            usages: bt.usages,
            groups: bt.groups,
            description: bt.description,
          }),
        );
  let kubeletRestarted = false;
  await updateState(clusterDir, (state) => {
    if (state.cluster) {
      throw kubeadmError(
        `${STANDIN_MARK}: another kubeadm init finished first (node "${state.cluster.initializedBy}")`,
      );
    }
    purgeExpired(state, now);
    state.cluster = {
      initializedBy: nodeName,
      initializedAt: now,
      kubernetesVersion: target.raw,
      controlPlaneEndpoint: endpoint,
      stableEndpoint: cluster.controlPlaneEndpoint !== undefined,
      clusterName: cluster.clusterName,
      caCertPem,
      caCertHash: caHash,
      clusterConfiguration: {
        ...clusterConfig,
        apiVersion: 'kubeadm.k8s.io/v1beta4',
        kubernetesVersion: target.raw,
      },
      kubeletConfiguration: kubeletConfig,
      kubeProxyConfiguration: kubeProxyConfig,
      localEtcd: cluster.etcd.kind === 'local',
    };
    state.nodes = state.nodes.filter((n) => n.name !== nodeName);
    kubeletRestarted = kubeletRestartedByKubeadm(
      state,
      nodeName,
      'version' in kubeletAnswer ? kubeletAnswer.version.raw : kubeadm.raw,
      now,
    );
    state.nodes.push({
      name: nodeName,
      hostRoot: env.hostRoot,
      controlPlane: true,
      // what the kubelet will report; with the check ignored and no kubelet, kubeadm's own version
      kubeletVersion: 'version' in kubeletAnswer ? kubeletAnswer.version.raw : kubeadm.raw,
      kubeletRunning: true,
      unschedulable: false,
      taints: nr.taints ?? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
      labels: nodeLabels(nodeName, true),
      internalIP: advertiseAddress,
      apiEndpoint: `${advertiseAddress.includes(':') ? `[${advertiseAddress}]` : advertiseAddress}:${bindPort}`,
      createdAt: now,
    });
    state.etcdMembers =
      cluster.etcd.kind === 'local'
        ? [
            {
              id: etcdMemberId,
              name: nodeName,
              peerURL: `https://${advertiseAddress}:2380`,
              clientURL: `https://${advertiseAddress}:2379`,
            },
          ]
        : [];
    for (const t of tokens) addToken(state, t);
    if (uploadCertsWanted)
      uploadCerts(
        state,
        Object.fromEntries(
          Object.entries(shared).filter(([n]) => cluster.etcd.kind === 'local' || !n.startsWith('etcd/')),
        ),
        certificateKey,
        now,
      );
  });
  // a restarted kubelet runs the new static pods: the stand-in API server answers from now on
  if (!restartKubeletUnit(env) && kubeletRestarted) startStandinApiServer(env);
  // the controller-manager's CSR signer, reachable from every node as the API server is: joining
  // kubelets on hosts that cannot read this host's files (the fleet lab) are signed with it
  if (shared['ca.key'] !== undefined) writeSignerKey(clusterDir, shared['ca.key']);
  say(
    '[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace',
  );
  say(
    '[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the kubelets in the cluster',
  );
  if (uploadCertsWanted) {
    say('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace');
    say('[upload-certs] Using certificate key:');
    say(flags.bool('skip-certificate-key-print') ? '<value withheld>' : certificateKey);
  } else {
    say('[upload-certs] Skipping phase. Please see --upload-certs');
  }
  say(
    `[mark-control-plane] Marking the node ${nodeName} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]`,
  );
  const taints = nr.taints ?? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }];
  if (taints.length > 0) {
    say(
      `[mark-control-plane] Marking the node ${nodeName} as control-plane by adding the taints [${taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(' ')}]`,
    );
  }
  const token = tokens[0]?.token ?? '';
  say(`[bootstrap-token] Using token: ${flags.bool('skip-token-print') ? '<value withheld>' : token}`);
  say('[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles');
  if (!skipped('addon/coredns') && !clusterConfig.dns?.disabled)
    say('[addons] Applied essential addon: CoreDNS');
  if (!skipped('addon/kube-proxy') && !clusterConfig.proxy?.disabled)
    say('[addons] Applied essential addon: kube-proxy');
  const shownToken = flags.bool('skip-token-print') ? '<value withheld>' : token;
  env.out(
    [
      '',
      'Your Kubernetes control-plane has initialized successfully!',
      '',
      'To start using your cluster, you need to run the following as a regular user:',
      '',
      '  mkdir -p $HOME/.kube',
      '  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config',
      '  sudo chown $(id -u):$(id -g) $HOME/.kube/config',
      '',
      'Alternatively, if you are the root user, you can run:',
      '',
      '  export KUBECONFIG=/etc/kubernetes/admin.conf',
      '',
      'You should now deploy a pod network to the cluster.',
      'Run "kubectl apply -f [podnetwork].yaml" with one of the options listed at:',
      '  https://kubernetes.io/docs/concepts/cluster-administration/addons/',
      '',
      ...(cluster.controlPlaneEndpoint
        ? [
            uploadCertsWanted
              ? 'You can now join any number of control-plane nodes running the following command on each as root:'
              : 'You can now join any number of control-plane nodes by copying certificate authorities\nand service account keys on each node and then running the following as root:',
            '',
            `  ${joinCommand(endpoint, shownToken, caHash, uploadCertsWanted ? (flags.bool('skip-certificate-key-print') ? '<value withheld>' : certificateKey) : undefined).replaceAll('\n', '\n  ')}${uploadCertsWanted ? '' : ' \\\n\t--control-plane'}`,
            '',
            ...(uploadCertsWanted
              ? [
                  'Please note that the certificate-key gives access to cluster sensitive data, keep it secret!',
                  'As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use',
                  '"kubeadm init phase upload-certs --upload-certs" to reload certs afterward.',
                  '',
                ]
              : []),
          ]
        : []),
      'Then you can join any number of worker nodes by running the following on each as root:',
      '',
      joinCommand(endpoint, shownToken, caHash),
      '',
    ].join('\n'),
  );
  return nodeName;
}
