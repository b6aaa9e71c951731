import { mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as z from 'zod';
import { StandinExit } from './standin-env.js';

/**
 * The "cluster" the stand-ins share across hosts: what the API server and etcd would hold (bootstrap
 * tokens, the uploaded certificates, nodes, etcd members, applied objects, the kubeadm-config
 * ConfigMap). One JSON file in the cluster directory, changed only under a lock and replaced by an
 * atomic rename, because several hosts run stand-ins at once.
 */

const Taint = z.strictObject({ key: z.string(), value: z.string().optional(), effect: z.string() });

export const TokenRecord = z.strictObject({
  token: z.string(),
  description: z.string(),
  /** ms since the epoch; null = never expires */
  expiresAt: z.number().nullable(),
  usages: z.array(z.string()),
  groups: z.array(z.string()),
  createdAt: z.number(),
});
export type TokenRecord = z.infer<typeof TokenRecord>;

export const NodeRecord = z.strictObject({
  name: z.string(),
  /** the host root of the node, so kubectl can report the kubelet version installed there */
  hostRoot: z.string(),
  controlPlane: z.boolean(),
  /** the kubelet version when it registered or was last upgraded */
  kubeletVersion: z.string(),
  /** false after `kubeadm reset` on the node: the kubelet no longer posts status */
  kubeletRunning: z.boolean(),
  unschedulable: z.boolean(),
  taints: z.array(Taint),
  labels: z.record(z.string(), z.string()),
  /** set by kubectl annotate (kctl records the labels and taints it manages here) */
  annotations: z.record(z.string(), z.string()).optional(),
  internalIP: z.string(),
  /** advertiseAddress:bindPort of its API server, for control planes */
  apiEndpoint: z.string().nullable(),
  createdAt: z.number(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;

export const EtcdMember = z.strictObject({
  id: z.string(),
  name: z.string(),
  peerURL: z.string(),
  clientURL: z.string(),
});
export type EtcdMember = z.infer<typeof EtcdMember>;

export const UploadedCerts = z.strictObject({
  /** file name (ca.crt, etcd/ca.key, ...) -> base64 of nonce||ciphertext||tag */
  files: z.record(z.string(), z.string()),
  uploadedAt: z.number(),
  expiresAt: z.number(),
  /** the short-lived token that owns the Secret; deleting it deletes the certificates */
  ownerToken: z.string(),
});
export type UploadedCerts = z.infer<typeof UploadedCerts>;

export const ResourceRecord = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().nullable(),
  name: z.string(),
  sha256: z.string(),
  appliedAt: z.number(),
  /** for CustomResourceDefinitions: what they define */
  defines: z
    .strictObject({
      group: z.string(),
      kind: z.string(),
      versions: z.array(z.string()),
      namespaced: z.boolean(),
    })
    .optional(),
});
export type ResourceRecord = z.infer<typeof ResourceRecord>;

export const ClusterRecord = z.strictObject({
  initializedBy: z.string(),
  initializedAt: z.number(),
  kubernetesVersion: z.string(),
  /** host:port every client uses */
  controlPlaneEndpoint: z.string(),
  /** whether ClusterConfiguration.controlPlaneEndpoint was set (required to add control planes) */
  stableEndpoint: z.boolean(),
  clusterName: z.string(),
  caCertPem: z.string(),
  caCertHash: z.string(),
  /** the kubeadm-config ConfigMap: ClusterConfiguration in the v1beta4 shape */
  clusterConfiguration: z.record(z.string(), z.unknown()),
  /** the kubelet-config ConfigMap */
  kubeletConfiguration: z.record(z.string(), z.unknown()),
  /** the kube-proxy ConfigMap */
  kubeProxyConfiguration: z.record(z.string(), z.unknown()),
  localEtcd: z.boolean(),
});
export type ClusterRecord = z.infer<typeof ClusterRecord>;

/**
 * A kubelet the stand-in kubelet unit started (`kubelet --standin-start`, the unit's ExecStart):
 * the version of the binary that was on the node when it started. A package upgrade changes the
 * binary, not this record; only a restart of the unit does, as with a real kubelet process.
 */
export const RunningKubelet = z.strictObject({
  version: z.string(),
  hostRoot: z.string(),
  startedAt: z.number(),
});
export type RunningKubelet = z.infer<typeof RunningKubelet>;

export const ClusterState = z.strictObject({
  schema: z.literal(1),
  cluster: ClusterRecord.nullable(),
  tokens: z.array(TokenRecord),
  uploadedCerts: UploadedCerts.nullable(),
  nodes: z.array(NodeRecord),
  etcdMembers: z.array(EtcdMember),
  resources: z.array(ResourceRecord),
  cni: z.strictObject({ name: z.string(), appliedAt: z.number() }).nullable(),
  /** by node name; only hosts whose kubelet unit ran the stand-in kubelet (systemd) have one */
  runningKubelets: z.record(z.string(), RunningKubelet).default({}),
});
export type ClusterState = z.infer<typeof ClusterState>;

export const emptyState = (): ClusterState => ({
  schema: 1,
  cluster: null,
  tokens: [],
  uploadedCerts: null,
  nodes: [],
  etcdMembers: [],
  resources: [],
  cni: null,
  runningKubelets: {},
});

const STATE_FILE = 'state.json';
const LOCK_DIR = 'state.lock';
const LOCK_TIMEOUT_MS = 120_000;
const STALE_LOCK_MS = 10_000;

export function readState(dir: string): ClusterState {
  let text: string;
  try {
    text = readFileSync(join(dir, STATE_FILE), 'utf8');
  } catch {
    return emptyState();
  }
  const parsed = ClusterState.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new StandinExit(
      `kctl stand-in: ${join(dir, STATE_FILE)} is not a stand-in cluster state: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

const SIGNER_KEY_FILE = 'controller-manager-ca.key';

/**
 * The controller-manager's CSR signing key (the cluster CA key), kept with the cluster as the
 * API server would serve CSRs to it: a joining kubelet is signed with it when no control plane's
 * host root is readable from the joining host (hosts that share only the cluster directory).
 */
export function writeSignerKey(dir: string, keyPem: string): void {
  const tmp = join(dir, `.${SIGNER_KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, keyPem, { mode: 0o600 });
  renameSync(tmp, join(dir, SIGNER_KEY_FILE));
}

export function readSignerKey(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, SIGNER_KEY_FILE), 'utf8');
  } catch {
    return undefined;
  }
}

