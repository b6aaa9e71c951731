import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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

/**
 * The STAND-IN kubelet's restart model: its systemd unit runs `kubelet --standin-start` on each
 * start, which records the running version; a Node reports that, so a package upgrade alone does
 * not change what kubectl shows, and `systemctl restart kubelet` does. Hosts here have no systemd:
 * the test runs the unit's ExecStart itself, as systemd would on a start.
 */

const ADMIN = ['--kubeconfig', '/etc/kubernetes/admin.conf'];

function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

describe('kubelet restarts in the stand-in cluster', () => {
  let lab: StandinLab;
  let cp1: StandinHost;
  let w1: StandinHost;

  beforeAll(async () => {
    lab = await standinLab();
    cp1 = await lab.host('cp-1', { version: 'v1.31.2' });
    w1 = await lab.host('w-1', { version: 'v1.31.2' });
    await cp1.write(
      INIT_CONFIG,
      initConfigV1beta4({ name: 'cp-1', ip: '10.0.7.11', version: 'v1.31.2', algorithm: 'ECDSA-P256' }),
    );
    const init = await cp1.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(init.exitCode, init.stderr).toBe(0);
    const caHash = spkiHash(await cp1.read('/etc/kubernetes/pki/ca.crt'));
    await w1.write(JOIN_CONFIG, joinConfigV1beta4({ name: 'w-1', caCertHash: caHash }));
    const join = await w1.run('kubeadm', ['join', '--config', JOIN_CONFIG]);
    expect(join.exitCode, join.stderr).toBe(0);
  }, 120_000);
  afterAll(() => lab.cleanup());

  const versions = async (): Promise<Record<string, string>> => {
    const r = await cp1.run('kubectl', [...ADMIN, 'get', 'nodes', '-o', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const items = (
      JSON.parse(r.stdout) as {
        items: Array<{ metadata: { name: string }; status: { nodeInfo: { kubeletVersion: string } } }>;
      }
    ).items;
    return Object.fromEntries(items.map((n) => [n.metadata.name, n.status.nodeInfo.kubeletVersion]));
  };
  const running = async (): Promise<Record<string, { version: string }>> =>
    (
      JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
        runningKubelets: Record<string, { version: string }>;
      }
    ).runningKubelets;

  it('without a kubelet unit (no start recorded) a node reports the installed version, as before', async () => {
    expect(await running()).toEqual({});
    await w1.write('/etc/kctl-standin/version', 'v1.31.3');
    try {
      expect(await versions()).toEqual({ 'cp-1': 'v1.31.2', 'w-1': 'v1.31.3' });
    } finally {
      await w1.write('/etc/kctl-standin/version', 'v1.31.2');
    }
  });

  it('a unit start records the running version; a package upgrade alone keeps reporting the old one; a restart reports the new one', async () => {
    for (const h of [cp1, w1]) {
      const start = await h.run('kubelet', ['--standin-start']);
      expect(start.exitCode, start.stderr).toBe(0);
      expect(start.stdout).toContain(`v1.31.2 started for node "${h.name}"`);
    }
    expect(await running()).toMatchObject({ 'cp-1': { version: 'v1.31.2' }, 'w-1': { version: 'v1.31.2' } });

    // the package manager replaced the binaries: `kubelet --version` says so at once...
    for (const h of [cp1, w1]) await h.write('/etc/kctl-standin/version', 'v1.31.3');
    expect((await w1.run('kubelet', ['--version'])).stdout).toBe('Kubernetes v1.31.3');
    // ...but the running kubelets are the old ones until the unit restarts
    expect(await versions()).toEqual({ 'cp-1': 'v1.31.2', 'w-1': 'v1.31.2' });

    const restart = await w1.run('kubelet', ['--standin-start']);
    expect(restart.exitCode, restart.stderr).toBe(0);
    expect(await versions()).toEqual({ 'cp-1': 'v1.31.2', 'w-1': 'v1.31.3' });
    expect((await cp1.run('kubectl', [...ADMIN, 'get', 'nodes'])).stdout).toMatch(
      /w-1\s+NotReady\s+<none>\s+\S+\s+v1\.31\.3/,
    );

    const starts = (await lab.calls()).filter((c) => c.tool === 'kubelet' && c.argv[0] === '--standin-start');
    expect(starts.map((c) => `${c.node}:${c.exitCode}`)).toEqual(['cp-1:0', 'w-1:0', 'w-1:0']);
  });

  it('kubeadm upgrade node does not restart the kubelet', async () => {
    const up = await cp1.run('kubeadm', ['upgrade', 'node']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect((await versions())['cp-1']).toBe('v1.31.2');
  });

  it('a start before kubeadm configured the kubelet fails as the real kubelet does and records nothing', async () => {
    const fresh = await lab.host('w-fresh', { version: 'v1.31.3' });
    const r = await fresh.run('kubelet', ['--standin-start']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('failed to load kubelet config file, path: /var/lib/kubelet/config.yaml');
    expect(Object.keys(await running()).sort()).toEqual(['cp-1', 'w-1']);
  });

  it('kubeadm reset stops the kubelet: its running record goes', async () => {
    const r = await w1.run('kubeadm', ['reset', '-f']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Object.keys(await running())).toEqual(['cp-1']);
  });
});
