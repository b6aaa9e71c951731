import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { readSignerKey, readState, updateState, type ClusterState } from './cluster-state.js';
import { DEFAULT_BIND_PORT, DEFAULT_CRI_SOCKET, resolveCluster } from './cluster-params.js';
import { checkMixedWithConfig, GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { readHostFile, writeHostFile } from './host-files.js';
import { externalEtcdChecks } from './kubeadm-external-etcd.js';
import { endpointOfServer, reachableEndpoints, renderKubeconfig } from './kubeconfig.js';
import {
  detectHostIp,
  downloadCerts,
  kubeadmError,
  liveToken,
  loadConfigFile,
  nodeIsReady,
  nodeLabels,
  phaseError,
  purgeExpired,
  readSharedCerts,
  tokenId,
} from './kubeadm-common.js';
import { ipForwardChecks, keyMode, resolveKubernetesVersion } from './kubeadm-init.js';
import {
  controlPlaneKubeconfigs,
  createControlPlaneCerts,
  renderControlPlaneKubeconfigs,
  type PkiFiles,
} from './kubeadm-pki.js';
import { ClusterConfigurationV4, type JoinConfiguration } from './kubeadm-types.js';
import { aggregate, validateJoinConfiguration } from './kubeadm-validate.js';
import {
  DNS1123_SUBDOMAIN_MESSAGE,
  isDns1123Subdomain,
  joinHostPort,
  parseSemver,
  splitHostPort,
} from './k8s-values.js';
import {
  MANIFESTS_DIR,
  renderKubeletConfigYaml,
  renderKubeletFlags,
  renderStaticPods,
  STATIC_POD_NAMES,
} from './node-files.js';
import {
  dirAvailable,
  fileAvailable,
  ignoreSet,
  kubeletVersionCheck,
  kubernetesVersionCheck,
  realRootChecks,
  runChecks,
  swapCheck,
} from './preflight.js';
import { caCertHashOf, issueCert, prefetchKeys } from './standin-pki.js';
import { cniConfig } from './cni.js';
import { kubeletRestartedByKubeadm, restartKubeletUnit } from './kubelet-run.js';
import { startStandinApiServer } from './apiserver.js';
import { STANDIN_MARK, type StandinEnv } from './standin-env.js';

/**
 * `kubeadm join` for workers and control planes: the preflight checks, token discovery with the CA
 * pin, download-certs with the certificate key, and the files and cluster records a join leaves.
 */

export const JOIN_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'config', kind: 'string' },
  { name: 'ignore-preflight-errors', kind: 'stringSlice' },
  { name: 'token', kind: 'string' },
  { name: 'discovery-token', kind: 'string' },
  { name: 'discovery-token-ca-cert-hash', kind: 'stringSlice' },
  { name: 'discovery-token-unsafe-skip-ca-verification', kind: 'bool' },
  { name: 'discovery-file', kind: 'string' },
  { name: 'tls-bootstrap-token', kind: 'string' },
  { name: 'control-plane', kind: 'bool' },
  { name: 'certificate-key', kind: 'string' },
  { name: 'apiserver-advertise-address', kind: 'string' },
  { name: 'apiserver-bind-port', kind: 'string' },
  { name: 'node-name', kind: 'string' },
  { name: 'cri-socket', kind: 'string' },
  { name: 'skip-phases', kind: 'stringSlice' },
  { name: 'dry-run', kind: 'bool' },
  { name: 'patches', kind: 'string' },
];

const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';
const KUBELET_CLIENT_PEM = '/var/lib/kubelet/pki/kubelet-client-current.pem';
const PREFLIGHT = 'preflight';
const IDENTITY = "couldn't validate the identity of the API Server";

