// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
// ../pki.js also sets @peculiar/x509's crypto provider
import {
  EC_P256,
  createCa,
  exportKeyPem,
  importCaKey,
  newKeys,
  randomSerial,
  type CaKeyPair,
} from '../pki.js';

/**
 * The PKI of an etcd cluster kctl manages (etcd.mode managed), in kubeadm's layout: its own CA
 * (etcd-ca, apart from the cluster CA and the controller's), per member a server and a peer
 * certificate, and the API servers' client certificate. Created once on the controller and kept in
 * its data dir, so every plan renders the same keys (plans are idempotent) and a new member is
 * signed by the CA the others trust.
 */

const DAY_MS = 24 * 3600_000;
/** kubeadm's validity for etcd leaf certificates; a plan renews one with less than RENEW_DAYS left. */
export const ETCD_LEAF_DAYS = 365;
export const RENEW_DAYS = 30;
const CA_DAYS = 3650;

export const ETCD_PKI_PATHS = {
  ca: '/etc/kubernetes/pki/etcd/ca.crt',
  serverCert: '/etc/kubernetes/pki/etcd/server.crt',
  serverKey: '/etc/kubernetes/pki/etcd/server.key',
  peerCert: '/etc/kubernetes/pki/etcd/peer.crt',
  peerKey: '/etc/kubernetes/pki/etcd/peer.key',
  healthcheckClientCert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
  healthcheckClientKey: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
  apiserverClientCert: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  apiserverClientKey: '/etc/kubernetes/pki/apiserver-etcd-client.key',
} as const;

const Pem = z
  .string()
  .min(1)
  .max(64 * 1024);
const KeyPair = z.strictObject({ certPem: Pem, keyPem: Pem });
export type KeyPair = z.infer<typeof KeyPair>;

/** What the controller keeps (etcd-pki.json in its data dir, 0600). */
export const EtcdPki = z.strictObject({
  ca: KeyPair,
  members: z.record(
    z.string(),
    // healthcheckClient: absent in files written before kctl checked member health with it
    z.strictObject({ server: KeyPair, peer: KeyPair, healthcheckClient: KeyPair.optional() }),
  ),
  apiserverClient: KeyPair,
});
export type EtcdPki = z.infer<typeof EtcdPki>;

export interface EtcdMemberIdentity {
  name: string;
  address: string;
}

/** The SANs etcd's member certificates carry, as kubeadm writes them: name, address and loopback. */
export function memberSans(m: EtcdMemberIdentity): string[] {
  return [...new Set([m.name, 'localhost', m.address, '127.0.0.1', '::1'])];
}

const EKU = {
  server: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  // peers dial each other: both ends present this certificate
  peer: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  client: [x509.ExtendedKeyUsage.clientAuth],
} as const;

async function issueLeaf(
  ca: KeyPair,
  options: { commonName: string; sans: readonly string[]; usage: keyof typeof EKU; now: number },
): Promise<KeyPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await importCaKey(ca.keyPem);
  const keys = await newKeys();
  const sans = options.sans.map((s): x509.JsonGeneralName =>
    isIP(s) !== 0 ? { type: 'ip', value: s } : { type: 'dns', value: s },
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${options.commonName}`,
    issuer: caCert.subject,
    // a minute of slack for clock skew between the controller and the hosts
    notBefore: new Date(options.now - 60_000),
    notAfter: new Date(options.now + ETCD_LEAF_DAYS * DAY_MS),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([...EKU[options.usage]], false),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: await exportKeyPem(keys.privateKey),
  };
}

/** A certificate to keep: signed by `ca`, valid for RENEW_DAYS more, with exactly these SANs. */
function stillGood(pair: KeyPair, ca: KeyPair, sans: readonly string[] | undefined, now: number): boolean {
  try {
    const cert = new NodeX509(pair.certPem);
    const caCert = new NodeX509(ca.certPem);
    if (!cert.verify(caCert.publicKey)) return false;
    if (Date.parse(cert.validTo) - now < RENEW_DAYS * DAY_MS) return false;
    if (sans === undefined) return true;
    const have = (cert.subjectAltName ?? '')
      .split(', ')
      .map((s) => s.replace(/^(DNS|IP Address):/, ''))
      .map((s) => (isIP(s) === 6 ? normalizeV6(s) : s));
    const want = sans.map((s) => (isIP(s) === 6 ? normalizeV6(s) : s));
    return have.length === want.length && want.every((s) => have.includes(s));
  } catch {
    return false;
  }
}

function normalizeV6(ip: string): string {
  return new URL(`http://[${ip}]/`).hostname;
}

