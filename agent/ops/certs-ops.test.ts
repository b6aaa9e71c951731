import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { kubeadmCertsRenewOp } from './certs-ops.js';
import type { OpContext } from './registry.js';

const MANIFESTS = '/etc/kubernetes/manifests';
const PARKED = '/etc/kubernetes/kctl-parked-manifests';

describe('kubeadm.certsRenew', () => {
  let t: TempHost | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });
  const ctx = (host: TempHost['host'], progress: string[]): OpContext => ({
    host,
    hostId: 'h',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: (u) => progress.push(u.message),
  });

  it('runs kubeadm certs renew all, then takes each static pod manifest out and back, etcd first', async () => {
    t = await tempHost({
      files: {
        [`${MANIFESTS}/etcd.yaml`]: 'etcd\n',
        [`${MANIFESTS}/kube-apiserver.yaml`]: 'apiserver\n',
        [`${MANIFESTS}/kube-scheduler.yaml`]: 'scheduler\n',
        [`${MANIFESTS}/kube-vip.yaml`]: 'kube-vip\n',
      },
      programs: {
        kubeadm: {
          stdout:
            'certificate for serving the Kubernetes API renewed\\nsomething else\\nDone renewing certificates.',
        },
      },
    });
    const progress: string[] = [];
    const r = await kubeadmCertsRenewOp.run({ restartWaitMs: 0 }, ctx(t.host, progress));
    expect((await t.calls()).map((c) => [c.program, ...c.args])).toEqual([
      ['kubeadm', 'certs', 'renew', 'all'],
    ]);
    expect(r.restarted).toEqual(['etcd', 'kube-apiserver', 'kube-scheduler']);
    expect(progress).toEqual([
      'kubeadm certs renew all',
      'restart etcd',
      'restart kube-apiserver',
      'restart kube-scheduler',
    ]);
    // every manifest back with its content; kube-vip is not a control-plane pod and was not touched
    expect(await readFile(join(t.root, MANIFESTS, 'kube-apiserver.yaml'), 'utf8')).toBe('apiserver\n');
    expect((await readdir(join(t.root, MANIFESTS))).sort()).toEqual([
      'etcd.yaml',
      'kube-apiserver.yaml',
      'kube-scheduler.yaml',
      'kube-vip.yaml',
    ]);
    expect(await readdir(join(t.root, PARKED))).toEqual([]);
  });

  it('puts back a manifest an agent killed mid-restart left parked, before anything else', async () => {
    t = await tempHost({
      files: {
        // the crash came after the manifest was parked and removed
        [`${PARKED}/kube-apiserver.yaml`]: 'apiserver\n',
        [`${MANIFESTS}/etcd.yaml`]: 'etcd\n',
      },
      programs: { kubeadm: { exitCode: 1, stderr: 'failed to load the CA' } },
    });
    await expect(kubeadmCertsRenewOp.run({ restartWaitMs: 0 }, ctx(t.host, []))).rejects.toThrow();
    // kubeadm failed, yet the parked manifest is back: the kubelet runs the API server again
    expect(await readFile(join(t.root, MANIFESTS, 'kube-apiserver.yaml'), 'utf8')).toBe('apiserver\n');
    expect(await readdir(join(t.root, PARKED))).toEqual([]);
  });
});
