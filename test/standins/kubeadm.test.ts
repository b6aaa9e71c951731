import { X509Certificate, createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CERT_KEY,
  CNI_MANIFEST,
  INIT_CONFIG,
  JOIN_CONFIG,
  TOKEN,
  initConfigV1beta4,
  joinConfigV1beta4,
  standinLab,
  type StandinHost,
  type StandinLab,
} from './standin-fixture.js';

/**
 * The kubeadm, kubelet and kubectl STAND-INS, built and run as kctl's agent runs them: one cluster
 * directory shared by several fake host roots.
 */

/** The kubeadm recipe, computed independently of the stand-in: SHA-256 over the DER SubjectPublicKeyInfo. */
function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

function kubeconfigOf(text: string): { server: string; ca: string; cert: string; user: string } {
  const kc = parseYaml(text) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { name: string; user: { 'client-certificate-data': string } }[];
  };
  const b64 = (s: string) => Buffer.from(s, 'base64').toString();
  return {
    server: kc.clusters[0]!.cluster.server,
    ca: b64(kc.clusters[0]!.cluster['certificate-authority-data']),
    cert: b64(kc.users[0]!.user['client-certificate-data']),
    user: kc.users[0]!.name,
  };
}

const ADMIN = ['--kubeconfig', '/etc/kubernetes/admin.conf'];

