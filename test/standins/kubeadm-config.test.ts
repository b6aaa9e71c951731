import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeadmConfig, type ConfigPurpose } from './kubeadm-config.js';
import { parseSemver } from './k8s-values.js';
import { initConfigV1beta4 } from './standin-fixture.js';

/** The stand-in's reading of kubeadm --config files: versions, strict decoding, semantic validation. */

const v = (s: string) => parseSemver(s)!;
const load = (text: string, version = 'v1.31.2', purpose: ConfigPurpose = 'init') =>
  loadKubeadmConfig(text, { kubeadmVersion: v(version), purpose });

const cluster = (apiVersion: string, body: string) =>
  `apiVersion: kubeadm.k8s.io/${apiVersion}\nkind: ClusterConfiguration\n${body}`;

describe('loadKubeadmConfig', () => {
  it('accepts the init configuration kctl renders for 1.31 (v1beta4, kubelet and kube-proxy configs)', () => {
    const r = load(initConfigV1beta4({ name: 'cp-1', ip: '10.0.0.11', version: 'v1.31.2' }));
    expect(r.ok, r.ok ? '' : r.error).toBe(true);
    if (!r.ok) return;
    expect(r.config.cluster?.apiServer?.extraArgs).toEqual([{ name: 'audit-log-maxage', value: '30' }]);
    expect(r.config.kubeProxy?.ipvs?.strictARP).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it('converts a v1beta3 extraArgs map into the v1beta4 list, sorted, with a deprecation warning on 1.31', () => {
    const r = load(
      cluster(
        'v1beta3',
        'apiServer:\n  extraArgs:\n    b-flag: "2"\n    a-flag: "1"\n  timeoutForControlPlane: 4m0s\n',
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.cluster?.apiServer?.extraArgs).toEqual([
      { name: 'a-flag', value: '1' },
      { name: 'b-flag', value: '2' },
    ]);
    expect(r.warnings.join('\n')).toContain('uses a deprecated API spec: "kubeadm.k8s.io/v1beta3"');
  });

  it.each([
    [
      'an extraArgs map in v1beta4',
      'v1.31.2',
      cluster('v1beta4', 'apiServer:\n  extraArgs:\n    authorization-mode: Node,RBAC\n'),
      'json: cannot unmarshal object into Go struct field ClusterConfiguration.apiServer.extraArgs of type []v1beta4.Arg',
    ],
    [
      'an extraArgs list in v1beta3',
      'v1.30.6',
      cluster('v1beta3', 'apiServer:\n  extraArgs:\n  - name: authorization-mode\n    value: Node,RBAC\n'),
      'json: cannot unmarshal array into Go struct field ClusterConfiguration.apiServer.extraArgs of type map[string]string',
    ],
    [
      'timeoutForControlPlane in v1beta4',
      'v1.31.2',
      cluster('v1beta4', 'apiServer:\n  timeoutForControlPlane: 4m0s\n'),
      'strict decoding error: unknown field "apiServer.timeoutForControlPlane"',
    ],
    [
      'an unknown field',
      'v1.31.2',
      cluster('v1beta4', 'networking:\n  podSubnet: 10.244.0.0/16\n  podCidr: 10.244.0.0/16\n'),
      'error unmarshaling configuration schema.GroupVersionKind{Group:"kubeadm.k8s.io", Version:"v1beta4", Kind:"ClusterConfiguration"}: strict decoding error: unknown field "networking.podCidr"',
    ],
    [
      'a number where kubeadm wants a string (Arg.value)',
      'v1.31.2',
      cluster('v1beta4', 'apiServer:\n  extraArgs:\n  - name: v\n    value: 5\n'),
      'json: cannot unmarshal number 5 into Go struct field ClusterConfiguration.apiServer.extraArgs.value of type string',
    ],
    [
      'v1beta4 on kubeadm 1.30',
      'v1.30.6',
      cluster('v1beta4', ''),
      'no kind "ClusterConfiguration" is registered for version "kubeadm.k8s.io/v1beta4"',
    ],
    [
      'v1beta3 on kubeadm 1.36',
      'v1.36.0',
      cluster('v1beta3', ''),
      'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3" (kind: "ClusterConfiguration"). Please use kubeadm v1.35 instead',
    ],
    [
      'v1beta2',
      'v1.31.2',
      cluster('v1beta2', ''),
      'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta2"',
    ],
    [
      'a kind twice',
      'v1.31.2',
      `${cluster('v1beta4', '')}---\n${cluster('v1beta4', '')}`,
      'invalid configuration: kind "ClusterConfiguration" is specified twice in YAML file',
    ],
    [
      'a document without kind',
      'v1.31.2',
      'apiVersion: kubeadm.k8s.io/v1beta4\n',
      'kind and apiVersion is mandatory information that must be specified',
    ],
    [
      'a document of a group kubeadm does not know',
      'v1.31.2',
      `${cluster('v1beta4', '')}---\napiVersion: kubelet.config.k8s.io/v1beta2\nkind: KubeletConfiguration\n`,
      'no kind "KubeletConfiguration" is registered for version "kubelet.config.k8s.io/v1beta2"',
    ],
    [
      'an unknown KubeletConfiguration field',
      'v1.31.2',
      `${cluster('v1beta4', '')}---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDrivr: systemd\n`,
      'strict decoding error: unknown field "cgroupDrivr"',
    ],
    [
      'failCgroupV1 on a 1.30 kubelet',
      'v1.30.6',
      `${cluster('v1beta3', '')}---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n`,
      'unknown field "failCgroupV1" (the field exists from Kubernetes 1.31)',
    ],
    [
      'an invalid cgroupDriver',
      'v1.31.2',
      `${cluster('v1beta4', '')}---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: system\n`,
      'kubeletConfiguration.cgroupDriver: Unsupported value: "system": supported values: "cgroupfs", "systemd"',
    ],
    [
      'kube-proxy nftables mode on 1.30 without its feature gate',
      'v1.30.6',
      `${cluster('v1beta3', '')}---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n`,
      'kubeProxyConfiguration.mode: Invalid value: "nftables": must be iptables, ipvs or blank',
    ],
    [
      'a bad duration',
      'v1.31.2',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 30 minutes\n',
      'time: invalid duration "30 minutes"',
    ],
    [
      'a malformed bootstrap token',
      'v1.31.2',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: ABCDEF.0123456789abcdef\n',
      'bootstrapTokens[0].token: Invalid value: "ABCDEF.0123456789abcdef": the bootstrap token is invalid',
    ],
    [
      'a pod subnet that does not parse',
      'v1.31.2',
      cluster('v1beta4', 'networking:\n  podSubnet: 10.244.0.0/33\n'),
      'networking.podSubnet: Invalid value: "10.244.0.0/33": couldn\'t parse subnet',
    ],
    [
      'a service subnet larger than /12',
      'v1.31.2',
      cluster('v1beta4', 'networking:\n  serviceSubnet: 10.0.0.0/8\n'),
      'specified service subnet is too large; for 32-bit addresses, the mask must be >= 12',
    ],
    [
      'an invalid controlPlaneEndpoint',
      'v1.31.2',
      cluster('v1beta4', 'controlPlaneEndpoint: "cp_vip:6443"\n'),
      'controlPlaneEndpoint: Invalid value: "cp_vip:6443": endpoint is not valid',
    ],
    [
      'both local and external etcd',
      'v1.31.2',
      cluster(
        'v1beta4',
        'etcd:\n  local: {dataDir: /var/lib/etcd}\n  external: {endpoints: ["https://10.0.0.5:2379"]}\n',
      ),
      '.Etcd.Local and .Etcd.External are mutually exclusive',
    ],
    [
      'an unsupported encryption algorithm',
      'v1.31.2',
      cluster('v1beta4', 'encryptionAlgorithm: RSA-1024\n'),
      'encryptionAlgorithm: Unsupported value: "RSA-1024"',
    ],
    [
      'a file with neither Init nor ClusterConfiguration',
      'v1.31.2',
      '---\n',
      'no InitConfiguration or ClusterConfiguration kind was found in the YAML file',
    ],
    [
      'YAML that does not parse',
      'v1.31.2',
      'kind: [ClusterConfiguration\n',
      'error converting YAML to JSON: yaml:',
    ],
  ])('rejects %s', (_name, version, text, message) => {
    const r = load(text, version);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });

  it.each([
    [
      'no caCertHashes without unsafeSkipCAVerification',
      'discovery:\n  bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "10.0.0.100:6443"}\n',
      'using token-based discovery without caCertHashes can be unsafe',
    ],
    [
      'no apiServerEndpoint',
      'discovery:\n  bootstrapToken: {token: abcdef.0123456789abcdef, caCertHashes: ["sha256:00"]}\n',
      'discovery.bootstrapToken: Required value: APIServerEndpoint is not set',
    ],
    ['no discovery at all', 'nodeRegistration: {name: w-1}\n', 'discovery: Required value'],
    [
      'discovery.timeout in v1beta4',
      'discovery:\n  timeout: 5m0s\n  bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "10.0.0.100:6443", unsafeSkipCAVerification: true}\n',
      'strict decoding error: unknown field "discovery.timeout"',
    ],
    [
      'kubeletExtraArgs as a map in v1beta4',
      'nodeRegistration:\n  kubeletExtraArgs: {node-ip: 10.0.0.21}\ndiscovery:\n  bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "10.0.0.100:6443", unsafeSkipCAVerification: true}\n',
      'Go struct field JoinConfiguration.nodeRegistration.kubeletExtraArgs of type []v1beta4.Arg',
    ],
  ])('rejects a JoinConfiguration with %s', (_name, body, message) => {
    const r = load(`apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n${body}`, 'v1.31.2', 'join');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });

  it("ignores, with kubeadm's warning, the kinds a join does not read", () => {
    const r = load(
      `${cluster('v1beta4', '')}---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "10.0.0.100:6443", unsafeSkipCAVerification: true}\n`,
      'v1.31.2',
      'join',
    );
    expect(r.ok).toBe(true);
    expect(r.warnings).toContain(
      '[config] WARNING: Ignored configuration document with GroupVersionKind kubeadm.k8s.io/v1beta4, Kind=ClusterConfiguration',
    );
  });

  it('validates Reset and Upgrade configurations only in v1beta4', () => {
    expect(
      load(
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\nunmountFlags: [MNT_FORCE]\n',
        'v1.31.2',
        'reset',
      ).ok,
    ).toBe(true);
    const bad = load(
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nunmountFlags: [MNT_LAZY]\n',
      'v1.31.2',
      'reset',
    );
    expect(bad.ok ? '' : bad.error).toContain('unmountFlags: Unsupported value: "MNT_LAZY"');
    const v3 = load('apiVersion: kubeadm.k8s.io/v1beta3\nkind: UpgradeConfiguration\n', 'v1.31.2', 'upgrade');
    expect(v3.ok ? '' : v3.error).toContain(
      'no kind "UpgradeConfiguration" is registered for version "kubeadm.k8s.io/v1beta3"',
    );
    expect(
      load(
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply: {kubernetesVersion: v1.32.0, forceUpgrade: false}\n',
        'v1.32.0',
        'upgrade',
      ).ok,
    ).toBe(true);
  });
});

/** kctl's rendered kubeadm configs (golden files, one directory per Kubernetes minor). */
const GOLDEN = join(import.meta.dirname, '..', 'fixtures', 'golden');
const goldenConfigs = readdirSync(GOLDEN)
  .filter((d) => /^v1\.\d+$/.test(d))
  .flatMap((d) =>
    readdirSync(join(GOLDEN, d))
      .filter((f) => /^kubeadm-.*\.yaml$/.test(f))
      .map((f) => [d, f] as const),
  );

describe("kctl's golden kubeadm configs", () => {
  it('exist for several minors', () => {
    expect(new Set(goldenConfigs.map(([d]) => d)).size).toBeGreaterThanOrEqual(3);
  });

  it.each(goldenConfigs)('%s/%s is accepted by the stand-in kubeadm of that minor', (dir, file) => {
    const text = readFileSync(join(GOLDEN, dir, file), 'utf8');
    const r = load(text, `${dir}.0`, file.includes('join') ? 'join' : 'init');
    expect(r.ok ? 'ok' : r.error).toBe('ok');
    expect(r.warnings.filter((w) => !w.includes('deprecated API spec'))).toEqual([]);
  });
});
