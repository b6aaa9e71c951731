import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { apiserverEtcdServers, kubeadmApiserverEtcdOp } from './apiserver-etcd-ops.js';
import type { OpContext } from './registry.js';

/**
 * kubeadm.apiserverEtcd before the readiness wait (the integration test
 * test/integration/apiserver-etcd-endpoints.test.ts covers the whole op with the stand-in kubeadm
 * and API server): what it refuses, and that its config file never stays on the host.
 */

const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const CONFIG = '/var/lib/kctl-agent/run/kubeadm-apiserver-etcd.yaml';
const manifest = (servers: string) => `apiVersion: v1
kind: Pod
spec:
  containers:
    - command:
        - kube-apiserver
        - --advertise-address=127.0.0.1
        - --etcd-servers=${servers}
        - --secure-port=1
`;
const args = {
  config: 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n',
  etcdServers: ['https://10.0.0.31:2379', 'https://10.0.0.32:2379'],
  uploadConfig: true,
  restartWaitMs: 0,
  healthTimeoutMs: 1_000,
};

describe('kubeadm.apiserverEtcd', () => {
  let t: TempHost | undefined;
  afterEach(() => t?.cleanup());
  const ctx = (h: TempHost): OpContext => ({
    host: h.host,
    hostId: 'h-cp',
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    progress: () => undefined,
  });
  const failure = async (h: TempHost): Promise<KctlError> => {
    try {
      await kubeadmApiserverEtcdOp.run(args, ctx(h));
    } catch (err) {
      return err as KctlError;
    }
    throw new Error('kubeadm.apiserverEtcd did not fail');
  };

  it('reads --etcd-servers from the manifest, null without one', async () => {
    t = await tempHost({ files: { [MANIFEST]: manifest('https://a:2379,https://b:2379') } });
    expect(await apiserverEtcdServers(t.host)).toEqual(['https://a:2379', 'https://b:2379']);
    await t.host.removeFile(MANIFEST);
    expect(await apiserverEtcdServers(t.host)).toBeNull();
  });

  it('refuses a host without a kube-apiserver manifest, running nothing', async () => {
    t = await tempHost({ programs: { kubeadm: {} } });
    const err = await failure(t);
    expect(err).toBeInstanceOf(KctlError);
    expect(err.code).toBe('check_failed');
    expect(err.message).toContain(MANIFEST);
    expect(await t.calls()).toEqual([]);
  });

  it('fails when kubeadm left other servers in the manifest, and removes its config file', async () => {
    t = await tempHost({
      files: { [MANIFEST]: manifest('https://10.0.0.31:2379') },
      programs: { kubeadm: {} },
    });
    const err = await failure(t);
    expect(err.code).toBe('step_failed');
    expect(err.message).toContain(
      '--etcd-servers=https://10.0.0.31:2379, not https://10.0.0.31:2379,https://10.0.0.32:2379',
    );
    expect((await t.calls()).map((c) => c.args.join(' '))).toEqual([
      `init phase control-plane apiserver --config ${CONFIG}`,
    ]);
    expect(await t.host.exists(CONFIG)).toBe(false);
  });

  it('does not run kubeadm for a manifest that lists the servers in another order; uploads; then waits for /readyz', async () => {
    t = await tempHost({
      files: {
        [MANIFEST]: manifest('https://10.0.0.32:2379,https://10.0.0.31:2379'),
        '/etc/kubernetes/pki/ca.crt': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      },
      programs: { kubeadm: {} },
    });
    const err = await failure(t);
    // no API server in a temp root: the readiness wait is what fails, naming the URL, retryable
    expect(err.code).toBe('step_failed');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('https://127.0.0.1:1/readyz');
    expect((await t.calls()).map((c) => c.args.join(' '))).toEqual([
      `init phase upload-config kubeadm --config ${CONFIG}`,
    ]);
    expect(await t.host.exists(CONFIG)).toBe(false);
  });
});