describe('an HA cluster made with the stand-ins (kubeadm v1.31.2, RSA)', () => {
  let lab: StandinLab;
  let cp1: StandinHost;
  let caHash: string;
  let initOut: string;

  beforeAll(async () => {
    lab = await standinLab();
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    await cp1.write(INIT_CONFIG, initConfigV1beta4({ name: 'cp-1', ip: '10.0.0.11', version: 'v1.31.2' }));
    // kctl writes the kube-vip manifest before init: kubeadm only checks its own four manifests
    await cp1.write('/etc/kubernetes/manifests/kube-vip.yaml', 'apiVersion: v1\nkind: Pod\n');
    const r = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(r.exitCode, r.stderr).toBe(0);
    initOut = r.stdout;
    caHash = spkiHash(await cp1.read('/etc/kubernetes/pki/ca.crt'));
  }, 120_000);
  afterAll(() => lab.cleanup());

  it('init makes a real CA whose SPKI hash is the hash printed in the join command', () => {
    expect(initOut).toContain(`--discovery-token-ca-cert-hash ${caHash}`);
    expect(initOut).toContain('Your Kubernetes control-plane has initialized successfully!');
    expect(initOut).toContain(`kubeadm join 10.0.0.100:6443 --token ${TOKEN}`);
    expect(initOut).toContain(`--control-plane --certificate-key ${CERT_KEY}`);
  });

  it.each(['admin.conf', 'super-admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf'])(
    'init writes %s with a client certificate the cluster CA signed',
    async (file) => {
      const kc = kubeconfigOf(await cp1.read(`/etc/kubernetes/${file}`));
      const ca = new X509Certificate(kc.ca);
      expect(spkiHash(kc.ca)).toBe(caHash);
      expect(new X509Certificate(kc.cert).verify(ca.publicKey)).toBe(true);
      expect(kc.server).toBe(
        file === 'controller-manager.conf' || file === 'scheduler.conf'
          ? 'https://10.0.0.11:6443'
          : 'https://10.0.0.100:6443',
      );
    },
  );

  it('admin.conf is kubeadm:cluster-admins and super-admin.conf is system:masters (>= 1.29)', async () => {
    const subject = async (f: string) =>
      new X509Certificate(kubeconfigOf(await cp1.read(`/etc/kubernetes/${f}`)).cert).subject;
    expect(await subject('admin.conf')).toContain('O=kubeadm:cluster-admins');
    expect(await subject('super-admin.conf')).toContain('O=system:masters');
  });

  it('init writes the static pod manifests with extraArgs, the kubelet config and kubeadm-flags.env', async () => {
    const apiserver = await cp1.read('/etc/kubernetes/manifests/kube-apiserver.yaml');
    expect(apiserver).toContain('- --audit-log-maxage=30');
    expect(apiserver).toContain('image: registry.k8s.io/kube-apiserver:v1.31.2');
    expect(await cp1.read('/etc/kubernetes/manifests/etcd.yaml')).toContain(
      '--initial-cluster=cp-1=https://10.0.0.11:2380',
    );
    expect(parseYaml(await cp1.read('/var/lib/kubelet/config.yaml'))).toMatchObject({
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
      clusterDNS: ['10.96.0.10'],
    });
    expect(await cp1.read('/var/lib/kubelet/kubeadm-flags.env')).toContain('--node-ip=10.0.0.11');
    const apiCert = new X509Certificate(await cp1.read('/etc/kubernetes/pki/apiserver.crt'));
    expect(apiCert.subjectAltName).toContain('IP Address:10.0.0.100');
    expect(apiCert.subjectAltName).toContain('IP Address:10.96.0.1');
  });

  it('version output names the stand-in, and -o short is the bare version', async () => {
    expect((await cp1.run('kubeadm', ['version'])).stdout).toContain('kctl stand-in');
    expect((await cp1.run('kubeadm', ['version', '-o', 'short'])).stdout).toBe('v1.31.2');
    expect((await cp1.run('kubelet', ['--version'])).stdout).toBe('Kubernetes v1.31.2');
    expect((await cp1.run('kubectl', [...ADMIN, 'version'])).stdout).toContain('kctl stand-in');
  });

  it('a second init into the same cluster directory is refused', async () => {
    const other = await lab.host('cp-x', { version: 'v1.31.2' });
    await other.write(INIT_CONFIG, initConfigV1beta4({ name: 'cp-x', ip: '10.0.0.19', version: 'v1.31.2' }));
    const r = await other.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('already holds a cluster initialised by node "cp-1"');
  });

  it("join with a CA hash that is not the cluster CA fails with kubeadm's pin message", async () => {
    const w = await lab.host('w-bad-hash', { version: 'v1.31.2' });
    await w.write(
      JOIN_CONFIG,
      joinConfigV1beta4({ name: 'w-bad-hash', caCertHash: `sha256:${'0'.repeat(64)}` }),
    );
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'cluster CA found in cluster-info ConfigMap is invalid: none of the public keys',
    );
    await expect(access(join(w.root, 'etc/kubernetes/kubelet.conf'))).rejects.toThrow();
  });

  it("join to an endpoint that is not this cluster's API server is refused", async () => {
    const w = await lab.host('w-bad-endpoint', { version: 'v1.31.2' });
    await w.write(
      JOIN_CONFIG,
      joinConfigV1beta4({ name: 'w-bad-endpoint', caCertHash: caHash, endpoint: '10.9.9.9:6443' }),
    );
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.stderr).toContain('dial tcp 10.9.9.9:6443: connect: connection refused');
  });

  it('a worker joins, is listed NotReady by get nodes, and turns Ready after a CNI is applied', async () => {
    const w = await lab.host('w-1', { version: 'v1.31.2' });
    await w.write(JOIN_CONFIG, joinConfigV1beta4({ name: 'w-1', caCertHash: caHash }));
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('This node has joined the cluster');
    expect(spkiHash(await w.read('/etc/kubernetes/pki/ca.crt'))).toBe(caHash);

    const nodes = async () =>
      (
        JSON.parse((await cp1.run('kubectl', [...ADMIN, 'get', 'nodes', '-o', 'json'])).stdout) as {
          items: {
            metadata: { name: string; labels: Record<string, string> };
            status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string } };
          }[];
        }
      ).items;
    const before = await nodes();
    expect(before.map((n) => n.metadata.name)).toEqual(['cp-1', 'w-1']);
    expect(before.find((n) => n.metadata.name === 'cp-1')?.metadata.labels).toHaveProperty(
      'node-role.kubernetes.io/control-plane',
    );
    expect(before.every((n) => n.status.conditions.find((c) => c.type === 'Ready')?.status === 'False')).toBe(
      true,
    );
    expect(before[1]?.status.nodeInfo.kubeletVersion).toBe('v1.31.2');

    await cp1.write('/var/lib/kctl-agent/run/cni.yaml', CNI_MANIFEST);
    const applied = await cp1.run('kubectl', [...ADMIN, 'apply', '-f', '/var/lib/kctl-agent/run/cni.yaml']);
    expect(applied.stdout).toBe('namespace/kube-flannel created\ndaemonset.apps/kube-flannel-ds created');
    expect(
      (await nodes()).every((n) => n.status.conditions.find((c) => c.type === 'Ready')?.status === 'True'),
    ).toBe(true);
    expect(await w.read('/etc/cni/net.d/10-flannel.conflist')).toContain('flannel');
  });

  it('a node that already joined refuses a second join (FileAvailable--etc-kubernetes-kubelet.conf)', async () => {
    const w = await lab.host('w-1', { version: 'v1.31.2' });
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      '[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists',
    );
  });

  it('a control plane with the wrong certificate key fails download-certs', async () => {
    const cp = await lab.host('cp-wrong-key', { version: 'v1.31.2' });
    await cp.write(
      JOIN_CONFIG,
      joinConfigV1beta4({
        name: 'cp-wrong-key',
        caCertHash: caHash,
        controlPlane: { ip: '10.0.0.18', certificateKey: 'f'.repeat(64) },
      }),
    );
    const r = await cp.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'error decoding secret data with provided key: cipher: message authentication failed',
    );
  });

  it('a control plane joining after the uploaded certs expired (2h) fails, and succeeds after upload-certs', async () => {
    const cp = await lab.host('cp-2', { version: 'v1.31.2' });
    await cp.write(
      JOIN_CONFIG,
      joinConfigV1beta4({
        name: 'cp-2',
        caCertHash: caHash,
        token: 'ghijkl.0123456789abcdef',
        controlPlane: { ip: '10.0.0.12', certificateKey: CERT_KEY },
      }),
    );
    const created = await cp1.run('kubeadm', [
      'token',
      'create',
      'ghijkl.0123456789abcdef',
      '--ttl',
      '4h',
      ...ADMIN,
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    await lab.setClock('+2h1m');
    try {
      const late = await cp.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
      expect(late.exitCode).toBe(1);
      expect(late.stderr).toContain('Secret "kubeadm-certs" was not found in the "kube-system" Namespace');
      const upload = await cp1.run('kubeadm', [
        'init',
        'phase',
        'upload-certs',
        '--upload-certs',
        '--certificate-key',
        CERT_KEY,
        ...ADMIN,
      ]);
      expect(upload.exitCode, upload.stderr).toBe(0);
      const r = await cp.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain('a new control plane instance was created');
    } finally {
      await lab.setClock(undefined);
    }
    // the shared CA came from the uploaded certs: same key pair, same hash
    expect(spkiHash(await cp.read('/etc/kubernetes/pki/ca.crt'))).toBe(caHash);
    expect(await cp.read('/etc/kubernetes/manifests/etcd.yaml')).toContain(
      '--initial-cluster-state=existing',
    );
    await expect(access(join(cp.root, 'etc/kubernetes/super-admin.conf'))).rejects.toThrow();
    const admin = kubeconfigOf(await cp.read('/etc/kubernetes/admin.conf'));
    expect(new X509Certificate(admin.cert).verify(new X509Certificate(admin.ca).publicKey)).toBe(true);
  });

  it('join with an expired token fails with the JWS signature message (clock from KCTL_STANDIN_NOW)', async () => {
    const w = await lab.host('w-late', { version: 'v1.31.2' });
    await w.write(JOIN_CONFIG, joinConfigV1beta4({ name: 'w-late', caCertHash: caHash }));
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG], {
      env: { KCTL_STANDIN_NOW: '+31m' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"',
    );
  });

  it('token create refuses an existing token ID and token list shows tokens with their TTL', async () => {
    const first = await cp1.run('kubeadm', ['token', 'create', 'dupabc.0123456789abcdef', ...ADMIN]);
    expect(first.stdout).toBe('dupabc.0123456789abcdef');
    const dup = await cp1.run('kubeadm', ['token', 'create', 'dupabc.abcdefghijklmnop', ...ADMIN]);
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toContain('a token with id "dupabc" already exists');
    const list = await cp1.run('kubeadm', ['token', 'list', ...ADMIN]);
    expect(list.stdout).toMatch(/^TOKEN\s+TTL\s+EXPIRES\s+USAGES/);
    expect(list.stdout).toContain('Proxy for managing TTL for the kubeadm-certs secret');
    const joinCmd = await cp1.run('kubeadm', ['token', 'create', '--print-join-command', ...ADMIN]);
    expect(joinCmd.stdout).toMatch(
      new RegExp(
        `^kubeadm join 10\\.0\\.0\\.100:6443 --token [a-z0-9]{6}\\.[a-z0-9]{16} --discovery-token-ca-cert-hash ${caHash}`,
      ),
    );
  });

  it('a kubelet identity may read nodes but not delete them', async () => {
    const w = await lab.host('w-1', { version: 'v1.31.2' });
    const kubelet = ['--kubeconfig', '/etc/kubernetes/kubelet.conf'];
    expect((await w.run('kubectl', [...kubelet, 'get', 'nodes'])).exitCode).toBe(0);
    const del = await w.run('kubectl', [...kubelet, 'delete', 'node', 'cp-1']);
    expect(del.stderr).toContain('User "system:node:w-1" cannot delete resource "nodes"');
  });

  it('drain needs --ignore-daemonsets, and cordons the node either way', async () => {
    const refused = await cp1.run('kubectl', [...ADMIN, 'drain', 'w-1']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      'cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)',
    );
    const drained = await cp1.run('kubectl', [
      ...ADMIN,
      'drain',
      'w-1',
      '--ignore-daemonsets',
      '--delete-emptydir-data',
    ]);
    expect(drained.stdout).toContain('node/w-1 drained');
    expect((await cp1.run('kubectl', [...ADMIN, 'get', 'nodes'])).stdout).toMatch(
      /w-1\s+Ready,SchedulingDisabled/,
    );
    expect((await cp1.run('kubectl', [...ADMIN, 'uncordon', 'w-1'])).stdout).toBe('node/w-1 uncordoned');
  });

  it('calls.jsonl records every run in order and never contains a token or certificate key', async () => {
    const calls = await lab.calls();
    const init = calls.findIndex(
      (c) => c.tool === 'kubeadm' && c.argv[0] === 'init' && c.argv.includes('--upload-certs'),
    );
    const joins = calls.filter((c) => c.argv[0] === 'join' && c.exitCode === 0);
    expect(calls[init]).toMatchObject({ node: 'cp-1', hostRoot: cp1.root, exitCode: 0 });
    expect(joins.map((c) => c.node)).toEqual(['w-1', 'cp-2']);
    const text = JSON.stringify(calls);
    expect(text).not.toMatch(/[a-z0-9]{6}\.[a-z0-9]{16}/);
    expect(text).not.toContain(CERT_KEY);
    expect(text).toContain('"--certificate-key","[redacted]"');
  });

  it('kubectl refuses a kubeconfig of another cluster as TLS would', async () => {
    const h = await lab.host('stranger', { version: 'v1.31.2' });
    const foreign = (await cp1.read('/etc/kubernetes/admin.conf')).replace(
      /certificate-authority-data: \S+/,
      `certificate-authority-data: ${Buffer.from(await cp1.read('/etc/kubernetes/pki/front-proxy-ca.crt')).toString('base64')}`,
    );
    await h.write('/etc/kubernetes/admin.conf', foreign);
    const r = await h.run('kubectl', [...ADMIN, 'get', 'nodes']);
    expect(r.stderr).toContain('x509: certificate signed by unknown authority');
    expect(
      (await h.run('kubectl', ['--kubeconfig', '/etc/kubernetes/none.conf', 'get', 'nodes'])).stderr,
    ).toBe('error: stat /etc/kubernetes/none.conf: no such file or directory');
  });
});