function configFromFlags(flags: ReturnType<typeof parseFlags>): JoinConfiguration {
  const s = (n: string) => flags.string(n);
  const token = s('discovery-token') ?? s('token');
  const endpoint = flags.positionals[0];
  const port = s('apiserver-bind-port');
  return {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'JoinConfiguration',
    discovery: {
      ...(s('discovery-file')
        ? { file: { kubeConfigPath: s('discovery-file') ?? '' } }
        : {
            bootstrapToken: {
              ...(token ? { token } : {}),
              ...(endpoint ? { apiServerEndpoint: endpoint } : {}),
              caCertHashes: flags.list('discovery-token-ca-cert-hash'),
              unsafeSkipCAVerification: flags.bool('discovery-token-unsafe-skip-ca-verification'),
            },
          }),
      ...((s('tls-bootstrap-token') ?? s('token'))
        ? { tlsBootstrapToken: s('tls-bootstrap-token') ?? s('token') }
        : {}),
    },
    nodeRegistration: {
      ...(s('node-name') ? { name: s('node-name') } : {}),
      ...(s('cri-socket') ? { criSocket: s('cri-socket') } : {}),
    },
    ...(flags.bool('control-plane')
      ? {
          controlPlane: {
            localAPIEndpoint: {
              ...(s('apiserver-advertise-address')
                ? { advertiseAddress: s('apiserver-advertise-address') }
                : {}),
              ...(port ? { bindPort: Number(port) } : {}),
            },
            ...(s('certificate-key') ? { certificateKey: s('certificate-key') } : {}),
          },
        }
      : {}),
  };
}

/** pubkeypin.Set.Allow's checks of a --discovery-token-ca-cert-hash value. */
function checkPinFormat(pin: string): string | undefined {
  const parts = pin.split(':');
  if (parts.length !== 2) return 'invalid hash, expected "format:hex-value". Known format(s) are: sha256';
  const [format = '', value = ''] = parts;
  if (format.toLowerCase() !== 'sha256')
    return `unknown hash format "${format}". Known format(s) are: sha256`;
  if (value.length !== 64)
    return `expected a 32 byte SHA-256 hash, found ${Math.floor(value.length / 2)} bytes`;
  if (!/^[0-9a-fA-F]+$/.test(value)) return 'could not decode SHA-256 from hex: encoding/hex: invalid byte';
  return undefined;
}

