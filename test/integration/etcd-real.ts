import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { execa } from 'execa';
import { ensureEtcdPki, etcdMemberFiles, ETCD_PKI_PATHS, type EtcdPki } from '../../controller/etcd/pki.js';
import { LocalHost } from '../../agent/host/local-host.js';
import { freePort, makeHostRoot, tempDir } from './harness.js';

/**
 * A throwaway REAL etcd cluster (Debian's etcd-server, /usr/bin/etcd) on loopback: members on
 * random ports of 127.0.0.1, TLS with client-cert-auth on both ports, certificates from the
 * controller's etcd PKI code. No network namespace and no root needed.
 */
export interface RealEtcd {
  pki: EtcdPki;
  members: Array<{ name: string; clientUrl: string; peerUrl: string; dataDir: string }>;
  endpoints: string[];
  /** writes the etcd CA, a member's server pair and the API server's client pair into a host root, kubeadm's layout */
  installClientFiles(root: string): Promise<void>;
  /** etcdctl with the client pair, from this machine */
  etcdctl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  stop(name: string): Promise<void>;
  close(): Promise<void>;
  output(): string;
}

/** Fails naming the Debian package when a program is missing (tests never skip). */
export async function requireProgram(path: string, pkg: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new Error(`${path} is missing: install the Debian package "${pkg}" (apt-get install -y ${pkg})`);
  }
}

/**
 * `count` members, formed new; with `restoreFrom`, each member's data dir is first made by
 * `etcdctl snapshot restore` of that snapshot exactly as docs/operations.md tells an operator
 * (own --name and --initial-advertise-peer-urls, the same --initial-cluster, a new token).
 */
