import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEtcdPki, type EtcdPki } from '../../controller/etcd/pki.js';
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

/**
 * The kubeadm STAND-IN with etcd.external (kctl's managed and external etcd): the CA and client
 * pair must be on the host and the client certificate signed by that CA; no stacked etcd is made;
 * the endpoints land in calls.jsonl.
 */

const ENDPOINTS = ['https://10.0.0.31:2379', 'https://10.0.0.32:2379', 'https://10.0.0.33:2379'];
const EXTERNAL = `etcd:
  external:
    endpoints:
${ENDPOINTS.map((e) => `    - ${e}`).join('\n')}
    caFile: /etc/kubernetes/pki/etcd/ca.crt
    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
`;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function putClientFiles(host: StandinHost, pki: EtcdPki, caPem = pki.ca.certPem): Promise<void> {
  await host.write('/etc/kubernetes/pki/etcd/ca.crt', caPem);
  await host.write('/etc/kubernetes/pki/apiserver-etcd-client.crt', pki.apiserverClient.certPem);
  await host.write('/etc/kubernetes/pki/apiserver-etcd-client.key', pki.apiserverClient.keyPem);
}

describe('kubeadm stand-in with etcd.external', () => {
  let lab: StandinLab;
  let pki: EtcdPki;
  let other: EtcdPki;

  beforeAll(async () => {
    lab = await standinLab();
    const members = [{ name: 'etcd-1', address: '10.0.0.31' }];
    pki = (await ensureEtcdPki(undefined, members)).pki;
    other = (await ensureEtcdPki(undefined, members)).pki;
  }, 120_000);
  afterAll(() => lab.cleanup());

  const config = (name: string, ip: string) =>
    initConfigV1beta4({ name, ip, version: 'v1.31.2', extra: EXTERNAL });

  it('refuses init when the client certificate files are missing, naming the file', async () => {
    const h = await lab.host('cp-missing', { version: 'v1.31.2' });
    await h.write(INIT_CONFIG, config('cp-missing', '10.0.0.19'));
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('ExternalEtcdClientCertificates');
    expect(r.stderr).toContain('/etc/kubernetes/pki/apiserver-etcd-client.crt');
  });

  it('refuses init when the client certificate is not signed by the etcd CA', async () => {
    const h = await lab.host('cp-wrong', { version: 'v1.31.2' });
    await h.write(INIT_CONFIG, config('cp-wrong', '10.0.0.18'));
    await putClientFiles(h, pki, other.ca.certPem);
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('is not signed by the CA');
  });

  it('inits and joins a control plane with external etcd: no etcd manifest, the CA kept, endpoints logged', async () => {
    const cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    await cp1.write(INIT_CONFIG, config('cp-1', '10.0.0.11'));
    await putClientFiles(cp1, pki);
    const init = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(await exists(join(cp1.root, 'etc/kubernetes/manifests/etcd.yaml'))).toBe(false);
    expect(await exists(join(cp1.root, 'etc/kubernetes/manifests/kube-apiserver.yaml'))).toBe(true);
    expect(await exists(join(cp1.root, 'etc/kubernetes/pki/etcd/ca.key'))).toBe(false);
    expect(await cp1.read('/etc/kubernetes/pki/etcd/ca.crt')).toBe(pki.ca.certPem);
    const apiserver = await cp1.read('/etc/kubernetes/manifests/kube-apiserver.yaml');
    expect(apiserver).toContain(`--etcd-servers=${ENDPOINTS.join(',')}`);

    const hash = /--discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})/.exec(init.stdout)?.[1] ?? '';
    const cp2 = await lab.host('cp-2', { version: 'v1.31.2' });
    await putClientFiles(cp2, pki);
    await cp2.write(
      JOIN_CONFIG,
      joinConfigV1beta4({
        name: 'cp-2',
        caCertHash: hash,
        controlPlane: { ip: '10.0.0.12', certificateKey: CERT_KEY },
      }),
    );
    const join2 = await cp2.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(join2.exitCode, join2.stderr).toBe(0);
    expect(await exists(join(cp2.root, 'etc/kubernetes/manifests/etcd.yaml'))).toBe(false);
    expect(await cp2.read('/etc/kubernetes/pki/etcd/ca.crt')).toBe(pki.ca.certPem);

    const calls = (await lab.calls()).filter((c) => c.tool === 'kubeadm' && c.exitCode === 0);
    expect(calls.map((c) => [c.node, c.etcdExternal?.endpoints])).toEqual([
      ['cp-1', ENDPOINTS],
      ['cp-2', ENDPOINTS],
    ]);
  }, 60_000);
});
