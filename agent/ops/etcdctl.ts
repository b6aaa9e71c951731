import { posix } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { isEtcdCertPath, type EtcdConnection } from '../../proto/etcd-ops.js';
import type { Host, RunResult } from '../host/host.js';

/**
 * Runs etcdctl (v3 API) for the etcd ops: argv only, endpoints and client certificate from the op's
 * args, the certificate paths checked again against the etcd PKI allow-list (proto/etcd-ops.ts)
 * and required to exist before etcdctl sees them. Shared by etcd status and snapshot.
 */

export const ETCDCTL = 'etcdctl';
/** how long etcdctl may try to reach a member, and how long one request may take */
const DIAL_TIMEOUT = '3s';
const COMMAND_TIMEOUT = '5s';

/**
 * A host path as the etcdctl process must see it: under the agent's host root when that is not `/`
 * (tests run the agent over a temp root; etcdctl is a real program and reads real paths).
 */
export function programPath(host: Host, path: string): string {
  return host.root === '/' ? path : posix.join(host.root, path);
}

/** Fails with a message naming etcdctl and its package when it is not installed. */
export async function requireEtcdctl(host: Host): Promise<void> {
  if ((await host.which(ETCDCTL)) !== undefined) return;
  throw new KctlError('program_failed', 'etcdctl is not installed on this host', {
    details: {
      program: ETCDCTL,
      remedy:
        'install etcdctl on the host (Debian/Ubuntu: apt-get install etcd-client; EL: dnf install etcd), or run kctl etcd on a host that has it',
    },
  });
}

/** The global flags: endpoints, TLS client pair, timeouts. Every path is checked and must exist. */
export async function connectionFlags(
  host: Host,
  conn: EtcdConnection,
  commandTimeout = COMMAND_TIMEOUT,
): Promise<string[]> {
  const flags: string[] = [`--endpoints=${conn.endpoints.join(',')}`];
  for (const [flag, path] of [
    ['--cacert', conn.cacert],
    ['--cert', conn.cert],
    ['--key', conn.key],
  ] as const) {
    // the schema checked this already; a second look here keeps the rule next to its use (S16)
    if (!isEtcdCertPath(path))
      throw new KctlError('path_not_allowed', `${flag}: "${path}" is not a file of the etcd PKI`);
    if (!(await host.exists(path)))
      throw new KctlError('not_found', `${flag}: "${path}" does not exist on this host`, {
        details: { path, remedy: 'is this host an etcd member or a control plane of this cluster?' },
      });
    flags.push(`${flag}=${programPath(host, path)}`);
  }
  flags.push(`--dial-timeout=${DIAL_TIMEOUT}`, `--command-timeout=${commandTimeout}`);
  return flags;
}

/**
 * etcdctl with the connection flags and `args`; never a shell. A non-zero exit is returned, not
 * thrown, when `allowFailure` (endpoint health exits 1 for an unhealthy member but still prints
 * what it found).
 */
export async function runEtcdctl(
  host: Host,
  conn: EtcdConnection,
  args: readonly string[],
  options: { allowFailure?: boolean; timeoutMs?: number; commandTimeout?: string } = {},
): Promise<RunResult> {
  await requireEtcdctl(host);
  const flags = await connectionFlags(host, conn, options.commandTimeout);
  return host.run(ETCDCTL, [...flags, ...args], {
    env: { ETCDCTL_API: '3' },
    timeoutMs: options.timeoutMs ?? 30_000,
    allowFailure: options.allowFailure ?? false,
    maxBufferBytes: 4 * 1024 * 1024,
  });
}

/**
 * etcdctl's JSON prints member and cluster ids as bare uint64 numbers, beyond what a JavaScript
 * number holds exactly: they are quoted before parsing, then shown in hex as etcdctl's table does.
 */
export function parseEtcdJson(text: string): unknown {
  const quoted = text.replace(/"(ID|cluster_id|member_id|leader)":(\d+)/g, '"$1":"$2"');
  try {
    return JSON.parse(quoted) as unknown;
  } catch {
    throw new KctlError('program_failed', `etcdctl printed output that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** A decimal uint64 id (as a string) in hex, as `etcdctl member list` prints it in a table. */
export function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}
