import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEtcdPki, type EtcdPki } from '../../controller/etcd/pki.js';
import { renderKubeadmApiserverConfig } from '../../controller/render/kubeadm-apiserver-etcd.js';
import type { KubeadmInput } from '../../controller/render/types.js';
import { etcdServersOf } from '../../proto/ops-apiserver-etcd.js';
import {
  INIT_CONFIG,
  initConfigV1beta4,
  standinLab,
  type StandinHost,
  type StandinLab,
} from './standin-fixture.js';

/**
 * The kubeadm STAND-IN's `init phase control-plane apiserver` and `init phase upload-config
 * kubeadm`, fed the config kctl renders (render/kubeadm-apiserver-etcd.ts): the config is validated
 * as init's, the kube-apiserver manifest is rewritten with etcd.external's endpoints, the
 * kubeadm-config ConfigMap (state.json) takes the new ClusterConfiguration, calls.jsonl has the runs.
 */

const THREE = ['https://10.0.0.31:2379', 'https://10.0.0.32:2379', 'https://10.0.0.33:2379'];
const FOUR = [...THREE, 'https://10.0.0.34:2379'];
const PHASE_CONFIG = '/var/lib/kctl-agent/run/kubeadm-apiserver-etcd.yaml';
const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const external = (endpoints: string[]) => `etcd:
  external:
    endpoints:
${endpoints.map((e) => `    - ${e}`).join('\n')}
    caFile: /etc/kubernetes/pki/etcd/ca.crt
    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
`;

function input(endpoints: string[]): KubeadmInput {
  return {
    kubernetesVersion: 'v1.31.2',
    clusterName: 'kubernetes',
    controlPlaneEndpoint: { host: '10.0.0.100', port: 6443 },
    nodeName: 'cp-1',
    advertiseAddress: '10.0.0.11',
    bindPort: 6443,
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    certSANs: ['10.0.0.100'],
    extraArgs: {
      apiServer: { 'audit-log-maxage': '30' },
      controllerManager: {},
      scheduler: {},
      etcd: {},
      kubelet: {},
    },
    kubeProxyMode: 'ipvs',
    kubeVip: false,
    criSocket: 'unix:///var/run/containerd/containerd.sock',
    externalEtcd: { endpoints },
  };
}

describe('kubeadm stand-in init phase control-plane apiserver / upload-config kubeadm', () => {
  let lab: StandinLab;
  let pki: EtcdPki;
  let cp1: StandinHost;
  const state = async () =>
    JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
      cluster: { clusterConfiguration: { etcd?: { external?: { endpoints: string[] } } } };
    };

  beforeAll(async () => {
    lab = await standinLab();
    pki = (await ensureEtcdPki(undefined, [{ name: 'etcd-1', address: '10.0.0.31' }])).pki;
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    await cp1.write('/etc/kubernetes/pki/etcd/ca.crt', pki.ca.certPem);
    await cp1.write('/etc/kubernetes/pki/apiserver-etcd-client.crt', pki.apiserverClient.certPem);
    await cp1.write('/etc/kubernetes/pki/apiserver-etcd-client.key', pki.apiserverClient.keyPem);
    await cp1.write(
      INIT_CONFIG,
      initConfigV1beta4({ name: 'cp-1', ip: '10.0.0.11', version: 'v1.31.2', extra: external(THREE) }),
    );
    const init = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(init.exitCode, init.stderr).toBe(0);
  }, 120_000);
  afterAll(() => lab.cleanup());

  it("rewrites kube-apiserver.yaml with the new endpoints from kctl's config, keeping the rest", async () => {
    const before = await cp1.read(MANIFEST);
    expect(etcdServersOf(before)).toEqual(THREE);
    await cp1.write(PHASE_CONFIG, renderKubeadmApiserverConfig(input(FOUR)));
    const r = await cp1.run('kubeadm', [
      'init',
      'phase',
      'control-plane',
      'apiserver',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Creating static Pod manifest for "kube-apiserver"');
    const after = await cp1.read(MANIFEST);
    expect(etcdServersOf(after)).toEqual(FOUR);
    // only the etcd servers moved: same advertise address, port, image, certificates
    expect(after.replace(FOUR.join(','), THREE.join(','))).toBe(before);
    const calls = (await lab.calls()).filter((c) => c.argv[1] === 'phase');
    expect(calls.map((c) => [c.node, c.argv.join(' '), c.exitCode, c.etcdExternal?.endpoints])).toEqual([
      ['cp-1', `init phase control-plane apiserver --config ${PHASE_CONFIG}`, 0, FOUR],
    ]);
  }, 60_000);

  it('refuses a config init would refuse (unknown field), leaving the manifest as it was', async () => {
    const manifest = await cp1.read(MANIFEST);
    await cp1.write(
      PHASE_CONFIG,
      renderKubeadmApiserverConfig(input(THREE)).replace(
        'kind: ClusterConfiguration',
        'kind: ClusterConfiguration\nbogus: 1',
      ),
    );
    const r = await cp1.run('kubeadm', [
      'init',
      'phase',
      'control-plane',
      'apiserver',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('unknown field "bogus"');
    expect(await cp1.read(MANIFEST)).toBe(manifest);
  });

  it('refuses a node name init would refuse, naming the field', async () => {
    const manifest = await cp1.read(MANIFEST);
    await cp1.write(PHASE_CONFIG, renderKubeadmApiserverConfig({ ...input(FOUR), nodeName: 'CP_1' }));
    const r = await cp1.run('kubeadm', [
      'init',
      'phase',
      'control-plane',
      'apiserver',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('nodeRegistration.name: Invalid value: "CP_1"');
    expect(await cp1.read(MANIFEST)).toBe(manifest);
  });

  it('refuses when the etcd client pair is missing on the host, naming the file', async () => {
    const cp9 = await lab.host('cp-9', { version: 'v1.31.2' });
    await cp9.write(PHASE_CONFIG, renderKubeadmApiserverConfig({ ...input(FOUR), nodeName: 'cp-9' }));
    const r = await cp9.run('kubeadm', [
      'init',
      'phase',
      'control-plane',
      'apiserver',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('/etc/kubernetes/pki/apiserver-etcd-client.crt');
  });

  it('names the components it does not model', async () => {
    const r = await cp1.run('kubeadm', [
      'init',
      'phase',
      'control-plane',
      'scheduler',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('not implemented by the stand-in');
  });

  it('upload-config kubeadm replaces the ClusterConfiguration in the kubeadm-config ConfigMap; needs admin.conf', async () => {
    expect((await state()).cluster.clusterConfiguration.etcd?.external?.endpoints).toEqual(THREE);
    await cp1.write(PHASE_CONFIG, renderKubeadmApiserverConfig(input(FOUR)));
    const r = await cp1.run('kubeadm', [
      'init',
      'phase',
      'upload-config',
      'kubeadm',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('ConfigMap "kubeadm-config"');
    expect((await state()).cluster.clusterConfiguration.etcd?.external?.endpoints).toEqual(FOUR);

    const stranger = await lab.host('w-9', { version: 'v1.31.2' });
    await stranger.write(PHASE_CONFIG, renderKubeadmApiserverConfig(input(THREE)));
    const refused = await stranger.run('kubeadm', [
      'init',
      'phase',
      'upload-config',
      'kubeadm',
      '--config',
      PHASE_CONFIG,
    ]);
    expect(refused.exitCode).not.toBe(0);
    expect((await state()).cluster.clusterConfiguration.etcd?.external?.endpoints).toEqual(FOUR);
  }, 60_000);
});
