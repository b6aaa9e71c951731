import { X509Certificate, createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CERT_KEY,
  INIT_CONFIG,
  JOIN_CONFIG,
  initConfigV1beta4,
  joinConfigV1beta4,
  standinLab,
  type StandinHost,
  type StandinLab,
} from './standin-fixture.js';

/** Preflight, reset and upgrade with the stand-ins (ECDSA keys keep these runs fast). */

function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

const ADMIN = ['--kubeconfig', '/etc/kubernetes/admin.conf'];
const ecdsaInit = (name: string, ip: string, version = 'v1.31.2') =>
  initConfigV1beta4({ name, ip, version, algorithm: 'ECDSA-P256' });

describe('init preflight and config errors', () => {
  let lab: StandinLab;
  beforeAll(async () => {
    lab = await standinLab();
  }, 60_000);
  afterAll(() => lab.cleanup());

  it('fails with a clear message when no cluster directory is configured', async () => {
    const h = await lab.host('lonely', {
      version: 'v1.31.2',
      files: { '/etc/kctl-standin/cluster-dir': '' },
    });
    await h.write(INIT_CONFIG, ecdsaInit('lonely', '10.0.1.1'));
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no cluster directory is configured');
    expect(r.stderr).toContain('KCTL_STANDIN_CLUSTER_DIR');
  });

  it.each([
    ['an unknown field', 'clusterNmae: ha\n', 'strict decoding error: unknown field "clusterNmae"'],
    [
      'a v1beta4 extraArgs map',
      'controllerManager:\n  extraArgs:\n    bind-address: 0.0.0.0\n',
      'cannot unmarshal object into Go struct field ClusterConfiguration.controllerManager.extraArgs of type []v1beta4.Arg',
    ],
  ])('init exits non-zero on %s and writes nothing', async (_name, extra, message) => {
    const h = await lab.host(`bad-${extra.length}`, { version: 'v1.31.2' });
    await h.write(INIT_CONFIG, initConfigV1beta4({ name: 'bad', ip: '10.0.1.2', version: 'v1.31.2', extra }));
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('To see the stack trace of this error execute with --v=5 or higher');
    await expect(access(join(h.root, 'etc/kubernetes/admin.conf'))).rejects.toThrow();
  });

  it('init refuses --certificate-key together with --config, as kubeadm does', async () => {
    const h = await lab.host('mixed', { version: 'v1.31.2' });
    await h.write(INIT_CONFIG, ecdsaInit('mixed', '10.0.1.3'));
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG, '--certificate-key', CERT_KEY]);
    expect(r.stderr).toContain("can not mix '--config' with arguments [certificate-key]");
  });

  it('preflight reports ip_forward and leftover manifests, and --ignore-preflight-errors turns them into warnings', async () => {
    const h = await lab.host('dirty', { version: 'v1.31.2', ipForward: '0' });
    await h.write('/etc/kubernetes/manifests/kube-apiserver.yaml', 'leftover\n');
    await h.write(INIT_CONFIG, ecdsaInit('dirty', '10.0.1.4'));
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      '[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: /etc/kubernetes/manifests/kube-apiserver.yaml already exists',
    );
    expect(r.stderr).toContain(
      '[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1',
    );
    const ok = await h.run('kubeadm', [
      'init',
      '--config',
      INIT_CONFIG,
      '--ignore-preflight-errors=FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml,filecontent--proc-sys-net-ipv4-ip_forward',
    ]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('[WARNING FileContent--proc-sys-net-ipv4-ip_forward]');
    // an ECDSA CA (encryptionAlgorithm: ECDSA-P256): the printed hash is still the SPKI hash
    const hash = spkiHash(await h.read('/etc/kubernetes/pki/ca.crt'));
    expect(ok.stdout).toContain(hash);
    expect(new X509Certificate(await h.read('/etc/kubernetes/pki/ca.crt')).publicKey.asymmetricKeyType).toBe(
      'ec',
    );
  });
});

