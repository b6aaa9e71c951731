import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { hostExists, writeHostFile } from './host-files.js';
import { generateCertificateKey, parseGoDuration } from './k8s-values.js';
import { renderKubeconfig } from './kubeconfig.js';
import { joinedNodeName } from './node-identity.js';
import { algorithmOfKeyPem, certInfo, issueCert, type CertAndKey } from './standin-pki.js';
import { STANDIN_MARK, StandinExit, type StandinEnv } from './standin-env.js';

/**
 * STAND-IN `kubeadm certs renew all`: every leaf certificate kubeadm made on this control plane and
 * the client certificates embedded in its kubeconfigs are issued again by the same CA with the same
 * subject, SANs and usages, valid for a year from the stand-in clock (kubeadm's default). CAs are
 * never renewed (kubeadm does not either). Like kubeadm, it restarts nothing: the caller must
 * restart the control-plane static pods.
 */

const PKI = '/etc/kubernetes/pki';
const DAY_MS = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** kubeadm's renewable certificates (`kubeadm certs renew --help`) and the CA that signs each. */
const LEAVES: ReadonlyArray<{ name: string; ca: string; what: string }> = [
  { name: 'apiserver', ca: 'ca', what: 'certificate for serving the Kubernetes API' },
  {
    name: 'apiserver-etcd-client',
    ca: 'etcd/ca',
    what: 'certificate the apiserver uses to access etcd',
  },
  {
    name: 'apiserver-kubelet-client',
    ca: 'ca',
    what: 'certificate for the API server to connect to kubelet',
  },
  {
    name: 'front-proxy-client',
    ca: 'front-proxy-ca',
    what: 'certificate for the front proxy client',
  },
  {
    name: 'etcd/healthcheck-client',
    ca: 'etcd/ca',
    what: 'certificate for liveness probes to healthcheck etcd',
  },
  { name: 'etcd/peer', ca: 'etcd/ca', what: 'certificate for etcd nodes to communicate with each other' },
  { name: 'etcd/server', ca: 'etcd/ca', what: 'certificate for serving etcd' },
];

const KUBECONFIGS: ReadonlyArray<{ file: string; what: string }> = [
  { file: 'admin.conf', what: 'the admin to use and for kubeadm itself' },
  { file: 'super-admin.conf', what: 'the super-admin' },
  { file: 'controller-manager.conf', what: 'the controller manager to use' },
  { file: 'scheduler.conf', what: 'the scheduler manager to use' },
];

const RENEW_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'cert-dir', kind: 'string' },
  { name: 'config', kind: 'string' },
  { name: 'kubeconfig', kind: 'string' },
];

function read(env: StandinEnv, path: string): string | undefined {
  try {
    return readFileSync(env.hostPath(path), 'utf8');
  } catch {
    return undefined;
  }
}

function pairAt(env: StandinEnv, base: string): CertAndKey | undefined {
  const certPem = read(env, `${PKI}/${base}.crt`);
  const keyPem = read(env, `${PKI}/${base}.key`);
  return certPem && keyPem ? { certPem, keyPem } : undefined;
}

/** The same certificate again: subject, SANs and usages of `old`, new key, new validity. */
async function reissue(
  env: StandinEnv,
  ca: CertAndKey,
  oldPem: string,
  oldKeyPem: string,
): Promise<CertAndKey> {
  const old = new X509Certificate(oldPem);
  const info = certInfo(oldPem);
  const altNames = (old.subjectAltName ?? '')
    .split(', ')
    .map((s) => s.replace(/^(DNS|IP Address):/, ''))
    .filter((s) => s !== '');
  const ekus = old.keyUsage ?? [];
  const usages = [
    ...(ekus.includes(SERVER_AUTH) ? (['server'] as const) : []),
    ...(ekus.includes(CLIENT_AUTH) ? (['client'] as const) : []),
  ];
  return issueCert(ca, {
    commonName: info.commonName,
    organizations: info.organizations,
    usages: usages.length > 0 ? usages : ['client'],
    altNames,
    algorithm: algorithmOfKeyPem(oldKeyPem),
    now: env.now(),
    validityMs: 365 * DAY_MS,
  });
}

interface KubeconfigDoc {
  users?: Array<{ user?: Record<string, string> }>;
}

