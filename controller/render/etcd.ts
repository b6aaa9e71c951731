import { isIP } from 'node:net';
import { KctlError } from '../../proto/errors.js';
import { ETCD_MANAGED_DATA_DIR } from '../../proto/etcd-member-ops.js';

/**
 * An etcd member kctl manages (etcd.mode managed), for Debian's and Ubuntu's etcd-server package:
 * its etcd.service runs `/usr/bin/etcd $DAEMON_ARGS` as User=etcd with EnvironmentFile=-/etc/default/etcd,
 * whose ETCD_* variables override the unit's own ETCD_NAME=%H and ETCD_DATA_DIR (systemd: settings
 * from EnvironmentFile= override Environment=). kctl writes that file and one drop-in.
 */
export const ETCD_DEFAULTS_PATH = '/etc/default/etcd';
export const ETCD_DROPIN_PATH = '/etc/systemd/system/etcd.service.d/10-kctl.conf';
export const ETCD_UNIT = 'etcd.service';
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const ETCD_METRICS_PORT = 2381;
/** in proto: the agent's etcd.memberStop clears it (proto/etcd-member-ops.ts says why this one) */
export { ETCD_MANAGED_DATA_DIR };
/**
 * Where systemd's LoadCredential= hands the etcd user copies of the root-only files in kubeadm's
 * layout (/etc/kubernetes/pki/etcd/…), so the keys stay 0600 root there.
 */
export const ETCD_CREDENTIALS_DIR = '/run/credentials/etcd.service';

const PKI_DIR = '/etc/kubernetes/pki/etcd';
const CREDENTIALS = ['ca.crt', 'server.crt', 'server.key', 'peer.crt', 'peer.key'] as const;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const FLAG = /^[a-z0-9][a-z0-9-]*$/;
const VALUE = /^[\x21-\x7e]*$/;

export interface EtcdMember {
  name: string;
  address: string;
}

export interface EtcdMemberInput {
  clusterName: string;
  /** the member this file is for; one of `members` */
  self: EtcdMember;
  /** every member of the cluster being formed, in cluster.yaml's order */
  members: readonly EtcdMember[];
  /**
   * `new` when the members form the cluster together; `existing` for a member added to a running
   * cluster (after `etcdctl member add`), whose `members` then are the running ones plus itself.
   */
  initialClusterState: 'new' | 'existing';
  /** etcd flags (extraArgs.etcd) as the package's ETCD_* variables; flag names without dashes */
  extraArgs: Readonly<Record<string, string>>;
}

function urlHost(address: string): string {
  if (isIP(address) === 0)
    throw new KctlError('invalid_spec', `The etcd member address "${address}" is not an IP address`);
  return isIP(address) === 6 ? `[${address}]` : address;
}

export function etcdClientUrl(address: string): string {
  return `https://${urlHost(address)}:${ETCD_CLIENT_PORT}`;
}

export function etcdPeerUrl(address: string): string {
  return `https://${urlHost(address)}:${ETCD_PEER_PORT}`;
}

function checkMembers(input: EtcdMemberInput): void {
  const names = new Set<string>();
  for (const m of input.members) {
    if (!NAME.test(m.name))
      throw new KctlError('invalid_spec', `The etcd member name "${m.name}" is not a DNS name`);
    if (names.has(m.name)) throw new KctlError('invalid_spec', `The etcd member "${m.name}" is listed twice`);
    names.add(m.name);
    urlHost(m.address);
  }
  const self = input.members.find((m) => m.name === input.self.name);
  if (self === undefined || self.address !== input.self.address)
    throw new KctlError(
      'invalid_spec',
      `The etcd member "${input.self.name}" is not among the members it is rendered with`,
    );
}

/** ETCD_FOO_BAR for --foo-bar: etcd reads every flag from its variable. */
function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** /etc/default/etcd for one member: TLS with client-cert-auth on both the client and peer ports. */
export function renderEtcdDefaults(input: EtcdMemberInput): string {
  checkMembers(input);
  const cred = (file: (typeof CREDENTIALS)[number]): string => `${ETCD_CREDENTIALS_DIR}/${file}`;
  const own = input.self.address;
  const vars: Array<[string, string]> = [
    ['ETCD_NAME', input.self.name],
    ['ETCD_DATA_DIR', ETCD_MANAGED_DATA_DIR],
    // loopback too: etcdctl and health checks on the member itself
    [
      'ETCD_LISTEN_CLIENT_URLS',
      `${etcdClientUrl(own)},${etcdClientUrl(isIP(own) === 6 ? '::1' : '127.0.0.1')}`,
    ],
    ['ETCD_ADVERTISE_CLIENT_URLS', etcdClientUrl(own)],
    ['ETCD_LISTEN_PEER_URLS', etcdPeerUrl(own)],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', etcdPeerUrl(own)],
    ['ETCD_INITIAL_CLUSTER', input.members.map((m) => `${m.name}=${etcdPeerUrl(m.address)}`).join(',')],
    ['ETCD_INITIAL_CLUSTER_STATE', input.initialClusterState],
    // members of another cluster with the same peers cannot join this one by mistake
    ['ETCD_INITIAL_CLUSTER_TOKEN', `kctl-${input.clusterName}`],
    ['ETCD_LISTEN_METRICS_URLS', `http://127.0.0.1:${ETCD_METRICS_PORT}`],
    ['ETCD_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_TRUSTED_CA_FILE', cred('ca.crt')],
    ['ETCD_CERT_FILE', cred('server.crt')],
    ['ETCD_KEY_FILE', cred('server.key')],
    ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_PEER_TRUSTED_CA_FILE', cred('ca.crt')],
    ['ETCD_PEER_CERT_FILE', cred('peer.crt')],
    ['ETCD_PEER_KEY_FILE', cred('peer.key')],
    ['ETCD_SNAPSHOT_COUNT', '10000'],
  ];
  const fixed = new Set(vars.map(([k]) => k));
  for (const [flag, value] of Object.entries(input.extraArgs)) {
    if (!FLAG.test(flag) || !VALUE.test(value))
      throw new KctlError(
        'invalid_spec',
        `The etcd flag "${flag}" or its value cannot go into ${ETCD_DEFAULTS_PATH}`,
      );
    const name = envName(flag);
    // etcd refuses a flag given twice: one of kctl's own is replaced, not repeated
    if (fixed.has(name))
      vars.splice(
        vars.findIndex(([k]) => k === name),
        1,
        [name, value],
      );
    else vars.push([name, value]);
  }
  return [
    `# Written by kctl: etcd member ${input.self.name} of cluster ${input.clusterName}. Changes are overwritten.`,
    ...vars.map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n');
}

/**
 * The drop-in: the credentials etcd (User=etcd) reads, from the root-only files in kubeadm's
 * layout, and a restart after a crash (the package only restarts on-abnormal).
 */
export function renderEtcdDropIn(): string {
  return [
    '# Written by kctl. Needs systemd 247 or later (LoadCredential=).',
    '[Service]',
    ...CREDENTIALS.map((f) => `LoadCredential=${f}:${PKI_DIR}/${f}`),
    'Restart=on-failure',
    'RestartSec=5s',
    '',
  ].join('\n');
}
