import { X509Certificate, createPrivateKey } from 'node:crypto';
import { noteEtcdExternal } from './call-log.js';
import type { ResolvedCluster } from './cluster-params.js';
import { readHostFile } from './host-files.js';
import type { Check } from './preflight.js';
import type { StandinEnv } from './standin-env.js';
import { STANDIN_MARK } from './standin-env.js';

type ExternalEtcd = Extract<ResolvedCluster['etcd'], { kind: 'external' }>;

/**
 * kubeadm's ExternalEtcdClientCertificates preflight (a FileExisting check per file it names), and
 * what the API server would find out on its first dial: the client certificate must be signed by
 * the CA (the stand-in checks it here, as no API server dials etcd). The endpoints go into this
 * run's line of calls.jsonl.
 */
export function externalEtcdChecks(env: StandinEnv, cluster: ResolvedCluster): Check[] {
  const etcd = cluster.etcd;
  if (etcd.kind !== 'external') return [];
  noteEtcdExternal(etcd.endpoints);
  return [
    {
      name: 'ExternalEtcdClientCertificates',
      run: () => ({ errors: clientFileErrors(env, etcd), warnings: [] }),
    },
  ];
}

function clientFileErrors(env: StandinEnv, etcd: ExternalEtcd): string[] {
  const named = [etcd.caFile, etcd.certFile, etcd.keyFile].filter((p) => p !== '');
  const texts = new Map(named.map((p) => [p, readHostFile(env, p)]));
  const missing = named.filter((p) => texts.get(p) === undefined).map((p) => `${p} doesn't exist`);
  if (missing.length > 0) return missing;
  if (etcd.caFile === '' || etcd.certFile === '') return [];
  try {
    const ca = new X509Certificate(texts.get(etcd.caFile) ?? '');
    const cert = new X509Certificate(texts.get(etcd.certFile) ?? '');
    if (!cert.verify(ca.publicKey))
      return [`${STANDIN_MARK}: ${etcd.certFile} is not signed by the CA in ${etcd.caFile}`];
    if (etcd.keyFile !== '' && !matchesKey(cert, texts.get(etcd.keyFile) ?? ''))
      return [`${STANDIN_MARK}: ${etcd.keyFile} is not the private key of ${etcd.certFile}`];
    return [];
  } catch (err) {
    return [`${STANDIN_MARK}: cannot read the etcd client certificates: ${(err as Error).message}`];
  }
}

function matchesKey(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
