/**
 * TEST SCAFFOLDING: a local package mirror laid out like pkgs.k8s.io, one flat apt repository per
 * minor (`<base>/core:/stable:/v1.31/deb/` with Packages, Release, InRelease, Release.gpg and
 * Release.key), signed by a throwaway gpg key standing in for the pkgs.k8s.io one, served over
 * HTTPS with a certificate from a test CA made here. It listens on loopback or the lab bridge only
 * (pkgs.k8s.io is never contacted): a cluster.yaml with `packages: {source: mirror, url: <url>}`
 * makes kctl render `deb [signed-by=...] <url>/core:/stable:/v1.32/deb/ /` and fetch the key from
 * `<url>/core:/stable:/v1.32/deb/Release.key`, as it would from pkgs.k8s.io.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { LAB_BRIDGE_ADDRESS } from '../../lab/network.js';
import { makeTestGpgKey } from '../fixtures/rpm/test-gpg.js';

const run = promisify(execFile);
const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export interface MirrorDeb {
  /** the Kubernetes version the package belongs to, e.g. v1.31.3: it goes to that minor's repository */
  kubernetesVersion: string;
  path: string;
}

export interface PkgsMirrorContent {
  root: string;
  /** minors with a repository, e.g. ['v1.31', 'v1.32'] */
  minors: string[];
  /** upper-case hex fingerprint of the signing key (packages.keyFingerprint) */
  keyFingerprint: string;
  /** the armored public key each repository serves as Release.key */
  armoredKey: string;
}

export interface MirrorPki {
  caCertPem: string;
  serverCert: string;
  serverKey: string;
}

export interface PkgsMirror extends PkgsMirrorContent {
  /** https://<address>:<port>: what `packages.url` names */
  url: string;
  pki: MirrorPki;
  /** request paths in order */
  requests: string[];
  close(): Promise<void>;
}

/** `<root>/core:/stable:/v1.31/deb`, as controller/render/packages.ts addresses it. */
export function mirrorRepoPath(kubernetesVersion: string): string {
  const m = /^v?1\.(\d+)\.\d+$/.exec(kubernetesVersion);
  if (!m) throw new Error(`"${kubernetesVersion}" is not a Kubernetes version like v1.31.2`);
  return `core:/stable:/v1.${m[1]}/deb`;
}

/**
 * Writes one signed flat repository per minor under `root` (emptied first): the .debs in `pool/`,
 * Packages(.gz) and Release by apt-ftparchive, InRelease and Release.gpg by a fresh test key.
 */
export async function buildPkgsMirror(root: string, debs: MirrorDeb[]): Promise<PkgsMirrorContent> {
  const dir = resolve(root);
  await rm(dir, { recursive: true, force: true });
  const key = await makeTestGpgKey('ed25519', 'kctl test pkgs.k8s.io mirror');
  try {
    const byRepo = new Map<string, string[]>();
    for (const d of debs) {
      const repo = mirrorRepoPath(d.kubernetesVersion);
      byRepo.set(repo, [...(byRepo.get(repo) ?? []), d.path]);
    }
    for (const [repo, paths] of byRepo) {
      const repoDir = join(dir, repo);
      await mkdir(join(repoDir, 'pool'), { recursive: true });
      for (const p of paths) await copyFile(p, join(repoDir, 'pool', basename(p)));
      const ftp = (args: string[]) =>
        run('apt-ftparchive', args, { cwd: repoDir, env: PATH_ENV, maxBuffer: 64 << 20 });
      const packages = (await ftp(['packages', 'pool'])).stdout;
      await writeFile(join(repoDir, 'Packages'), packages);
      await writeFile(join(repoDir, 'Packages.gz'), gzipSync(packages));
      const minor = repo.split('/')[2] ?? '';
      const release =
        (await ftp([
          '-o', 'APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes:core:stable:' + minor,
          '-o', `APT::FTPArchive::Release::Label=isv:kubernetes:core:stable:${minor} (kctl test mirror)`,
          '-o', 'APT::FTPArchive::Release::Architectures=amd64 all',
          'release', '.',
        ])) // prettier-ignore
        .stdout;
      await writeFile(join(repoDir, 'Release'), release);
      const sign = ['--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', key.fingerprint];
      await key.gpg([
        ...sign,
        '--clearsign',
        '--output',
        join(repoDir, 'InRelease'),
        join(repoDir, 'Release'),
      ]);
      await key.gpg([
        ...sign,
        '--armor',
        '--detach-sign',
        '--output',
        join(repoDir, 'Release.gpg'),
        join(repoDir, 'Release'),
      ]);
      await writeFile(join(repoDir, 'Release.key'), key.armored);
    }
    return {
      root: dir,
      minors: [...byRepo.keys()].map((r) => r.split('/')[2] ?? '').sort(),
      keyFingerprint: key.fingerprint,
      armoredKey: key.armored,
    };
  } finally {
    await key.cleanup();
  }
}

/** A test CA and a serving certificate for one IP address (openssl CLI; test material only). */
export async function makeMirrorPki(dir: string, address: string): Promise<MirrorPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);
  const ossl = (args: string[]) => run('openssl', args, { env: PATH_ENV });
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ca.key')]);
  await ossl([
    'req', '-x509', '-new', '-key', p('ca.key'), '-subj', '/CN=kctl test mirror CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', p('ca.pem'),
  ]); // prettier-ignore
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('server.key')]);
  await ossl(['req', '-new', '-key', p('server.key'), '-subj', `/CN=${address}`, '-out', p('server.csr')]);
  await writeFile(p('ext.cnf'), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth\n`);
  await ossl([
    'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('ext.cnf'), '-out', p('server.pem'),
  ]); // prettier-ignore
  return {
    caCertPem: await readFile(p('ca.pem'), 'utf8'),
    serverCert: await readFile(p('server.pem'), 'utf8'),
    serverKey: await readFile(p('server.key'), 'utf8'),
  };
}

/** Loopback, or the lab bridge: the mirror never listens where another machine could reach it. */
function requireLocalAddress(address: string): void {
  if (address === LAB_BRIDGE_ADDRESS || /^127\.\d+\.\d+\.\d+$/.test(address)) return;
  throw new Error(`the test mirror listens on loopback or ${LAB_BRIDGE_ADDRESS} only, not "${address}"`);
}

/**
 * Serves `content.root` over HTTPS on address:port (port 0: any free one), with `pki` (made for that
 * address, e.g. before the hosts that must trust its CA boot) or a new one made in `pkiDir`.
 */
export async function startPkgsMirror(options: {
  content: PkgsMirrorContent;
  address: string;
  port?: number;
  pki?: MirrorPki;
  pkiDir?: string;
}): Promise<PkgsMirror> {
  requireLocalAddress(options.address);
  const pki =
    options.pki ??
    (options.pkiDir !== undefined ? await makeMirrorPki(options.pkiDir, options.address) : undefined);
  if (pki === undefined) throw new Error('startPkgsMirror needs pki or pkiDir');
  const root = options.content.root;
  const requests: string[] = [];
  const server: Server = createServer({ cert: pki.serverCert, key: pki.serverKey }, (req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'https://mirror.invalid').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    requests.push(path);
    const rel = normalize(path).replace(/^\/+/, '');
    if (rel.startsWith('..') || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(root, rel)).then(
      (data) => {
        res.writeHead(200, { 'content-length': data.length });
        res.end(req.method === 'HEAD' ? undefined : data);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.address, ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    ...options.content,
    url: `https://${options.address}:${port}`,
    pki,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
