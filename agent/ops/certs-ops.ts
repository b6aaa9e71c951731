import type { CertificateInfo } from '../../proto/certs.js';
import type { Host } from '../host/host.js';
import { certificatePaths, firstCertificate, KUBELET_CLIENT_CERT, PKI_DIR } from '../health/certificates.js';
import type { AgentOp } from './registry.js';

/** The kubeconfigs kubeadm embeds a client certificate in (what `kubeadm certs check-expiration` lists). */
const KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf'] as const;
const CA_NAMES = new Set(['ca', 'front-proxy-ca', 'etcd/ca']);

const MANIFESTS = '/etc/kubernetes/manifests';
/**
 * A static pod manifest taken out of the kubelet's sight while its pod restarts. Outside manifests/,
 * inside the allow-listed /etc/kubernetes; a successor agent puts back whatever a crash left here.
 */
const PARKED = '/etc/kubernetes/kctl-parked-manifests';
/** etcd first: the API server it serves restarts next, then its clients */
const STATIC_PODS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

function info(name: string, path: string, kind: CertificateInfo['kind'], pem: string): CertificateInfo {
  const cert = firstCertificate(pem);
  if (!cert) return { name, path, kind, subject: '' };
  return {
    name,
    path,
    kind,
    subject: cert.subject.replace(/\n/g, ', '),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

/** The client certificate embedded in a kubeconfig, as PEM (kubeadm writes it base64 on one line). */
function embeddedClientCert(kubeconfig: string): string {
  const data = /^\s*client-certificate-data:\s*(\S+)\s*$/m.exec(kubeconfig)?.[1];
  return data === undefined ? '' : Buffer.from(data, 'base64').toString('utf8');
}

export async function nodeCertificates(host: Host): Promise<CertificateInfo[]> {
  const out: CertificateInfo[] = [];
  const paths = (await host.exists(PKI_DIR)) ? await certificatePaths(host, PKI_DIR) : [];
  for (const path of paths) {
    const name = path.slice(PKI_DIR.length + 1, -'.crt'.length);
    const kind = CA_NAMES.has(name) ? 'ca' : 'leaf';
    const entry = info(name, path, kind, (await host.readFile(path)) ?? '');
    if (kind === 'ca' && !(await host.exists(`${PKI_DIR}/${name}.key`))) entry.externallyManaged = true;
    out.push(entry);
  }
  for (const file of KUBECONFIGS) {
    const path = `/etc/kubernetes/${file}`;
    const text = await host.readFile(path);
    if (text !== undefined) out.push(info(file, path, 'kubeconfig', embeddedClientCert(text)));
  }
  const kubelet = await host.readFile(KUBELET_CLIENT_CERT);
  if (kubelet !== undefined) out.push(info('kubelet-client', KUBELET_CLIENT_CERT, 'kubelet', kubelet));
  return out;
}

/** `certs.check`: what `kubeadm certs check-expiration` shows, plus the kubelet's client certificate. */
export const certsCheckOp: AgentOp<'certs.check'> = {
  name: 'certs.check',
  async run(_args, { host }) {
    return { certificates: await nodeCertificates(host) };
  },
};

/** Puts back every manifest a crashed restart left parked, unless the kubelet's copy is there. */
async function restoreParked(host: Host): Promise<string[]> {
  const restored: string[] = [];
  for (const file of await host.listDir(PARKED)) {
    const parked = `${PARKED}/${file}`;
    const content = await host.readFileBytes(parked);
    if (content !== undefined && !(await host.exists(`${MANIFESTS}/${file}`))) {
      await host.writeFileAtomic(`${MANIFESTS}/${file}`, content, { mode: 0o600 });
      restored.push(file);
    }
    await host.removeFile(parked);
  }
  return restored;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * `kubeadm.certsRenew`: `kubeadm certs renew all`, then each control-plane static pod restarted as
 * the kubeadm guide says (its manifest out of the kubelet's sight for `restartWaitMs`, then back).
 * The manifest is parked in a file first, so an agent killed in between leaves nothing lost: the
 * next run (or a retry) puts it back before anything else.
 */
export const kubeadmCertsRenewOp: AgentOp<'kubeadm.certsRenew'> = {
  name: 'kubeadm.certsRenew',
  exclusive: 'kubeadm',
  async run({ restartWaitMs }, { host, progress, log, signal }) {
    const restoredFirst = await restoreParked(host);
    if (restoredFirst.length > 0)
      log.warn({ restored: restoredFirst }, 'put back manifests an earlier run left parked');
    progress({ message: 'kubeadm certs renew all' });
    const result = await host.run('kubeadm', ['certs', 'renew', 'all'], { timeoutMs: 300_000 });
    const renewed = result.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.endsWith(' renewed'));
    const restarted: string[] = [];
    for (const pod of STATIC_PODS) {
      const file = `${pod}.yaml`;
      const content = await host.readFileBytes(`${MANIFESTS}/${file}`);
      if (content === undefined) continue;
      progress({ message: `restart ${pod}` });
      await host.writeFileAtomic(`${PARKED}/${file}`, content, { mode: 0o600 });
      await host.removeFile(`${MANIFESTS}/${file}`);
      await sleep(restartWaitMs, signal);
      await host.writeFileAtomic(`${MANIFESTS}/${file}`, content, { mode: 0o600 });
      await host.removeFile(`${PARKED}/${file}`);
      restarted.push(pod);
    }
    log.info({ renewed: renewed.length, restarted }, 'certificates renewed, static pods restarted');
    return { renewed, restarted };
  },
};