describe('kubeadm before 1.29 and with v1beta3', () => {
  let lab: StandinLab;
  beforeAll(async () => {
    lab = await standinLab();
  }, 60_000);
  afterAll(() => lab.cleanup());

  it('kubeadm 1.28 accepts v1beta3 and writes no super-admin.conf; admin.conf is system:masters', async () => {
    const h = await lab.host('old-cp', { version: 'v1.28.9' });
    await h.write(
      INIT_CONFIG,
      `apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
nodeRegistration: {name: old-cp, kubeletExtraArgs: {node-ip: 10.0.2.1}}
localAPIEndpoint: {advertiseAddress: 10.0.2.1}
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.28.9
controlPlaneEndpoint: 10.0.2.100
apiServer:
  extraArgs: {audit-log-maxage: "30"}
  timeoutForControlPlane: 4m0s
`,
    );
    const r = await h.run('kubeadm', [
      'init',
      '--config',
      INIT_CONFIG,
      '--upload-certs',
      '--ignore-preflight-errors=FileContent--proc-sys-net-bridge-bridge-nf-call-iptables',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('kubeadm join 10.0.2.100:6443');
    await expect(access(join(h.root, 'etc/kubernetes/super-admin.conf'))).rejects.toThrow();
    const admin = await h.read('/etc/kubernetes/admin.conf');
    const cert = Buffer.from(/client-certificate-data: (\S+)/.exec(admin)![1]!, 'base64').toString();
    expect(new X509Certificate(cert).subject).toContain('O=system:masters');
    expect(await h.read('/etc/kubernetes/manifests/kube-apiserver.yaml')).toContain('--audit-log-maxage=30');
  }, 60_000);
});

describe('reset and upgrade', () => {
  let lab: StandinLab;
  let cp1: StandinHost;
  let cp2: StandinHost;
  let w1: StandinHost;
  let caHash: string;

  beforeAll(async () => {
    lab = await standinLab();
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    cp2 = await lab.host('cp-2', { version: 'v1.31.2' });
    w1 = await lab.host('w-1', { version: 'v1.31.2' });
    await cp1.write(INIT_CONFIG, ecdsaInit('cp-1', '10.0.3.11'));
    const init = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(init.exitCode, init.stderr).toBe(0);
    caHash = spkiHash(await cp1.read('/etc/kubernetes/pki/ca.crt'));
    await cp2.write(
      JOIN_CONFIG,
      joinConfigV1beta4({
        name: 'cp-2',
        caCertHash: caHash,
        controlPlane: { ip: '10.0.3.12', certificateKey: CERT_KEY },
      }),
    );
    await w1.write(JOIN_CONFIG, joinConfigV1beta4({ name: 'w-1', caCertHash: caHash }));
    for (const h of [cp2, w1]) {
      const r = await h.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
  }, 120_000);
  afterAll(() => lab.cleanup());

  const state = async () =>
    JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
      cluster: { kubernetesVersion: string } | null;
      etcdMembers: { name: string }[];
    };

  it('a worker whose kubelet is newer than the control plane is refused', async () => {
    const h = await lab.host('w-new', { version: 'v1.32.0' });
    await h.write(JOIN_CONFIG, joinConfigV1beta4({ name: 'w-new', caCertHash: caHash }));
    const r = await h.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'the kubelet version "v1.32.0" is not supported with the control plane version "v1.31.2"',
    );
  });

  it.each([
    ['v1.32.0', 'v1.31.2', 'is higher than the kubeadm version "v1.31.2". Upgrade kubeadm first'],
    ['v1.33.1', 'v1.33.1', 'is too high; kubeadm can upgrade only 1 minor version at a time'],
    [
      'v1.30.5',
      'v1.31.2',
      'is at least one minor release lower than the minimum supported control plane version',
    ],
  ])('upgrade apply %s with kubeadm %s is refused', async (target, kubeadmVersion, message) => {
    await cp1.write('/etc/kctl-standin/version', kubeadmVersion);
    try {
      const r = await cp1.run('kubeadm', ['upgrade', 'apply', target, '-y']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(message);
    } finally {
      await cp1.write('/etc/kctl-standin/version', 'v1.31.2');
    }
  });

  it('upgrade apply without -y asks, and stops without an answer', async () => {
    await cp1.write('/etc/kctl-standin/version', 'v1.32.3');
    const r = await cp1.run('kubeadm', ['upgrade', 'apply', 'v1.32.3']);
    expect(r.stderr).toContain("won't proceed; the user didn't answer (Y|y) in order to continue");
  });

  it('upgrade apply moves the cluster one minor; upgrade node needs a kubeadm at least that new', async () => {
    const plan = await cp1.run('kubeadm', ['upgrade', 'plan', ...ADMIN]);
    expect(plan.stdout).toContain('kubeadm upgrade apply v1.32.3');
    const r = await cp1.run('kubeadm', ['upgrade', 'apply', 'v1.32.3', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '[upgrade/successful] SUCCESS! Your cluster was upgraded to "v1.32.3". Enjoy!',
    );
    expect(await cp1.read('/etc/kubernetes/manifests/kube-apiserver.yaml')).toContain(
      'kube-apiserver:v1.32.3',
    );
    expect((await state()).cluster?.kubernetesVersion).toBe('v1.32.3');

    const old = await cp2.run('kubeadm', ['upgrade', 'node']);
    expect(old.exitCode).toBe(1);
    expect(old.stderr).toContain('the kubeadm version "v1.31.2" is lower than the cluster version "v1.32.3"');
    await cp2.write('/etc/kctl-standin/version', 'v1.32.3');
    const ok = await cp2.run('kubeadm', ['upgrade', 'node']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await cp2.read('/etc/kubernetes/manifests/kube-scheduler.yaml')).toContain(
      'kube-scheduler:v1.32.3',
    );
    const worker = await w1.run('kubeadm', ['upgrade', 'node']);
    expect(worker.stdout).toContain('[upgrade] The configuration for this node was successfully upgraded!');

    // each kubelet reports the version installed on its own host
    const nodes = (await cp1.run('kubectl', [...ADMIN, 'get', 'nodes'])).stdout;
    expect(nodes).toMatch(/cp-1\s+NotReady\s+control-plane\s+\S+\s+v1\.32\.3/);
    expect(nodes).toMatch(/w-1\s+NotReady\s+<none>\s+\S+\s+v1\.31\.2/);
  });

  it('reset without -f asks and aborts; reset -f on a control plane removes its etcd member and its files', async () => {
    const asked = await cp2.run('kubeadm', ['reset']);
    expect(asked.stderr).toContain('aborted reset operation');
    expect((await state()).etcdMembers.map((m) => m.name)).toEqual(['cp-1', 'cp-2']);
    const r = await cp2.run('kubeadm', ['reset', '-f']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('The reset process does not clean CNI configuration');
    expect((await state()).etcdMembers.map((m) => m.name)).toEqual(['cp-1']);
    // as real kubeadm's remove-etcd-member phase: the call log names the member this reset removed
    const resets = (await lab.calls()).filter((c) => c.tool === 'kubeadm' && c.argv[0] === 'reset');
    expect(resets.map((c) => c.etcdMemberRemoved)).toEqual([undefined, { name: 'cp-2' }]);
    for (const f of [
      'etc/kubernetes/admin.conf',
      'etc/kubernetes/kubelet.conf',
      'etc/kubernetes/pki/ca.crt',
      'etc/kubernetes/manifests/etcd.yaml',
      'var/lib/kubelet/config.yaml',
      'var/lib/etcd/member',
    ]) {
      await expect(access(join(cp2.root, f))).rejects.toThrow();
    }
    expect((await cp1.run('kubectl', [...ADMIN, 'get', 'nodes'])).stdout).toMatch(/cp-2\s+NotReady/);
    expect((await cp1.run('kubectl', [...ADMIN, 'delete', 'node', 'cp-2'])).stdout).toBe(
      'node "cp-2" deleted',
    );
  });

  it('resetting the last etcd member ends the cluster, and a new init may follow', async () => {
    const r = await cp1.run('kubeadm', ['reset', '--force']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await state()).cluster).toBeNull();
    // the config still asks for v1.31.2: a v1.32 kubelet on this host would be newer than that control plane
    const skew = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(skew.stderr).toContain(
      '[ERROR KubeletVersion]: the kubelet version is higher than the control plane version',
    );
    await cp1.write('/etc/kctl-standin/version', 'v1.31.2');
    const again = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(spkiHash(await cp1.read('/etc/kubernetes/pki/ca.crt'))).not.toBe(caHash);
  });
});
