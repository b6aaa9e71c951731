import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import type { KubeProxyConfiguration, KubeletConfiguration } from './component-types.js';
import type {
  Arg,
  ClusterConfiguration,
  InitConfiguration,
  JoinConfiguration,
  NodeRegistration,
  ResetConfiguration,
  UpgradeConfiguration,
} from './kubeadm-types.js';
import {
  BOOTSTRAP_GROUP,
  BOOTSTRAP_TOKEN,
  DNS1123_SUBDOMAIN_MESSAGE,
  TOKEN_USAGES,
  isDns1123Subdomain,
  isValidAltName,
  isValidPort,
  parseCidrList,
  parseSemver,
  splitHostPort,
  type Semver,
} from './k8s-values.js';

/**
 * kubeadm's semantic validation (cmd/kubeadm/app/apis/kubeadm/validation), field errors worded as
 * k8s.io/apimachinery's field.Error, and the checks the kubelet and kube-proxy would apply to the
 * component configs kubeadm hands them.
 */

function goQuote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[]string{${value.map((v) => JSON.stringify(String(v))).join(', ')}}`;
  return String(value);
}

export const invalid = (path: string, value: unknown, detail: string): string =>
  `${path}: Invalid value: ${goQuote(value)}: ${detail}`;
export const required = (path: string, detail: string): string => `${path}: Required value: ${detail}`;
export const unsupported = (path: string, value: unknown, supported: readonly string[]): string =>
  `${path}: Unsupported value: ${goQuote(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`;

/** utilerrors.NewAggregate(...).Error(): one error as is, several in brackets. */
export function aggregate(errors: readonly string[]): string {
  return errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`;
}

export function validateToken(token: string, path: string): string[] {
  return BOOTSTRAP_TOKEN.test(token) ? [] : [invalid(path, token, 'the bootstrap token is invalid')];
}

function validateExtraArgs(args: readonly Arg[] | undefined, path: string): string[] {
  return (args ?? []).flatMap((a, i) =>
    a.name === '' ? [required(`${path}[${i}].name`, 'argument name should not be empty')] : [],
  );
}

function validateSocketPath(socket: string | undefined, path: string): string[] {
  if (!socket) return [];
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(socket);
  if (!m) return isAbsolute(socket) ? [] : [invalid(path, socket, `path is not absolute: ${socket}`)];
  if (m[1] !== 'unix') return [invalid(path, socket, `URL scheme ${m[1]} is not supported`)];
  return [];
}

export function validateNodeRegistration(
  nr: NodeRegistration | undefined,
  path = 'nodeRegistration',
): string[] {
  if (!nr) return [];
  const errors: string[] = [];
  if (nr.name !== undefined && !isDns1123Subdomain(nr.name)) {
    errors.push(invalid(`${path}.name`, nr.name, DNS1123_SUBDOMAIN_MESSAGE));
  }
  errors.push(...validateSocketPath(nr.criSocket, `${path}.criSocket`));
  errors.push(...validateExtraArgs(nr.kubeletExtraArgs, `${path}.kubeletExtraArgs`));
  if (nr.imagePullPolicy && !['Always', 'IfNotPresent', 'Never'].includes(nr.imagePullPolicy)) {
    errors.push(
      unsupported(`${path}.imagePullPolicy`, nr.imagePullPolicy, ['Always', 'IfNotPresent', 'Never']),
    );
  }
  (nr.taints ?? []).forEach((t, i) => {
    if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errors.push(
        unsupported(`${path}.taints[${i}].effect`, t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']),
      );
    }
  });
  return errors;
}

function validateApiEndpoint(
  ep: { advertiseAddress?: string | undefined; bindPort?: number | undefined } | undefined,
  path: string,
): string[] {
  const errors: string[] = [];
  if (ep?.advertiseAddress !== undefined && ep.advertiseAddress !== '' && isIP(ep.advertiseAddress) === 0) {
    errors.push(invalid(`${path}.advertiseAddress`, ep.advertiseAddress, 'ip address is not valid'));
  }
  if (ep?.bindPort !== undefined && ep.bindPort !== 0 && !isValidPort(ep.bindPort)) {
    errors.push(invalid(`${path}.bindPort`, ep.bindPort, 'port number is not valid'));
  }
  return errors;
}

export function validateInitConfiguration(c: InitConfiguration): string[] {
  const errors = [...validateNodeRegistration(c.nodeRegistration)];
  (c.bootstrapTokens ?? []).forEach((bt, i) => {
    const p = `bootstrapTokens[${i}]`;
    errors.push(...validateToken(bt.token, `${p}.token`));
    const usages = bt.usages ?? [];
    const bad = usages.filter((u) => !TOKEN_USAGES.includes(u));
    if (bad.length > 0) {
      errors.push(
        invalid(
          `${p}.usages`,
          usages.join(','),
          `invalid bootstrap token usage string: ${bad.join(',')}, valid usage options: ${TOKEN_USAGES.join(',')}`,
        ),
      );
    }
    const groups = bt.groups ?? [];
    if (groups.length > 0 && bt.usages && !bt.usages.includes('authentication')) {
      errors.push(
        invalid(
          `${p}.groups`,
          groups,
          'token groups cannot be specified unless --usages includes "authentication"',
        ),
      );
    }
    for (const g of groups) {
      if (!BOOTSTRAP_GROUP.test(g)) {
        errors.push(
          invalid(
            `${p}.groups`,
            groups,
            `bootstrap group "${g}" is invalid (must match \\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\\z)`,
          ),
        );
      }
    }
    if (bt.ttl !== undefined && bt.expires !== undefined) {
      errors.push(invalid(p, '', 'the BootstrapToken .TTL and .Expires fields are mutually exclusive'));
    }
  });
  errors.push(...validateApiEndpoint(c.localAPIEndpoint, 'localAPIEndpoint'));
  return errors;
}

/** kubeadm feature gates known across the minors kctl supports. */
const KUBEADM_FEATURE_GATES = new Set([
  'PublicKeysECDSA',
  'RootlessControlPlane',
  'EtcdLearnerMode',
  'WaitForAllControlPlaneComponents',
  'ControlPlaneKubeletLocalMode',
  'NodeLocalCRISocket',
  'UpgradeAddonsBeforeControlPlane',
]);

function validateSubnets(
  value: string,
  path: string,
  service: boolean,
  nodeMask: { v4: number; v6: number },
): string[] {
  const cidrs = parseCidrList(value);
  if (!cidrs) return [invalid(path, value, "couldn't parse subnet")];
  const errors: string[] = [];
  for (const c of cidrs) {
    const bits = c.family === 4 ? 32 : 128;
    if (bits - c.prefix < 4) errors.push(invalid(path, value, 'subnet is too small'));
    if (service) {
      const min = c.family === 4 ? 12 : 108;
      if (c.prefix < min) {
        errors.push(
          invalid(
            path,
            value,
            `specified service subnet is too large; for ${bits}-bit addresses, the mask must be >= ${min}`,
          ),
        );
      }
    } else {
      const node = c.family === 4 ? nodeMask.v4 : nodeMask.v6;
      if (c.prefix > node) {
        errors.push(
          invalid(
            path,
            value,
            `the size of pod subnet with mask ${c.prefix} is smaller than the size of node subnet with mask ${node}`,
          ),
        );
      }
    }
  }
  return errors;
}

function argValue(args: readonly Arg[] | undefined, name: string): string | undefined {
  const matches = (args ?? []).filter((a) => a.name === name);
  return matches[matches.length - 1]?.value;
}

export const ENCRYPTION_ALGORITHMS = [
  'ECDSA-P256',
  'ECDSA-P384',
  'RSA-2048',
  'RSA-3072',
  'RSA-4096',
] as const;

export function validateClusterConfiguration(c: ClusterConfiguration, kubeadm: Semver): string[] {
  const errors: string[] = [];
  const n = c.networking;
  if (n?.dnsDomain !== undefined && !isDns1123Subdomain(n.dnsDomain)) {
    errors.push(invalid('dnsDomain', n.dnsDomain, DNS1123_SUBDOMAIN_MESSAGE));
  }
  const cm = c.controllerManager?.extraArgs;
  const nodeMask = {
    v4: Number(argValue(cm, 'node-cidr-mask-size-ipv4') ?? argValue(cm, 'node-cidr-mask-size') ?? 24),
    v6: Number(argValue(cm, 'node-cidr-mask-size-ipv6') ?? 64),
  };
  if (n?.serviceSubnet)
    errors.push(...validateSubnets(n.serviceSubnet, 'networking.serviceSubnet', true, nodeMask));
  if (n?.podSubnet && argValue(cm, 'allocate-node-cidrs') !== 'false') {
    errors.push(...validateSubnets(n.podSubnet, 'networking.podSubnet', false, nodeMask));
  }
  (c.apiServer?.certSANs ?? []).forEach((san) => {
    if (!isValidAltName(san)) {
      errors.push(
        invalid(
          'apiServer.certSANs',
          san,
          'altname is not a valid IP address, DNS label or a DNS label with subdomain wildcards',
        ),
      );
    }
  });
  errors.push(...validateExtraArgs(c.apiServer?.extraArgs, 'apiServer.extraArgs'));
  errors.push(...validateExtraArgs(c.controllerManager?.extraArgs, 'controllerManager.extraArgs'));
  errors.push(...validateExtraArgs(c.scheduler?.extraArgs, 'scheduler.extraArgs'));
  if (c.certificatesDir !== undefined && !isAbsolute(c.certificatesDir)) {
    errors.push(invalid('certificatesDir', c.certificatesDir, 'path is not absolute'));
  }
  for (const key of Object.keys(c.featureGates ?? {})) {
    if (!KUBEADM_FEATURE_GATES.has(key)) {
      errors.push(
        invalid(
          'featureGates',
          `map[${key}:${String(c.featureGates?.[key])}]`,
          `${key} is not a valid feature name.`,
        ),
      );
    }
  }
  if (c.controlPlaneEndpoint) {
    const hp = splitHostPort(c.controlPlaneEndpoint);
    const hostOk = hp !== undefined && (isIP(hp.host) !== 0 || isDns1123Subdomain(hp.host));
    if (!hostOk || (hp.port !== undefined && !isValidPort(hp.port))) {
      errors.push(invalid('controlPlaneEndpoint', c.controlPlaneEndpoint, 'endpoint is not valid'));
    }
  }
  if (
    c.kubernetesVersion &&
    !/^(stable|latest|ci)(-\d+(\.\d+)?)?$/.test(c.kubernetesVersion) &&
    !parseSemver(c.kubernetesVersion)
  ) {
    errors.push(invalid('kubernetesVersion', c.kubernetesVersion, "couldn't parse Kubernetes version"));
  }
  const etcd = c.etcd;
  if (etcd?.local && etcd.external) {
    errors.push(invalid('etcd', '', '.Etcd.Local and .Etcd.External are mutually exclusive'));
  }
  if (etcd?.local) {
    if (etcd.local.dataDir !== undefined && !isAbsolute(etcd.local.dataDir)) {
      errors.push(invalid('etcd.local.dataDir', etcd.local.dataDir, 'path is not absolute'));
    }
    for (const [field, sans] of [
      ['serverCertSANs', etcd.local.serverCertSANs],
      ['peerCertSANs', etcd.local.peerCertSANs],
    ] as const) {
      for (const san of sans ?? []) {
        if (!isValidAltName(san)) {
          errors.push(
            invalid(
              `etcd.local.${field}`,
              san,
              'altname is not a valid IP address, DNS label or a DNS label with subdomain wildcards',
            ),
          );
        }
      }
    }
    errors.push(...validateExtraArgs(etcd.local.extraArgs, 'etcd.local.extraArgs'));
  }
  if (etcd?.external) {
    const e = etcd.external;
    if (Boolean(e.certFile) !== Boolean(e.keyFile)) {
      errors.push(
        invalid(
          'etcd.external',
          '',
          'either both or none of .Etcd.External.CertFile and .Etcd.External.KeyFile must be set',
        ),
      );
    }
    if (e.certFile && e.keyFile && !e.caFile) {
      errors.push(
        invalid(
          'etcd.external',
          '',
          'setting .Etcd.External.CertFile and .Etcd.External.KeyFile requires .Etcd.External.CAFile',
        ),
      );
    }
    const https = Boolean(e.caFile || e.certFile || e.keyFile);
    for (const url of e.endpoints) {
      if (!/^https?:\/\/[^/\s]+/.test(url) || (https && !url.startsWith('https://'))) {
        errors.push(
          invalid(
            'etcd.external.endpoints',
            url,
            https ? 'the URL must be using the HTTPS scheme' : 'URL parse error',
          ),
        );
      }
    }
  }
  if (c.encryptionAlgorithm !== undefined) {
    const allowed = ENCRYPTION_ALGORITHMS.filter((a) => a !== 'ECDSA-P384' || kubeadm.minor >= 32);
    if (!(allowed as readonly string[]).includes(c.encryptionAlgorithm)) {
      errors.push(unsupported('encryptionAlgorithm', c.encryptionAlgorithm, allowed));
    }
  }
  return errors;
}

export function validateJoinConfiguration(c: JoinConfiguration): string[] {
  const errors: string[] = [];
  const d = c.discovery;
  if (!d.bootstrapToken && !d.file)
    errors.push(invalid('discovery', '', 'bootstrapToken or file must be set'));
  if (d.bootstrapToken && d.file)
    errors.push(invalid('discovery', '', 'bootstrapToken and file cannot both be set'));
  if (d.bootstrapToken) {
    const b = d.bootstrapToken;
    if (!b.apiServerEndpoint)
      errors.push(required('discovery.bootstrapToken', 'APIServerEndpoint is not set'));
    if ((b.caCertHashes ?? []).length === 0 && !b.unsafeSkipCAVerification) {
      errors.push(
        invalid(
          'discovery.bootstrapToken',
          '',
          'using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue',
        ),
      );
    }
    errors.push(...validateToken(b.token ?? '', 'discovery.bootstrapToken.token'));
    if (b.apiServerEndpoint) {
      const hp = splitHostPort(b.apiServerEndpoint);
      if (!hp || hp.port === undefined || !isValidPort(hp.port)) {
        errors.push(
          invalid('discovery.bootstrapToken.apiServerEndpoints', b.apiServerEndpoint, 'address is not valid'),
        );
      }
    }
    errors.push(...validateToken(d.tlsBootstrapToken ?? b.token ?? '', 'discovery.tlsBootstrapToken'));
  }
  if (d.file) {
    if (!isAbsolute(d.file.kubeConfigPath) && !/^https:\/\//.test(d.file.kubeConfigPath)) {
      errors.push(
        invalid(
          'discovery.file.kubeConfigPath',
          d.file.kubeConfigPath,
          'not a valid HTTPS URL or a file on disk',
        ),
      );
    }
    if (d.tlsBootstrapToken)
      errors.push(...validateToken(d.tlsBootstrapToken, 'discovery.tlsBootstrapToken'));
  }
  errors.push(...validateNodeRegistration(c.nodeRegistration));
  if (c.controlPlane)
    errors.push(...validateApiEndpoint(c.controlPlane.localAPIEndpoint, 'controlPlane.localAPIEndpoint'));
  if (c.caCertPath !== undefined && (!isAbsolute(c.caCertPath) || !c.caCertPath.endsWith('.crt'))) {
    errors.push(invalid('caCertPath', c.caCertPath, 'the ca certificate path must be an absolute path'));
  }
  return errors;
}

export function validateResetConfiguration(c: ResetConfiguration): string[] {
  const errors = validateSocketPath(c.criSocket, 'criSocket');
  const flags = ['MNT_FORCE', 'MNT_DETACH', 'MNT_EXPIRE', 'UMOUNT_NOFOLLOW'];
  for (const f of c.unmountFlags ?? []) {
    if (!flags.includes(f)) errors.push(unsupported('unmountFlags', f, flags));
  }
  if (c.certificatesDir !== undefined && !isAbsolute(c.certificatesDir)) {
    errors.push(invalid('certificatesDir', c.certificatesDir, 'path is not absolute'));
  }
  return errors;
}

export function validateUpgradeConfiguration(c: UpgradeConfiguration): string[] {
  const errors: string[] = [];
  for (const [section, v] of [
    ['apply', c.apply?.kubernetesVersion],
    ['plan', c.plan?.kubernetesVersion],
  ] as const) {
    if (v && !parseSemver(v))
      errors.push(invalid(`${section}.kubernetesVersion`, v, "couldn't parse Kubernetes version"));
  }
  return errors;
}

export function validateKubeletConfiguration(k: KubeletConfiguration): string[] {
  const errors: string[] = [];
  const p = 'kubeletConfiguration';
  if (k.cgroupDriver !== undefined && !['systemd', 'cgroupfs'].includes(k.cgroupDriver)) {
    errors.push(unsupported(`${p}.cgroupDriver`, k.cgroupDriver, ['cgroupfs', 'systemd']));
  }
  const swap = k.memorySwap?.swapBehavior;
  if (swap !== undefined && !['', 'NoSwap', 'LimitedSwap'].includes(swap)) {
    errors.push(
      invalid(`${p}.memorySwap.swapBehavior`, swap, 'must be one of: "", "LimitedSwap" or "NoSwap"'),
    );
  }
  for (const [field, port] of [
    ['port', k.port],
    ['healthzPort', k.healthzPort],
  ] as const) {
    if (port !== undefined && port !== 0 && !isValidPort(port))
      errors.push(invalid(`${p}.${field}`, port, 'must be between 1 and 65535, inclusive'));
  }
  if (
    k.hairpinMode !== undefined &&
    !['promiscuous-bridge', 'hairpin-veth', 'none'].includes(k.hairpinMode)
  ) {
    errors.push(
      unsupported(`${p}.hairpinMode`, k.hairpinMode, ['hairpin-veth', 'none', 'promiscuous-bridge']),
    );
  }
  if (k.authorization?.mode !== undefined && !['AlwaysAllow', 'Webhook'].includes(k.authorization.mode)) {
    errors.push(unsupported(`${p}.authorization.mode`, k.authorization.mode, ['AlwaysAllow', 'Webhook']));
  }
  for (const ip of k.clusterDNS ?? []) {
    if (isIP(ip) === 0) errors.push(invalid(`${p}.clusterDNS`, ip, 'must be a valid IP address'));
  }
  return errors;
}

export function validateKubeProxyConfiguration(k: KubeProxyConfiguration, kubeadm: Semver): string[] {
  const errors: string[] = [];
  const p = 'kubeProxyConfiguration';
  const nftablesAllowed = kubeadm.minor >= 31 || k.featureGates?.NFTablesProxyMode === true;
  const modes = ['', 'iptables', 'ipvs', ...(nftablesAllowed ? ['nftables'] : [])];
  if (k.mode !== undefined && !modes.includes(k.mode)) {
    errors.push(
      invalid(
        `${p}.mode`,
        k.mode,
        `must be ${modes.filter((m) => m !== '').join(', ')} or blank (blank means the best-available proxy [currently iptables])`,
      ),
    );
  }
  const schedulers = ['', 'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh'];
  if (k.ipvs?.scheduler !== undefined && !schedulers.includes(k.ipvs.scheduler)) {
    errors.push(invalid(`${p}.ipvs.scheduler`, k.ipvs.scheduler, 'IPVS scheduler is not supported'));
  }
  const localModes = ['', 'ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];
  if (k.detectLocalMode !== undefined && !localModes.includes(k.detectLocalMode)) {
    errors.push(
      unsupported(
        `${p}.detectLocalMode`,
        k.detectLocalMode,
        localModes.filter((m) => m !== ''),
      ),
    );
  }
  if (k.clusterCIDR && !parseCidrList(k.clusterCIDR)) {
    errors.push(
      invalid(
        `${p}.clusterCIDR`,
        k.clusterCIDR,
        'must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)',
      ),
    );
  }
  return errors;
}
