import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterState, NodeRecord, TokenRecord } from './cluster-state.js';
import { SHARED_CERT_FILES, type PkiFiles } from './kubeadm-pki.js';
import { loadKubeadmConfig, type ConfigPurpose, type LoadedConfig } from './kubeadm-config.js';
import { readHostFile } from './host-files.js';
import {
  BOOTSTRAP_TOKEN,
  DEFAULT_TOKEN_GROUP,
  formatGoDuration,
  generateBootstrapToken,
  parseSemver,
  type Semver,
} from './k8s-values.js';
import { openBytes, sealBytes } from './standin-pki.js';
import { STANDIN_ETC, StandinExit, type StandinEnv } from './standin-env.js';

/** Pieces kubeadm's commands share: errors, config loading, node identity, tokens and the upload-certs Secret. */

export const STACK_HINT = 'To see the stack trace of this error execute with --v=5 or higher';

/** A kubeadm error as kubeadm prints it, with the --v=5 hint. */
export function kubeadmError(message: string): StandinExit {
  return new StandinExit(`${message}\n${STACK_HINT}`);
}

export function phaseError(phase: string, message: string): StandinExit {
  return kubeadmError(`error execution phase ${phase}: ${message}`);
}

export const UPLOAD_CERTS_TTL_MS = 2 * 3600_000;
export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
export const CERTS_OWNER_DESCRIPTION = 'Proxy for managing TTL for the kubeadm-certs secret';

/** Reads and loads a --config file from the host, printing kubeadm's warnings to stderr. */
export function loadConfigFile(
  env: StandinEnv,
  path: string,
  purpose: ConfigPurpose,
  kubeadm: Semver,
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(env.hostPath(path), 'utf8');
  } catch {
    throw kubeadmError(`unable to read config from "${path}" : open ${path}: no such file or directory`);
  }
  const r = loadKubeadmConfig(text, { kubeadmVersion: kubeadm, purpose });
  for (const w of r.warnings) env.err(`W ${w}\n`);
  if (!r.ok) throw kubeadmError(r.error);
  return r.config;
}

/**
 * The address kubeadm would advertise: the host's default-route address. In a fake host root the
 * LOCAL /32 entry of /proc/net/fib_trie stands for it; on a real root the first external IPv4.
 */
export function detectHostIp(env: StandinEnv): string {
  if (env.hostRoot !== '/') {
    const trie = readHostFile(env, '/proc/net/fib_trie');
    if (trie) {
      const lines = trie.split('\n');
      for (let i = 0; i + 1 < lines.length; i++) {
        const m = /\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(lines[i] ?? '');
        if (m && /\/32 host LOCAL/.test(lines[i + 1] ?? '') && !(m[1] ?? '').startsWith('127.'))
          return m[1] ?? '';
      }
    }
  }
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function purgeExpired(state: ClusterState, now: number): void {
  // the token cleaner deletes expired tokens; the kubeadm-certs Secret goes with its owner token
  state.tokens = state.tokens.filter((t) => t.expiresAt === null || now < t.expiresAt);
  if (
    state.uploadedCerts &&
    (now >= state.uploadedCerts.expiresAt ||
      !state.tokens.some((t) => t.token === state.uploadedCerts?.ownerToken))
  ) {
    state.uploadedCerts = null;
  }
}

export function tokenId(token: string): string {
  return token.slice(0, 6);
}

/** A token usable now (expiry is `now >= expiresAt` -> expired). */
export function liveToken(state: ClusterState, token: string, now: number): TokenRecord | undefined {
  return state.tokens.find((t) => t.token === token && (t.expiresAt === null || now < t.expiresAt));
}

export function newTokenRecord(options: {
  token?: string | undefined;
  ttlMs: number | null;
  now: number;
  usages?: string[] | undefined;
  groups?: string[] | undefined;
  description?: string | undefined;
}): TokenRecord {
  const token = options.token ?? generateBootstrapToken();
  if (!BOOTSTRAP_TOKEN.test(token)) {
    throw kubeadmError(
      `the bootstrap token "${token}" was not of the form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"`,
    );
  }
  const usages = options.usages ?? ['signing', 'authentication'];
  return {
    token,
    description: options.description ?? '',
    expiresAt: options.ttlMs === null || options.ttlMs === 0 ? null : options.now + options.ttlMs,
    usages,
    groups: options.groups ?? (usages.includes('authentication') ? [DEFAULT_TOKEN_GROUP] : []),
    createdAt: options.now,
  };
}

/** kubeadm's CreateNewTokens: refuses a token whose ID exists already. */
export function addToken(state: ClusterState, record: TokenRecord): void {
  if (state.tokens.some((t) => tokenId(t.token) === tokenId(record.token))) {
    throw kubeadmError(`a token with id "${tokenId(record.token)}" already exists`);
  }
  state.tokens.push(record);
}

export function joinCommand(
  endpoint: string,
  token: string,
  caHash: string,
  certificateKey?: string,
): string {
  const cp = certificateKey ? ` \\\n\t--control-plane --certificate-key ${certificateKey}` : '';
  return `kubeadm join ${endpoint} --token ${token} \\\n\t--discovery-token-ca-cert-hash ${caHash}${cp}`;
}

/** Reads the shared control-plane certificates from a host's certificates directory. */
export function readSharedCerts(
  env: StandinEnv,
  certsDir: string,
  localEtcd: boolean,
): PkiFiles | { missing: string } {
  const files: PkiFiles = {};
  for (const name of SHARED_CERT_FILES) {
    if (!localEtcd && name.startsWith('etcd/')) continue;
    const text = readHostFile(env, `${certsDir}/${name}`);
    if (text === undefined) return { missing: `${certsDir}/${name}` };
    files[name] = text;
  }
  return files;
}

/** Stores the shared certificates encrypted under the certificate key, owned by a 2-hour token. */
export function uploadCerts(state: ClusterState, files: PkiFiles, certificateKey: string, now: number): void {
  const sealed: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    sealed[name] = sealBytes(certificateKey, Buffer.from(content)).toString('base64');
  }
  const owner = newTokenRecord({
    ttlMs: UPLOAD_CERTS_TTL_MS,
    now,
    usages: [],
    groups: [],
    description: CERTS_OWNER_DESCRIPTION,
  });
  state.tokens.push(owner);
  state.uploadedCerts = {
    files: sealed,
    uploadedAt: now,
    expiresAt: now + UPLOAD_CERTS_TTL_MS,
    ownerToken: owner.token,
  };
}