async function renewAll(env: StandinEnv): Promise<void> {
  const say = (line: string) => env.out(`${line}\n`);
  const ca = pairAt(env, 'ca');
  if (!ca) {
    throw new StandinExit(
      `error execution phase: failed to load the CA: couldn't load the certificate file ${PKI}/ca.crt or its key: open ${PKI}/ca.key: no such file or directory\nTo see the stack trace of this error execute with --v=5 or higher`,
    );
  }
  env.node = joinedNodeName(env) ?? env.defaultNodeName();
  say('[renew] Reading configuration from the cluster...');
  for (const leaf of LEAVES) {
    const old = pairAt(env, leaf.name);
    const signer = pairAt(env, leaf.ca);
    if (!old || !signer) continue;
    const next = await reissue(env, signer, old.certPem, old.keyPem);
    writeHostFile(env, `${PKI}/${leaf.name}.crt`, next.certPem, 0o644);
    writeHostFile(env, `${PKI}/${leaf.name}.key`, next.keyPem, 0o600);
    say(`${leaf.what} renewed`);
  }
  for (const kc of KUBECONFIGS) {
    const path = `/etc/kubernetes/${kc.file}`;
    if (!hostExists(env, path)) continue;
    const doc = parseYaml(read(env, path) ?? '') as KubeconfigDoc;
    const user = doc.users?.[0]?.user;
    const certData = user?.['client-certificate-data'];
    const keyData = user?.['client-key-data'];
    if (!user || !certData || !keyData) continue;
    const next = await reissue(
      env,
      ca,
      Buffer.from(certData, 'base64').toString('utf8'),
      Buffer.from(keyData, 'base64').toString('utf8'),
    );
    user['client-certificate-data'] = Buffer.from(next.certPem).toString('base64');
    user['client-key-data'] = Buffer.from(next.keyPem).toString('base64');
    writeHostFile(env, path, toYaml(doc), 0o600);
    say(`certificate embedded in the kubeconfig file for ${kc.what} renewed`);
  }
  say('');
  say(
    'Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.',
  );
}

/** `kubeadm certs ...`: certificate-key, renew all. */
export async function kubeadmCerts(env: StandinEnv, rest: string[]): Promise<void> {
  if (rest[0] === 'certificate-key') {
    env.out(`${generateCertificateKey()}\n`);
    return;
  }
  if (rest[0] === 'renew') {
    const flags = parseFlags(rest.slice(1), RENEW_FLAGS, 'kubeadm certs renew');
    if (flags.positionals[0] !== 'all') {
      throw new StandinExit(
        `kubeadm (${STANDIN_MARK}): "certs renew ${flags.positionals[0] ?? ''}" is not implemented by the stand-in; use "all"`,
      );
    }
    await renewAll(env);
    return;
  }
  throw new StandinExit(
    `kubeadm (${STANDIN_MARK}): "certs ${rest[0] ?? ''}" is not implemented by the stand-in`,
  );
}

const KUBECONFIG_USER_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'config', kind: 'string' },
  { name: 'client-name', kind: 'string' },
  { name: 'org', kind: 'stringSlice' },
  { name: 'validity-period', kind: 'string' },
  { name: 'token', kind: 'string' },
];

interface ClusterConfigDoc {
  kind?: string;
  clusterName?: string;
  controlPlaneEndpoint?: string;
  certificatesDir?: string;
}

/**
 * STAND-IN `kubeadm kubeconfig user --client-name N [--org O]... [--validity-period D] [--config F]`:
 * a kubeconfig on stdout whose client certificate this host's cluster CA signs now, for the
 * ClusterConfiguration's endpoint and cluster name (kubeadm's defaults without one).
 */
export async function kubeadmKubeconfigUser(env: StandinEnv, rest: string[]): Promise<void> {
  if (rest[0] !== 'user') {
    throw new StandinExit(
      `kubeadm (${STANDIN_MARK}): "kubeconfig ${rest[0] ?? ''}" is not implemented by the stand-in`,
    );
  }
  const flags = parseFlags(rest.slice(1), KUBECONFIG_USER_FLAGS, 'kubeadm kubeconfig user');
  const clientName = flags.string('client-name');
  if (!clientName) throw new StandinExit('required flag(s) "client-name" not set');
  if (flags.string('token'))
    throw new StandinExit(`kubeadm (${STANDIN_MARK}): --token is not implemented by the stand-in`);
  const configPath = flags.string('config');
  let config: ClusterConfigDoc = {};
  if (configPath) {
    const text = read(env, configPath);
    if (text === undefined) throw new StandinExit(`unable to read config from "${configPath}"`);
    const docs = text.split(/^---$/m).map((d) => (parseYaml(d) ?? {}) as ClusterConfigDoc);
    config = docs.find((d) => d.kind === 'ClusterConfiguration') ?? {};
  }
  const validity = flags.string('validity-period') ?? '8760h';
  const validityMs = parseGoDuration(validity);
  if (validityMs === undefined || validityMs <= 0)
    throw new StandinExit(`invalid argument "${validity}" for "--validity-period" flag`);
  const dir = config.certificatesDir ?? PKI;
  const certPem = read(env, `${dir}/ca.crt`);
  const keyPem = read(env, `${dir}/ca.key`);
  if (!certPem || !keyPem) {
    throw new StandinExit(
      `couldn't create a kubeconfig; the CA files couldn't be loaded: failed to load key: couldn't load the private key file ${dir}/ca.key: open ${dir}/ca.key: no such file or directory`,
    );
  }
  const client = await issueCert(
    { certPem, keyPem },
    {
      commonName: clientName,
      organizations: flags.list('org'),
      usages: ['client'],
      algorithm: algorithmOfKeyPem(keyPem),
      now: env.now(),
      validityMs,
    },
  );
  const endpoint = config.controlPlaneEndpoint ?? '';
  if (endpoint === '')
    throw new StandinExit(`kubeadm (${STANDIN_MARK}): give --config with a controlPlaneEndpoint`);
  env.out(
    renderKubeconfig({
      clusterName: config.clusterName ?? 'kubernetes',
      server: `https://${endpoint}`,
      caCertPem: certPem,
      userName: clientName,
      client,
    }),
  );
}
