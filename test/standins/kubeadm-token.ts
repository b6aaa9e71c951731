import { readState, updateState } from './cluster-state.js';
import { GLOBAL_FLAGS, parseFlags, type FlagSpec } from './flags.js';
import { useKubeconfig, type KubeconfigIdentity } from './kubeconfig.js';
import {
  addToken,
  DEFAULT_TOKEN_TTL_MS,
  kubeadmError,
  joinCommand,
  loadConfigFile,
  newTokenRecord,
  phaseError,
  purgeExpired,
  readSharedCerts,
  tokenId,
  uploadCerts,
} from './kubeadm-common.js';
import {
  BOOTSTRAP_GROUP,
  BOOTSTRAP_TOKEN,
  BOOTSTRAP_TOKEN_ID,
  TOKEN_USAGES,
  generateBootstrapToken,
  generateCertificateKey,
  parseGoDuration,
  shortHumanDuration,
} from './k8s-values.js';
import { ClusterConfigurationV4 } from './kubeadm-types.js';
import { CipherError, sealBytes } from './standin-pki.js';
import type { StandinEnv } from './standin-env.js';

/** `kubeadm token ...`, `kubeadm init phase upload-certs` and `kubeadm certs certificate-key`. */

const ADMIN_CONF = '/etc/kubernetes/admin.conf';

/** Writing Secrets in kube-system needs the cluster-admin groups; a kubelet identity is refused as RBAC would. */
export function requireAdmin(identity: KubeconfigIdentity, verb: string, resource: string): void {
  if (!identity.organizations.some((o) => o === 'system:masters' || o === 'kubeadm:cluster-admins')) {
    throw kubeadmError(
      `${resource} is forbidden: User "${identity.commonName}" cannot ${verb} resource "${resource}" in API group "" in the namespace "kube-system"`,
    );
  }
}

const TOKEN_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'kubeconfig', kind: 'string' },
  { name: 'dry-run', kind: 'bool' },
  { name: 'config', kind: 'string' },
  { name: 'ttl', kind: 'string' },
  { name: 'usages', kind: 'stringSlice' },
  { name: 'groups', kind: 'stringSlice' },
  { name: 'description', kind: 'string' },
  { name: 'print-join-command', kind: 'bool' },
  { name: 'certificate-key', kind: 'string' },
  { name: 'output', kind: 'string', short: 'o' },
];

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export async function kubeadmToken(env: StandinEnv, args: string[]): Promise<void> {
  const [sub = '', ...rest] = args;
  const flags = parseFlags(rest, TOKEN_FLAGS, `kubeadm token ${sub}`);
  if (sub === 'generate') {
    env.out(`${generateBootstrapToken()}\n`);
    return;
  }
  if (!['create', 'list', 'delete'].includes(sub))
    throw kubeadmError(`unknown command "${sub}" for "kubeadm token"`);
  const kubeconfig = flags.string('kubeconfig') ?? ADMIN_CONF;
  const dir = env.clusterDir();
  const now = env.now();
  const snapshot = readState(dir);
  const identity = useKubeconfig(env, kubeconfig, snapshot, 'kubeadm');

  if (sub === 'list') {
    requireAdmin(identity, 'list', 'secrets');
    purgeExpired(snapshot, now);
    const rows = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
    for (const t of snapshot.tokens) {
      rows.push([
        t.token,
        t.expiresAt === null ? '<forever>' : shortHumanDuration(t.expiresAt - now),
        t.expiresAt === null ? '<never>' : new Date(t.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        [...t.usages].sort().join(',') || '<none>',
        t.description || '<none>',
        t.groups.join(',') || '<none>',
      ]);
    }
    env.out(table(rows));
    return;
  }

  if (sub === 'delete') {
    requireAdmin(identity, 'delete', 'secrets');
    if (flags.positionals.length === 0)
      throw kubeadmError(
        'missing argument; \'token delete\' is missing token of form "\\A([a-z0-9]{6})\\z" or "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"',
      );
    await updateState(dir, (state) => {
      purgeExpired(state, now);
      for (const arg of flags.positionals) {
        const id = BOOTSTRAP_TOKEN.test(arg)
          ? arg.slice(0, 6)
          : BOOTSTRAP_TOKEN_ID.test(arg)
            ? arg
            : undefined;
        if (!id) {
          throw kubeadmError(
            `given token didn't match pattern "\\A([a-z0-9]{6})\\z" or "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"`,
          );
        }
        if (!state.tokens.some((t) => tokenId(t.token) === id)) {
          throw kubeadmError(
            `failed to delete bootstrap token with name "bootstrap-token-${id}": secrets "bootstrap-token-${id}" not found`,
          );
        }
        state.tokens = state.tokens.filter((t) => tokenId(t.token) !== id);
        // the kubeadm-certs Secret is garbage-collected with its owner token
        if (state.uploadedCerts && tokenId(state.uploadedCerts.ownerToken) === id) state.uploadedCerts = null;
        env.out(`bootstrap token "${id}" deleted\n`);
      }
    });
    return;
  }

  requireAdmin(identity, 'create', 'secrets');
  if (flags.positionals.length > 1)
    throw kubeadmError(`accepts at most 1 arg(s), received ${flags.positionals.length}`);
  const given = flags.positionals[0];
  if (given !== undefined && !BOOTSTRAP_TOKEN.test(given)) {
    throw kubeadmError(
      `the bootstrap token "${given}" was not of the form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"`,
    );
  }
  const ttlText = flags.string('ttl');
  const ttlMs = ttlText === undefined ? DEFAULT_TOKEN_TTL_MS : parseGoDuration(ttlText);
  if (ttlMs === undefined)
    throw kubeadmError(
      `invalid argument "${ttlText ?? ''}" for "--ttl" flag: time: invalid duration "${ttlText ?? ''}"`,
    );
  const usages = flags.has('usages') ? flags.list('usages') : undefined;
  for (const u of usages ?? []) {
    if (!TOKEN_USAGES.includes(u))
      throw kubeadmError(
        `invalid bootstrap token usage string: ${u}, valid usage options: ${TOKEN_USAGES.join(',')}`,
      );
  }
  for (const g of flags.list('groups')) {
    if (!BOOTSTRAP_GROUP.test(g))
      throw kubeadmError(
        `bootstrap group "${g}" is invalid (must match \\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\\z)`,
      );
  }
  const record = newTokenRecord({
    token: given,
    ttlMs,
    now,
    usages,
    groups: flags.has('groups') ? flags.list('groups') : undefined,
    description: flags.string('description'),
  });
  if (flags.bool('dry-run')) {
    env.out(`[dryrun] Would create bootstrap token ${record.token}\n`);
    return;
  }
  const cluster = await updateState(dir, (state) => {
    purgeExpired(state, now);
    addToken(state, record);
    return state.cluster;
  });
  if (flags.bool('print-join-command') && cluster) {
    const key = flags.string('certificate-key');
    env.out(
      `${joinCommand(cluster.controlPlaneEndpoint, record.token, cluster.caCertHash, key).replace(/ \\\n\t/g, ' ')} \n`,
    );
  } else {
    env.out(`${record.token}\n`);
  }
}

const UPLOAD_FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'upload-certs', kind: 'bool' },
  { name: 'certificate-key', kind: 'string' },
  { name: 'config', kind: 'string' },
  { name: 'kubeconfig', kind: 'string' },
  { name: 'skip-certificate-key-print', kind: 'bool' },
];

