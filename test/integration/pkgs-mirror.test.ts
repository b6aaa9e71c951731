import { execFile } from 'node:child_process';
import { get } from 'node:https';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubernetesAptKeyUrl, renderAptSource } from '../../controller/render/packages.js';
import { BASE_TOOL_PACKAGES, buildStandinDebs } from '../standins/deb.js';
import { buildPkgsMirror, startPkgsMirror, type PkgsMirror } from '../e2e/pkgs-mirror.js';
import { cleanup, tempDir } from './harness.js';

/**
 * The e2e suite's pkgs.k8s.io-like mirror (test/e2e/pkgs-mirror.ts) on 127.0.0.1, read by the
 * real apt of this machine in a private apt directory: the sources line and key URL come from
 * kctl's own renderers for `packages.source: mirror`, apt trusts only the mirror's test CA and
 * only the repository key fetched from it, and each minor's repository holds its own versions.
 */
const run = promisify(execFile);
const VERSIONS = ['v1.31.2', 'v1.31.3', 'v1.32.0'];

let dir: string;
let mirror: PkgsMirror;

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((ok, fail) => {
    get(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        res.statusCode === 200
          ? ok(Buffer.concat(chunks).toString())
          : fail(new Error(`${url}: ${res.statusCode}`)),
      );
    }).on('error', fail);
  });
}

beforeAll(async () => {
  dir = await tempDir('pkgs-mirror');
  const debs = [];
  for (const v of VERSIONS)
    for (const d of await buildStandinDebs(join(dir, 'debs'), { version: v }))
      debs.push({ kubernetesVersion: v, path: d.path });
  const content = await buildPkgsMirror(join(dir, 'mirror'), debs);
  mirror = await startPkgsMirror({ content, pkiDir: join(dir, 'pki'), address: '127.0.0.1' });
}, 300_000);
afterAll(async () => {
  await mirror?.close();
  await cleanup([dir]);
});

