import { X509Certificate } from 'node:crypto';
import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INIT_CONFIG,
  JOIN_CONFIG,
  initConfigV1beta4,
  joinConfigV1beta4,
  standinLab,
  type StandinHost,
  type StandinLab,
} from './standin-fixture.js';
import { caCertHashOf } from './standin-pki.js';

/**
 * Hosts that share only the cluster directory (the fleet lab: each host its own root filesystem,
 * the cluster directory bind-mounted into all): a joining worker cannot read a control plane's
 * /etc/kubernetes/pki/ca.key, and its kubelet is signed by the controller-manager's key kept with
 * the cluster, as a real kubelet's CSR is signed through the API server.
 */
describe('kubelet TLS bootstrap on a host that cannot read any control plane', () => {
  let lab: StandinLab;
  let cp1: StandinHost;

  beforeAll(async () => {
    lab = await standinLab();
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    await cp1.write(INIT_CONFIG, initConfigV1beta4({ name: 'cp-1', ip: '10.0.0.11', version: 'v1.31.2' }));
    const r = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG, '--upload-certs']);
    expect(r.exitCode, r.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => lab.cleanup());

  it('init keeps the signing key with the cluster (0600); a worker joins with the control plane key out of reach', async () => {
    const keyFile = join(lab.clusterDir, 'controller-manager-ca.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(keyFile, 'utf8')).toBe(await cp1.read('/etc/kubernetes/pki/ca.key'));
    // another machine's disk: the worker's stand-in cannot read it
    await rename(
      join(cp1.root, 'etc/kubernetes/pki/ca.key'),
      join(cp1.root, 'etc/kubernetes/pki/ca.key.away'),
    );
    const w = await lab.host('w-1', { version: 'v1.31.2' });
    await w.write(
      JOIN_CONFIG,
      joinConfigV1beta4({
        name: 'w-1',
        caCertHash: caCertHashOf(await cp1.read('/etc/kubernetes/pki/ca.crt')),
      }),
    );
    const r = await w.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(r.exitCode, r.stderr).toBe(0);
    const client = new X509Certificate(await w.read('/var/lib/kubelet/pki/kubelet-client-current.pem'));
    expect(client.verify(new X509Certificate(await cp1.read('/etc/kubernetes/pki/ca.crt')).publicKey)).toBe(
      true,
    );
  }, 60_000);
});