/** `kubeadm init phase upload-certs`: re-encrypts this control plane's shared certificates for 2 hours. */
export async function kubeadmUploadCerts(env: StandinEnv, args: string[]): Promise<void> {
  const flags = parseFlags(args, UPLOAD_FLAGS, 'kubeadm init phase upload-certs');
  if (!flags.bool('upload-certs')) {
    env.out('[upload-certs] Skipping phase. Please see --upload-certs\n');
    return;
  }
  const kubeadm = env.version();
  const configPath = flags.string('config');
  const loaded = configPath ? loadConfigFile(env, configPath, 'init', kubeadm) : undefined;
  if (configPath && flags.has('certificate-key'))
    throw kubeadmError("can not mix '--config' with arguments [certificate-key]");
  const key = flags.string('certificate-key') ?? loaded?.init?.certificateKey ?? generateCertificateKey();
  try {
    sealBytes(key, Buffer.alloc(0));
  } catch (err) {
    if (err instanceof CipherError)
      throw phaseError(
        'upload-certs',
        `error uploading certs: error decoding certificate key: ${err.message}`,
      );
    throw err;
  }
  const dir = env.clusterDir();
  const now = env.now();
  const snapshot = readState(dir);
  const identity = useKubeconfig(env, flags.string('kubeconfig') ?? ADMIN_CONF, snapshot, 'kubeadm');
  requireAdmin(identity, 'create', 'secrets');
  const record = snapshot.cluster;
  const clusterConfig =
    loaded?.cluster ?? (record ? ClusterConfigurationV4.parse(record.clusterConfiguration) : undefined);
  const certsDir = clusterConfig?.certificatesDir ?? '/etc/kubernetes/pki';
  const files = readSharedCerts(env, certsDir, record?.localEtcd ?? true);
  if ('missing' in files) {
    throw phaseError(
      'upload-certs',
      `error uploading certs: failed to read file ${files.missing}: open ${files.missing}: no such file or directory`,
    );
  }
  await updateState(dir, (state) => {
    purgeExpired(state, now);
    uploadCerts(state, files, key, now);
  });
  env.out(
    '[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace\n',
  );
  env.out('[upload-certs] Using certificate key:\n');
  env.out(`${flags.bool('skip-certificate-key-print') ? '<value withheld>' : key}\n`);
}