/** apt with its own state, sources and CA file; nothing of this machine's apt is read or changed. */
async function privateApt(kubernetesVersion: string, name: string) {
  const root = join(dir, name);
  await mkdir(join(root, 'state/lists/partial'), { recursive: true });
  await mkdir(join(root, 'cache/archives/partial'), { recursive: true });
  await mkdir(join(root, 'etc/sources.list.d'), { recursive: true });
  // Debian's nodejs is installed (the stand-ins run on it; the bundle brings it in the lab)
  await writeFile(
    join(root, 'status'),
    [{ name: 'nodejs', version: '18.20.4+dfsg-1~deb12u1' }, ...BASE_TOOL_PACKAGES]
      .map(
        (p) =>
          `Package: ${p.name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: ${p.version}\nDescription: stand-in status entry\n\n`,
      )
      .join(''),
  );
  await writeFile(join(root, 'ca.pem'), mirror.pki.caCertPem);
  const input = { kubernetesVersion, source: { kind: 'mirror' as const, baseUrl: mirror.url } };
  // the key as the agent gets it (fetch Release.key, dearmor); the keyring path replaces kctl's
  const armored = await fetchText(kubernetesAptKeyUrl(input), mirror.pki.caCertPem);
  const keyring = join(root, 'keyring.gpg');
  await writeFile(join(root, 'key.asc'), armored);
  await run('gpg', [
    '--batch',
    '--yes',
    '--homedir',
    root,
    '--dearmor',
    '--output',
    keyring,
    join(root, 'key.asc'),
  ]);
  const line = renderAptSource(input).replace('/etc/apt/keyrings/kubernetes-apt-keyring.gpg', keyring);
  await writeFile(join(root, 'etc/sources.list'), line);
  const opts = [
    '-o', `Dir::Etc=${join(root, 'etc')}`,
    '-o', 'Dir::Etc::sourceparts=sources.list.d',
    '-o', `Dir::Etc::trusted=${join(root, 'none.gpg')}`,
    '-o', `Dir::Etc::trustedparts=${join(root, 'none.d')}`,
    '-o', `Dir::State=${join(root, 'state')}`,
    '-o', `Dir::State::status=${join(root, 'status')}`,
    '-o', `Dir::Cache=${join(root, 'cache')}`,
    '-o', `Acquire::https::CAInfo=${join(root, 'ca.pem')}`,
    '-o', 'Debug::NoLocking=true',
    '-o', 'APT::Sandbox::User=root',
    '-o', 'APT::Architecture=amd64',
  ]; // prettier-ignore
  const apt = async (program: string, args: string[]) => {
    const r = await run(program, [...opts, ...args], {
      cwd: root,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => ({
      stdout: err.stdout ?? '',
      stderr: `${err.stderr ?? ''} (exit ${err.code ?? '?'})`,
      failed: true,
    }));
    return { stdout: r.stdout, stderr: r.stderr, ok: !('failed' in r) };
  };
  return { line, apt, root };
}

describe('a pkgs.k8s.io-like mirror over HTTPS with a test CA', () => {
  it('serves one signed repository per minor where kctl renders it, and apt trusts it with the fetched key', async () => {
    expect(mirror.minors).toEqual(['v1.31', 'v1.32']);
    const a = await privateApt('v1.31.3', 'apt-131');
    expect(a.line).toBe(
      `deb [signed-by=${join(a.root, 'keyring.gpg')}] ${mirror.url}/core:/stable:/v1.31/deb/ /\n`,
    );
    const update = await a.apt('apt-get', ['update']);
    expect(update.ok, update.stderr).toBe(true);
    expect(update.stderr).not.toMatch(/^W:/m);
    expect(mirror.requests).toContain('/core:/stable:/v1.31/deb/InRelease');
    const policy = await a.apt('apt-cache', ['madison', 'kubeadm', 'kubelet', 'kubectl']);
    const versions = (pkg: string) =>
      policy.stdout
        .split('\n')
        .filter((l) => l.trim().startsWith(`${pkg} `))
        .map((l) => l.split('|')[1]?.trim())
        .sort();
    for (const p of ['kubeadm', 'kubelet', 'kubectl'])
      expect(versions(p), p).toEqual(['1.31.2-1.1', '1.31.3-1.1']);

    // the older patch installs pinned although the repository holds a newer one (dependencies resolve)
    const pinned = await a.apt('apt-get', [
      'install',
      '-s',
      '-y',
      ...['kubeadm', 'kubelet', 'kubectl'].map((p) => `${p}=1.31.2-1.1`),
    ]);
    expect(pinned.ok, `${pinned.stdout}\n${pinned.stderr}`).toBe(true);
    expect(pinned.stdout).toMatch(/^Inst kubelet \(1\.31\.2-1\.1 /m);

    const b = await privateApt('v1.32.0', 'apt-132');
    expect(b.line).toContain(`${mirror.url}/core:/stable:/v1.32/deb/ /`);
    expect((await b.apt('apt-get', ['update'])).ok).toBe(true);
    const next = await b.apt('apt-cache', ['madison', 'kubeadm']);
    expect(next.stdout).toMatch(/kubeadm \| 1\.32\.0-1\.1 \|/);
    expect(next.stdout).not.toContain('1.31.');
    const dl = await b.apt('apt-get', ['download', 'kubeadm=1.32.0-1.1']);
    expect(dl.ok, dl.stderr).toBe(true);
  });

  it('apt refuses the mirror without the test CA (TLS) and with another key (signature)', async () => {
    const noCa = await privateApt('v1.31.2', 'apt-no-ca');
    await writeFile(join(noCa.root, 'ca.pem'), ''); // trusts nothing
    const r = await noCa.apt('apt-get', ['update']);
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/certificate|Certificate|handshake|verif/);

    const otherKey = await privateApt('v1.31.2', 'apt-other-key');
    await run('gpg', [
      '--batch', '--homedir', otherKey.root, '--pinentry-mode', 'loopback', '--passphrase', '',
      '--quick-gen-key', 'someone else <x@kctl.invalid>', 'ed25519', 'sign', '1d',
    ]); // prettier-ignore
    await run('gpg', [
      '--batch',
      '--yes',
      '--homedir',
      otherKey.root,
      '--output',
      join(otherKey.root, 'keyring.gpg'),
      '--export',
    ]);
    const s = await otherKey.apt('apt-get', ['update']);
    expect(`${s.stdout}\n${s.stderr}`).toMatch(/NO_PUBKEY|not signed|signatures couldn't be verified/);
  });

  it('listens on loopback or the lab bridge only', async () => {
    await expect(
      startPkgsMirror({ content: mirror, pkiDir: join(dir, 'pki-bad'), address: '0.0.0.0' }),
    ).rejects.toThrow(/loopback or 198\.18\.0\.1 only/);
  });
});