export async function startRealEtcd(
  dir: string,
  count = 3,
  options: { restoreFrom?: string; pki?: EtcdPki } = {},
): Promise<RealEtcd> {
  await requireProgram('/usr/bin/etcd', 'etcd-server');
  await requireProgram('/usr/bin/etcdctl', 'etcd-client');
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  const names = Array.from({ length: count }, (_, i) => `m${i + 1}`);
  const pki =
    options.pki ??
    (
      await ensureEtcdPki(
        undefined,
        names.map((name) => ({ name, address: '127.0.0.1' })),
      )
    ).pki;
  const members: RealEtcd['members'] = [];
  for (const name of names) {
    members.push({
      name,
      clientUrl: `https://127.0.0.1:${await freePort()}`,
      peerUrl: `https://127.0.0.1:${await freePort()}`,
      dataDir: join(dir, name, 'data'),
    });
  }
  const processes = new Map<string, ChildProcess>();
  let out = '';
  const clientDir = join(dir, 'client');
  await mkdir(clientDir, { recursive: true });
  await writeFile(join(clientDir, 'ca.crt'), pki.ca.certPem);
  await writeFile(join(clientDir, 'client.crt'), pki.apiserverClient.certPem);
  await writeFile(join(clientDir, 'client.key'), pki.apiserverClient.keyPem, { mode: 0o600 });
  const endpoints = members.map((m) => m.clientUrl);

  const initialCluster = members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
  if (options.restoreFrom !== undefined) {
    for (const m of members) {
      const restored = await execa(
        '/usr/bin/etcdctl',
        [
          'snapshot',
          'restore',
          options.restoreFrom,
          '--name',
          m.name,
          '--initial-cluster',
          initialCluster,
          '--initial-cluster-token',
          `kctl-test-restore-${process.pid}`,
          '--initial-advertise-peer-urls',
          m.peerUrl,
          '--data-dir',
          m.dataDir,
        ],
        { reject: false, env: { ETCDCTL_API: '3' }, extendEnv: false },
      );
      if (restored.exitCode !== 0)
        throw new Error(`etcdctl snapshot restore for ${m.name}: ${restored.stderr}`);
    }
  }
  for (const m of members) {
    const pkiDir = join(dir, m.name, 'pki');
    await mkdir(pkiDir, { recursive: true });
    for (const f of etcdMemberFiles(pki, m.name))
      await writeFile(join(pkiDir, f.path.split('/').pop() ?? ''), f.content, { mode: f.mode });
    const env: Record<string, string> = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      ETCD_NAME: m.name,
      ETCD_DATA_DIR: m.dataDir,
      ETCD_LISTEN_CLIENT_URLS: m.clientUrl,
      ETCD_ADVERTISE_CLIENT_URLS: m.clientUrl,
      ETCD_LISTEN_PEER_URLS: m.peerUrl,
      ETCD_INITIAL_ADVERTISE_PEER_URLS: m.peerUrl,
      ETCD_INITIAL_CLUSTER: initialCluster,
      ETCD_INITIAL_CLUSTER_STATE: 'new',
      ETCD_INITIAL_CLUSTER_TOKEN: `kctl-test-${process.pid}`,
      ETCD_LISTEN_METRICS_URLS: `http://127.0.0.1:${await freePort()}`,
      ETCD_CLIENT_CERT_AUTH: 'true',
      ETCD_TRUSTED_CA_FILE: join(pkiDir, 'ca.crt'),
      ETCD_CERT_FILE: join(pkiDir, 'server.crt'),
      ETCD_KEY_FILE: join(pkiDir, 'server.key'),
      ETCD_PEER_CLIENT_CERT_AUTH: 'true',
      ETCD_PEER_TRUSTED_CA_FILE: join(pkiDir, 'ca.crt'),
      ETCD_PEER_CERT_FILE: join(pkiDir, 'peer.crt'),
      ETCD_PEER_KEY_FILE: join(pkiDir, 'peer.key'),
    };
    const child = spawn('/usr/bin/etcd', [], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const keep = (b: Buffer): void => void (out = (out + b.toString()).slice(-20_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    processes.set(m.name, child);
  }

  const etcdctl: RealEtcd['etcdctl'] = async (args) => {
    const r = await execa(
      '/usr/bin/etcdctl',
      [
        `--endpoints=${endpoints.join(',')}`,
        `--cacert=${join(clientDir, 'ca.crt')}`,
        `--cert=${join(clientDir, 'client.crt')}`,
        `--key=${join(clientDir, 'client.key')}`,
        '--dial-timeout=2s',
        '--command-timeout=4s',
        ...args,
      ],
      { reject: false, env: { ETCDCTL_API: '3' }, extendEnv: false },
    );
    return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
  };

  const stop = async (name: string): Promise<void> => {
    const child = processes.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  const close = async (): Promise<void> => {
    await Promise.all(names.map(stop));
  };

  // formed when every member answers healthy
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await etcdctl(['endpoint', 'health', '-w', 'json']);
    if (r.exitCode === 0) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the test etcd cluster did not become healthy:\n${r.stderr}\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    pki,
    members,
    endpoints,
    async installClientFiles(root) {
      const first = etcdMemberFiles(pki, names[0] ?? 'm1');
      const files: Array<{ path: string; content: string; mode: number }> = [
        ...first,
        { path: ETCD_PKI_PATHS.apiserverClientCert, content: pki.apiserverClient.certPem, mode: 0o644 },
        { path: ETCD_PKI_PATHS.apiserverClientKey, content: pki.apiserverClient.keyPem, mode: 0o600 },
      ];
      for (const f of files) {
        const path = join(root, f.path);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, f.content, { mode: f.mode });
      }
    },
    etcdctl,
    stop,
    close,
    output: () => out,
  };
}

/** A real 3-member etcd and a LocalHost over a temp root holding a member's client files (kubeadm's layout). */
export interface EtcdWithHost {
  dir: string;
  root: string;
  etcd: RealEtcd;
  host: LocalHost;
  close(): Promise<void>;
}

export async function startEtcdWithHost(name: string): Promise<EtcdWithHost> {
  const dir = await tempDir(name);
  const etcd = await startRealEtcd(join(dir, 'etcd'), 3);
  const root = await makeHostRoot('etcd-1');
  await etcd.installClientFiles(root);
  return {
    dir,
    root,
    etcd,
    host: new LocalHost({ root }),
    async close() {
      await etcd.close();
      await rm(dir, { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    },
  };
}
