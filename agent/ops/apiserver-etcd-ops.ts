import { KctlError } from '../../proto/errors.js';
import { etcdServersOf, manifestFlag, sameEtcdServers } from '../../proto/ops-apiserver-etcd.js';
import type { Host } from '../host/host.js';
import type { AgentOp } from './registry.js';

export const APISERVER_MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const CA_CERT = '/etc/kubernetes/pki/ca.crt';
/** secret-free, but kept with the other transient kubeadm configs and removed after the run */
const CONFIG = '/var/lib/kctl-agent/run/kubeadm-apiserver-etcd.yaml';
const KUBEADM_TIMEOUT_MS = 5 * 60_000;
const READY_POLL_MS = 1_000;

/** The API server's --etcd-servers on this host; null without a manifest or the flag. */
export async function apiserverEtcdServers(host: Host): Promise<string[] | null> {
  const manifest = await host.readFile(APISERVER_MANIFEST).catch(() => undefined);
  return (manifest === undefined ? undefined : etcdServersOf(manifest)) ?? null;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

function bracket(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Polls the API server's /readyz from its manifest's address and port until it answers ok. */
async function waitReady(
  host: Host,
  timeoutMs: number,
  signal: AbortSignal,
  progress: (m: string) => void,
): Promise<void> {
  const manifest = (await host.readFile(APISERVER_MANIFEST)) ?? '';
  const address = manifestFlag(manifest, 'advertise-address') ?? '127.0.0.1';
  const port = manifestFlag(manifest, 'secure-port') ?? '6443';
  const url = `https://${bracket(address)}:${port}/readyz`;
  const ca = await host.readFile(CA_CERT);
  if (ca === undefined) throw new KctlError('step_failed', `Cannot check ${url}: ${CA_CERT} does not exist`);
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const body = await host.net.fetchBytes(url, { ca, timeoutMs: 5_000, maxRedirects: 0 });
      if (body.toString('utf8').trim() === 'ok') return;
      last = `answered "${body.toString('utf8').slice(0, 200).trim()}"`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline || signal.aborted)
      throw new KctlError(
        'step_failed',
        `kube-apiserver at ${url} is not ready ${Math.round(timeoutMs / 1000)} s after its manifest was regenerated: ${last}`,
        {
          retryable: true,
          details: { remedy: 'crictl ps -a --name kube-apiserver and its logs on this host' },
        },
      );
    progress(`waiting for ${url} (${last})`);
    await sleep(READY_POLL_MS, signal);
  }
}

/**
 * `kubeadm.apiserverEtcd`: regenerates this control plane's kube-apiserver manifest the kubeadm
 * way with new etcd.external.endpoints, uploads the ClusterConfiguration when asked, and waits
 * until the restarted API server is ready, so the controller moves to the next control plane only
 * then. A manifest that lists the servers already is left alone (a re-sent or resumed command).
 */
export const kubeadmApiserverEtcdOp: AgentOp<'kubeadm.apiserverEtcd'> = {
  name: 'kubeadm.apiserverEtcd',
  exclusive: 'kubeadm',
  async run(args, { host, log, progress, signal }) {
    const say = (message: string): void => progress({ message });
    const before = await apiserverEtcdServers(host);
    if (!(await host.exists(APISERVER_MANIFEST)))
      throw new KctlError(
        'check_failed',
        `${APISERVER_MANIFEST} does not exist: this host is not a control plane kubeadm set up`,
      );
    const rewrite = before === null || !sameEtcdServers(before, args.etcdServers);
    await host.writeFileAtomic(CONFIG, args.config, { mode: 0o600, uid: 0, gid: 0 });
    const started = Date.now();
    try {
      if (rewrite) {
        say('kubeadm init phase control-plane apiserver');
        await host.run('kubeadm', ['init', 'phase', 'control-plane', 'apiserver', '--config', CONFIG], {
          timeoutMs: KUBEADM_TIMEOUT_MS,
        });
        const after = await apiserverEtcdServers(host);
        if (after === null || !sameEtcdServers(after, args.etcdServers))
          throw new KctlError(
            'step_failed',
            `kubeadm init phase control-plane apiserver left ${APISERVER_MANIFEST} with --etcd-servers=${after?.join(',') ?? '(none)'}, not ${args.etcdServers.join(',')}`,
          );
        log.info({ before, after }, 'api server manifest regenerated');
      }
      if (args.uploadConfig) {
        say('kubeadm init phase upload-config kubeadm');
        await host.run('kubeadm', ['init', 'phase', 'upload-config', 'kubeadm', '--config', CONFIG], {
          timeoutMs: KUBEADM_TIMEOUT_MS,
        });
      }
    } finally {
      await host.removeFile(CONFIG);
    }
    // the kubelet notices a changed manifest within its file check period, then restarts the pod
    if (rewrite) await sleep(args.restartWaitMs, signal);
    await waitReady(host, args.healthTimeoutMs, signal, say);
    return {
      rewritten: rewrite,
      before,
      etcdServers: [...args.etcdServers],
      uploaded: args.uploadConfig,
      readyAfterMs: Date.now() - started,
    };
  },
};