/** download-certs: decrypts every uploaded file or fails as kubeadm does. */
export function downloadCerts(state: ClusterState, certificateKey: string, now: number): PkiFiles {
  const phase = 'control-plane-prepare/download-certs';
  const uploaded = state.uploadedCerts;
  if (!uploaded || now >= uploaded.expiresAt) {
    throw phaseError(
      phase,
      'error downloading certs: error downloading the secret: Secret "kubeadm-certs" was not found in the "kube-system" Namespace. This Secret might have expired. Please, run `kubeadm init phase upload-certs --upload-certs` on a control plane to generate a new one',
    );
  }
  const files: PkiFiles = {};
  for (const [name, b64] of Object.entries(uploaded.files)) {
    try {
      files[name] = openBytes(certificateKey, Buffer.from(b64, 'base64')).toString('utf8');
    } catch (err) {
      throw phaseError(
        phase,
        `error downloading certs: error decoding secret data with provided key: ${(err as Error).message}`,
      );
    }
  }
  return files;
}

export function nodeLabels(name: string, controlPlane: boolean): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    ...(controlPlane
      ? {
          'node-role.kubernetes.io/control-plane': '',
          'node.kubernetes.io/exclude-from-external-load-balancers': '',
        }
      : {}),
  };
}

export function nodeIsReady(state: ClusterState, node: NodeRecord): boolean {
  return node.kubeletRunning && state.cni !== null;
}

export function describeTtl(ms: number): string {
  return formatGoDuration(ms);
}

/**
 * The kubelet version a node reports: the version its kubelet unit last started with (a host whose
 * stand-in kubelet runs under systemd), else what is installed on its host root now, else what it
 * registered with.
 */
export function reportedKubeletVersion(state: ClusterState, name: string): string {
  const node = state.nodes.find((n) => n.name === name);
  if (!node) return '';
  const running = state.runningKubelets[name];
  if (running !== undefined) return running.version;
  // the kubelet stand-in's own lookup (StandinEnv.version) on that node's root, then what it said at join
  for (const file of ['kubelet-version', 'version']) {
    try {
      const v = parseSemver(readFileSync(join(node.hostRoot, STANDIN_ETC, file), 'utf8').trim());
      if (v) return v.raw;
    } catch {
      // no such file: try the next
    }
  }
  return node.kubeletVersion;
}