/**
 * The etcd PKI for these members: what `existing` holds, kept where still good (same CA, same SANs,
 * RENEW_DAYS left), the rest issued. The CA is created only when there is none: replacing it would
 * cut every running member off from the others. `changed` says whether the result must be saved.
 */
export async function ensureEtcdPki(
  existing: EtcdPki | undefined,
  members: readonly EtcdMemberIdentity[],
  options: { now?: number } = {},
): Promise<{ pki: EtcdPki; changed: boolean }> {
  const now = options.now ?? Date.now();
  let changed = existing === undefined;
  const ca: CaKeyPair =
    existing?.ca ?? (await createCa({ commonName: 'etcd-ca', validityDays: CA_DAYS, now }));
  const names = new Set<string>();
  const out: EtcdPki['members'] = {};
  for (const m of members) {
    if (names.has(m.name)) throw new KctlError('invalid_args', `etcd member "${m.name}" is listed twice`);
    names.add(m.name);
    const sans = memberSans(m);
    const had = existing?.members[m.name];
    const server =
      had && stillGood(had.server, ca, sans, now)
        ? had.server
        : await issueLeaf(ca, { commonName: m.name, sans, usage: 'server', now });
    const peer =
      had && stillGood(had.peer, ca, sans, now)
        ? had.peer
        : await issueLeaf(ca, { commonName: m.name, sans, usage: 'peer', now });
    const healthcheckClient =
      had?.healthcheckClient && stillGood(had.healthcheckClient, ca, undefined, now)
        ? had.healthcheckClient
        : await issueLeaf(ca, { commonName: 'kube-etcd-healthcheck-client', sans: [], usage: 'client', now });
    if (server !== had?.server || peer !== had.peer || healthcheckClient !== had.healthcheckClient)
      changed = true;
    out[m.name] = { server, peer, healthcheckClient };
  }
  // a member no longer listed loses its certificates (it is removed from the cluster)
  if (existing && Object.keys(existing.members).some((n) => !names.has(n))) changed = true;
  const apiserverClient =
    existing && stillGood(existing.apiserverClient, ca, undefined, now)
      ? existing.apiserverClient
      : await issueLeaf(ca, { commonName: 'kube-apiserver-etcd-client', sans: [], usage: 'client', now });
  if (apiserverClient !== existing?.apiserverClient) changed = true;
  return { pki: { ca, members: out, apiserverClient }, changed };
}

type PkiFile = { path: string; content: string; mode: number; sensitive: boolean };

/**
 * What a member gets: the etcd CA, its server and peer pairs, and the client pair etcdctl checks
 * its health with (kubeadm's healthcheck-client); keys 0600, hidden in plans.
 */
export function etcdMemberFiles(pki: EtcdPki, name: string): PkiFile[] {
  const m = pki.members[name];
  if (m === undefined) throw new KctlError('internal', `etcd PKI has no certificates for member "${name}"`);
  const P = ETCD_PKI_PATHS;
  return [
    { path: P.ca, content: pki.ca.certPem, mode: 0o644, sensitive: false },
    { path: P.serverCert, content: m.server.certPem, mode: 0o644, sensitive: false },
    { path: P.serverKey, content: m.server.keyPem, mode: 0o600, sensitive: true },
    { path: P.peerCert, content: m.peer.certPem, mode: 0o644, sensitive: false },
    { path: P.peerKey, content: m.peer.keyPem, mode: 0o600, sensitive: true },
    ...(m.healthcheckClient
      ? [
          {
            path: P.healthcheckClientCert,
            content: m.healthcheckClient.certPem,
            mode: 0o644,
            sensitive: false,
          },
          { path: P.healthcheckClientKey, content: m.healthcheckClient.keyPem, mode: 0o600, sensitive: true },
        ]
      : []),
  ];
}

/** What a control plane gets: the etcd CA and the API server's client pair. */
export function apiserverEtcdClientFiles(pki: {
  ca: { certPem: string };
  apiserverClient: KeyPair;
}): PkiFile[] {
  const P = ETCD_PKI_PATHS;
  return [
    { path: P.ca, content: pki.ca.certPem, mode: 0o644, sensitive: false },
    { path: P.apiserverClientCert, content: pki.apiserverClient.certPem, mode: 0o644, sensitive: false },
    { path: P.apiserverClientKey, content: pki.apiserverClient.keyPem, mode: 0o600, sensitive: true },
  ];
}