/** Discovery: reach the API server, find the token's JWS signature, check the CA pin. */
function discover(env: StandinEnv, join: JoinConfiguration, state: ClusterState, now: number): void {
  const bt = join.discovery.bootstrapToken;
  if (bt) {
    const endpoint = (bt.apiServerEndpoint ?? '').toLowerCase();
    const hp = splitHostPort(endpoint);
    const normalised = hp?.port !== undefined ? joinHostPort(hp.host, hp.port) : endpoint;
    if (!state.cluster || !reachableEndpoints(state).includes(normalised)) {
      throw phaseError(
        PREFLIGHT,
        `${IDENTITY}: Get "https://${bt.apiServerEndpoint ?? ''}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s": dial tcp ${bt.apiServerEndpoint ?? ''}: connect: connection refused`,
      );
    }
    const token = liveToken(state, bt.token ?? '', now);
    if (!token || !token.usages.includes('signing')) {
      throw phaseError(
        PREFLIGHT,
        `${IDENTITY}: could not find a JWS signature in the cluster-info ConfigMap for token ID "${tokenId(bt.token ?? '')}"`,
      );
    }
    if (!bt.unsafeSkipCAVerification || (bt.caCertHashes ?? []).length > 0) {
      for (const pin of bt.caCertHashes ?? []) {
        const bad = checkPinFormat(pin);
        if (bad)
          throw phaseError(PREFLIGHT, `${IDENTITY}: invalid discovery token CA certificate hash: ${bad}`);
      }
      const pins = (bt.caCertHashes ?? []).map((p) => p.toLowerCase());
      if (!pins.includes(state.cluster.caCertHash)) {
        throw phaseError(
          PREFLIGHT,
          `${IDENTITY}: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "${state.cluster.caCertHash}" are pinned`,
        );
      }
    }
    return;
  }
  const file = join.discovery.file?.kubeConfigPath ?? '';
  const text = readHostFile(env, file);
  if (text === undefined)
    throw phaseError(
      PREFLIGHT,
      `${IDENTITY}: couldn't read ${file}: open ${file}: no such file or directory`,
    );
  const kc = parseYaml(text) as {
    clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
  } | null;
  const c = kc?.clusters?.[0]?.cluster;
  if (!state.cluster || !c?.server || !reachableEndpoints(state).includes(endpointOfServer(c.server))) {
    throw phaseError(
      PREFLIGHT,
      `${IDENTITY}: dial tcp ${c?.server ?? '<none>'}: connect: connection refused`,
    );
  }
  const ca = c['certificate-authority-data']
    ? Buffer.from(c['certificate-authority-data'], 'base64').toString()
    : '';
  let hash = '';
  try {
    hash = caCertHashOf(ca);
  } catch {
    hash = '';
  }
  if (hash !== state.cluster.caCertHash) {
    throw phaseError(
      PREFLIGHT,
      `${IDENTITY}: Get "${c.server}": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
    );
  }
}

/** The cluster CA key as a control plane's controller-manager holds it. */
function caKeyOfControlPlanes(state: ClusterState, certsDir: string): string | undefined {
  for (const n of state.nodes.filter((x) => x.controlPlane && x.kubeletRunning)) {
    try {
      return readFileSync(
        n.hostRoot === '/' ? `${certsDir}/ca.key` : joinPath(n.hostRoot, certsDir, 'ca.key'),
        'utf8',
      );
    } catch {
      // that control plane has no key (reset, or an external CA): try the next
    }
  }
  return undefined;
}

export async function kubeadmJoin(env: StandinEnv, args: string[]): Promise<string> {
  const flags = parseFlags(args, JOIN_FLAGS, 'kubeadm join');
  checkMixedWithConfig(flags);
  if (flags.has('config') && flags.positionals.length > 0) {
    throw kubeadmError(`can not mix '--config' with arguments [${flags.positionals.join(' ')}]`);
  }
  if (flags.positionals.length > 1)
    throw kubeadmError(`accepts at most 1 arg(s), received ${flags.positionals.length}`);
  const kubeadm = env.version();
  const configPath = flags.string('config');
  const join = configPath ? loadConfigFile(env, configPath, 'join', kubeadm).join : configFromFlags(flags);
  if (!join) throw kubeadmError('no JoinConfiguration kind was found in the YAML file');
  if (!configPath) {
    const errors = validateJoinConfiguration(join);
    if (errors.length > 0) throw kubeadmError(aggregate(errors));
  }
  const nr = join.nodeRegistration ?? {};
  const nodeName = nr.name ?? env.defaultNodeName();
  env.node = nodeName;
  if (!isDns1123Subdomain(nodeName))
    throw kubeadmError(`nodeRegistration.name: Invalid value: "${nodeName}": ${DNS1123_SUBDOMAIN_MESSAGE}`);
  const controlPlane = join.controlPlane !== undefined;
  const caCertPath = join.caCertPath ?? '/etc/kubernetes/pki/ca.crt';
  const ignore = ignoreSet([flags.list('ignore-preflight-errors'), nr.ignorePreflightErrors ?? []]);
  const say = (line: string) => env.out(`${line}\n`);
  const hostIp = detectHostIp(env);

  say('[preflight] Running pre-flight checks');
  const kubeletAnswer = env.kubeletVersion();
  runChecks(
    env,
    [
      ...realRootChecks(env, false),
      fileAvailable(env, KUBELET_CONF),
      fileAvailable(env, '/etc/kubernetes/bootstrap-kubelet.conf'),
      ...(controlPlane ? [] : [fileAvailable(env, caCertPath)]),
      ...ipForwardChecks(env, kubeadm, isIP(hostIp) === 6),
      swapCheck(env),
      kubeletVersionCheck(kubeletAnswer, kubeadm, undefined),
    ],
    ignore,
  );

  const clusterDir = env.clusterDir();
  const now = env.now();
  const snapshot = readState(clusterDir);
  purgeExpired(snapshot, now);
  discover(env, join, snapshot, now);
  const record = snapshot.cluster;
  if (!record) throw phaseError(PREFLIGHT, `${IDENTITY}: connection refused`);
  say('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...');
  say("[preflight] Use 'kubeadm init phase upload-config --config your-config.yaml' to re-upload it.");
  const clusterVersion = parseSemver(record.kubernetesVersion);
  if (!clusterVersion)
    throw kubeadmError(
      `${STANDIN_MARK}: the cluster records an unparseable version "${record.kubernetesVersion}"`,
    );
  const cluster = resolveCluster(ClusterConfigurationV4.parse(record.clusterConfiguration), clusterVersion);
  const advertiseAddress = join.controlPlane?.localAPIEndpoint?.advertiseAddress || hostIp;
  const bindPort = join.controlPlane?.localAPIEndpoint?.bindPort || DEFAULT_BIND_PORT;
  const node = { nodeName, advertiseAddress, bindPort };

  let shared: PkiFiles | undefined;
  if (controlPlane) {
    if (!record.stableEndpoint) {
      throw phaseError(
        PREFLIGHT,
        "\nOne or more conditions for hosting a new control plane instance is not satisfied.\n\nunable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint address\n\nPlease ensure that:\n* The cluster has a stable controlPlaneEndpoint address.\n* The certificates that must be shared among control plane instances are provided.\n",
      );
    }
    const certificateKey = join.controlPlane?.certificateKey;
    if (!certificateKey) {
      const onDisk = readSharedCerts(env, cluster.certificatesDir, cluster.etcd.kind === 'local');
      if ('missing' in onDisk) {
        throw phaseError(
          PREFLIGHT,
          `\nOne or more conditions for hosting a new control plane instance is not satisfied.\n\nfailure loading certificate for CA: couldn't load the certificate file ${onDisk.missing}: open ${onDisk.missing}: no such file or directory\n\nPlease ensure that:\n* The cluster has a stable controlPlaneEndpoint address.\n* The certificates that must be shared among control plane instances are provided.\n`,
        );
      }
      shared = onDisk;
    }
    say('[preflight] Running pre-flight checks before initializing the new control plane instance');
    resolveKubernetesVersion(env, record.kubernetesVersion, kubeadm);
    runChecks(
      env,
      [
        ...realRootChecks(env, true),
        kubernetesVersionCheck(clusterVersion, kubeadm),
        ...STATIC_POD_NAMES.filter((n) => n !== 'etcd' || cluster.etcd.kind === 'local').map((n) =>
          fileAvailable(env, `${MANIFESTS_DIR}/${n}.yaml`),
        ),
        ...(cluster.etcd.kind === 'local' ? [dirAvailable(env, cluster.etcd.dataDir)] : []),
        ...externalEtcdChecks(env, cluster),
      ],
      ignore,
    );
    if (certificateKey) {
      say(
        '[download-certs] Downloading the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace',
      );
      shared = downloadCerts(snapshot, certificateKey, now);
      say(`[download-certs] Saving the certificates to the folder: "${cluster.certificatesDir}"`);
    }
  }
  if (flags.bool('dry-run') || join.dryRun) {
    say(
      '[dryrun] Would write certificates, kubeconfig files and the kubelet configuration; nothing was changed',
    );
    return nodeName;
  }

  // a control plane's 7 certificates and 3 kubeconfigs (the kubelet makes its own ECDSA key)
  if (controlPlane) prefetchKeys(cluster.encryptionAlgorithm, cluster.etcd.kind === 'local' ? 10 : 6);
  // with the KubeletVersion check ignored and no kubelet to ask, assume kubeadm's own version
  const kubelet = 'version' in kubeletAnswer ? kubeletAnswer.version : kubeadm;
  if (kubelet.minor > clusterVersion.minor || kubelet.minor < clusterVersion.minor - 3) {
    throw phaseError(
      'kubelet-start',
      `the kubelet version "${kubelet.raw}" is not supported with the control plane version "${clusterVersion.raw}": a kubelet may be at most 3 minor versions older than the control plane and never newer`,
    );
  }
  const existingNode = snapshot.nodes.find((n) => n.name === nodeName);
  if (existingNode && nodeIsReady(snapshot, existingNode)) {
    throw phaseError(
      'kubelet-start',
      `a Node with name "${nodeName}" and status "Ready" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node`,
    );
  }
  const tlsToken = join.discovery.tlsBootstrapToken ?? join.discovery.bootstrapToken?.token ?? '';
  const tls = liveToken(snapshot, tlsToken, now);
  if (
    !tls ||
    !tls.usages.includes('authentication') ||
    !tls.groups.some((g) => g.startsWith('system:bootstrappers:'))
  ) {
    throw phaseError(
      'kubelet-start',
      `timed out waiting for the kubelet to perform the TLS Bootstrap (${STANDIN_MARK}: the API server refused bootstrap token ID "${tokenId(tlsToken)}": Unauthorized)`,
    );
  }

  const alg = cluster.encryptionAlgorithm;
  if (controlPlane && shared) {
    say(`[certs] Using certificateDir folder "${cluster.certificatesDir}"`);
    const own = await createControlPlaneCerts(shared, cluster, node, alg, kubeadm.minor, { now });
    for (const [name, content] of Object.entries({ ...shared, ...own })) {
      writeHostFile(env, `${cluster.certificatesDir}/${name}`, content, keyMode(name));
    }
    say('[kubeconfig] Generating kubeconfig files');
    const specs = controlPlaneKubeconfigs(nodeName, kubeadm.minor, false).filter(
      (s) => s.file !== 'kubelet.conf',
    );
    const files = await renderControlPlaneKubeconfigs(specs, shared, cluster, node, alg, { now });
    for (const [file, content] of Object.entries(files)) {
      say(`[kubeconfig] Writing "${file}" kubeconfig file`);
      writeHostFile(env, `/etc/kubernetes/${file}`, content, 0o600);
    }
  } else {
    writeHostFile(env, caCertPath, record.caCertPem, 0o644);
  }

  // the kubelet's TLS bootstrap: its CSR is signed by the controller-manager of a control plane,
  // with that node's ca.key (or, on a joining control plane, the CA key it just downloaded)
  const caKey =
    shared?.['ca.key'] ??
    caKeyOfControlPlanes(snapshot, cluster.certificatesDir) ??
    readSignerKey(clusterDir);
  if (!caKey) {
    throw phaseError(
      'kubelet-start',
      `timed out waiting for the kubelet to perform the TLS Bootstrap (${STANDIN_MARK}: no control plane with ${cluster.certificatesDir}/ca.key can sign the kubelet's certificate)`,
    );
  }
  const kubeletClient = await issueCert(
    { certPem: record.caCertPem, keyPem: caKey },
    {
      commonName: `system:node:${nodeName}`,
      organizations: ['system:nodes'],
      usages: ['client'],
      algorithm: 'ECDSA-P256',
      now,
    },
  );
  const etcdMemberId = randomBytes(8).toString('hex');
  const members = snapshot.etcdMembers;
  if (controlPlane && cluster.etcd.kind === 'local') {
    const initialCluster = [
      ...members.map((m) => `${m.name}=${m.peerURL}`),
      `${nodeName}=https://${joinHostPort(advertiseAddress, 2380)}`,
    ].join(',');
    say(`[etcd] Creating static Pod manifest for "etcd"`);
    const manifests = renderStaticPods(cluster, node, { initialCluster, state: 'existing' });
    say(`[control-plane] Using manifest folder "${MANIFESTS_DIR}"`);
    for (const [file, content] of Object.entries(manifests))
      writeHostFile(env, `${MANIFESTS_DIR}/${file}`, content, 0o600);
    writeHostFile(
      env,
      `${cluster.etcd.dataDir}/member/${STANDIN_MARK.replace(' ', '-')}`,
      `member ${etcdMemberId}\n`,
      0o600,
    );
  } else if (controlPlane) {
    const manifests = renderStaticPods(cluster, node, { initialCluster: '', state: 'existing' });
    for (const [file, content] of Object.entries(manifests))
      writeHostFile(env, `${MANIFESTS_DIR}/${file}`, content, 0o600);
  }

  say('[kubelet-start] Writing kubelet configuration to file "/var/lib/kubelet/config.yaml"');
  writeHostFile(
    env,
    '/var/lib/kubelet/config.yaml',
    renderKubeletConfigYaml(record.kubeletConfiguration),
    0o644,
  );
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
  say('[kubelet-start] Starting the kubelet');
  say('[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap');
  writeHostFile(env, KUBELET_CLIENT_PEM, kubeletClient.certPem + kubeletClient.keyPem, 0o600);
  writeHostFile(
    env,
    KUBELET_CONF,
    renderKubeconfig({
      clusterName: record.clusterName,
      server: `https://${record.controlPlaneEndpoint}`,
      caCertPem: record.caCertPem,
      userName: 'default-auth',
      client: { certFile: KUBELET_CLIENT_PEM, keyFile: KUBELET_CLIENT_PEM },
    }),
    0o600,
  );

  let kubeletRestarted = false;
  await updateState(clusterDir, (state) => {
    purgeExpired(state, now);
    if (!state.cluster || state.cluster.caCertHash !== record.caCertHash) {
      throw phaseError('kubelet-start', `${STANDIN_MARK}: the cluster changed while this node was joining`);
    }
    if (!liveToken(state, tlsToken, now)) {
      throw phaseError(
        'kubelet-start',
        `timed out waiting for the kubelet to perform the TLS Bootstrap (token ID "${tokenId(tlsToken)}" expired)`,
      );
    }
    const clash = state.nodes.find((n) => n.name === nodeName);
    if (clash && nodeIsReady(state, clash)) {
      throw phaseError(
        'kubelet-start',
        `a Node with name "${nodeName}" and status "Ready" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node`,
      );
    }
    if (controlPlane && cluster.etcd.kind === 'local') {
      const peerURL = `https://${joinHostPort(advertiseAddress, 2380)}`;
      if (state.etcdMembers.some((m) => m.peerURL === peerURL && m.name !== nodeName)) {
        throw phaseError(
          'control-plane-join/etcd',
          `error creating local etcd static pod manifest file: etcdserver: Peer URLs already exists`,
        );
      }
      state.etcdMembers = state.etcdMembers.filter((m) => m.name !== nodeName);
      state.etcdMembers.push({
        id: etcdMemberId,
        name: nodeName,
        peerURL,
        clientURL: `https://${joinHostPort(advertiseAddress, 2379)}`,
      });
    }
    state.nodes = state.nodes.filter((n) => n.name !== nodeName);
    kubeletRestarted = kubeletRestartedByKubeadm(state, nodeName, kubelet.raw, now);
    state.nodes.push({
      name: nodeName,
      hostRoot: env.hostRoot,
      controlPlane,
      kubeletVersion: kubelet.raw,
      kubeletRunning: true,
      unschedulable: false,
      taints:
        nr.taints ??
        (controlPlane ? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] : []),
      labels: nodeLabels(nodeName, controlPlane),
      internalIP: controlPlane ? advertiseAddress : hostIp,
      apiEndpoint: controlPlane ? joinHostPort(advertiseAddress, bindPort) : null,
      createdAt: now,
    });
    if (state.cni) {
      const conf = cniConfig(state.cni.name);
      writeHostFile(env, conf.path, conf.content, 0o644);
    }
  });
  // a restarted kubelet runs the new static pods (control planes: the stand-in API server)
  if (!restartKubeletUnit(env) && kubeletRestarted) startStandinApiServer(env);

  if (controlPlane) {
    if (cluster.etcd.kind === 'local')
      say('[etcd] Announced new etcd member joining to the existing etcd cluster');
    say(
      `[mark-control-plane] Marking the node ${nodeName} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]`,
    );
    env.out(
      [
        '',
        'This node has joined the cluster and a new control plane instance was created:',
        '',
        '* Certificate signing request was sent to apiserver and approval was received.',
        '* The Kubelet was informed of the new secure connection details.',
        '* Control plane label and taint were applied to the new node.',
        '* The Kubernetes control plane instances scaled up.',
        ...(cluster.etcd.kind === 'local'
          ? ['* A new etcd member was added to the local/stacked etcd cluster.']
          : []),
        '',
        'To start administering your cluster from this node, you need to run the following as a regular user:',
        '',
        '\tmkdir -p $HOME/.kube',
        '\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config',
        '\tsudo chown $(id -u):$(id -g) $HOME/.kube/config',
        '',
        "Run 'kubectl get nodes' to see this node join the cluster.",
        '',
      ].join('\n'),
    );
  } else {
    env.out(
      [
        '',
        'This node has joined the cluster:',
        '* Certificate signing request was sent to apiserver and a response was received.',
        '* The Kubelet was informed of the new secure connection details.',
        '',
        "Run 'kubectl get nodes' on the control-plane to see this node join the cluster.",
        '',
      ].join('\n'),
    );
  }
  return nodeName;
}