function writeState(dir: string, state: ClusterState): void {
  const tmp = join(dir, `.${STATE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, STATE_FILE));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** This process's PID namespace: hosts in containers share the cluster directory but not their pids. */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
}

/** `owner` holds "<pid> <pid namespace>"; undefined while the holder has not written it yet. */
function lockOwner(lock: string): { pid: number; ns: string } | undefined {
  try {
    const [pid = '', ns = ''] = readFileSync(join(lock, 'owner'), 'utf8').trim().split(' ');
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 ? { pid: n, ns } : undefined;
  } catch {
    return undefined;
  }
}

function lockAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * A holder that died leaves its lock behind. Its pid says so when it lived in our PID namespace;
 * otherwise (another container, or killed before it wrote its pid) only the lock's age can: every
 * holder keeps the lock for milliseconds.
 */
function isStale(lock: string): boolean {
  const owner = lockOwner(lock);
  if (owner && owner.ns === pidNamespace()) return !processAlive(owner.pid);
  return lockAgeMs(lock) > STALE_LOCK_MS;
}

/**
 * Removes a stale lock. Only one process may judge and remove it (the `.break` directory), and
 * it judges again once it holds that, so a lock another waiter has just taken is never removed.
 */
function breakStaleLock(lock: string): boolean {
  const breaker = `${lock}.break`;
  try {
    mkdirSync(breaker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // a breaker killed while breaking would block everyone: its directory is old
    if (lockAgeMs(breaker) > STALE_LOCK_MS) rmSync(breaker, { recursive: true, force: true });
    return false;
  }
  try {
    if (!isStale(lock)) return false;
    rmSync(lock, { recursive: true, force: true });
    return true;
  } finally {
    rmSync(breaker, { recursive: true, force: true });
  }
}

/** mkdir is atomic: the directory is the lock, its `owner` file names the holder for stale-lock recovery. */
function acquireLock(dir: string): () => void {
  const lock = join(dir, LOCK_DIR);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner'), `${process.pid} ${pidNamespace()}`);
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (isStale(lock) && breakStaleLock(lock)) continue;
    if (Date.now() > deadline) {
      throw new StandinExit(`kctl stand-in: timed out waiting for the cluster lock ${lock}`);
    }
    sleep(15 + Math.floor(Math.random() * 35));
  }
}

/**
 * Runs `fn` on the current state under the cluster lock and stores what it returns (or the state
 * it changed in place). If `fn` throws, nothing is stored.
 */
export async function updateState<T>(dir: string, fn: (state: ClusterState) => Promise<T> | T): Promise<T> {
  const release = acquireLock(dir);
  try {
    const state = readState(dir);
    const result = await fn(state);
    writeState(dir, ClusterState.parse(state));
    return result;
  } finally {
    release();
  }
}
