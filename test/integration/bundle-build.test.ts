import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { BundleManifest } from '../../proto/bundle.js';
import { renderAptSource } from '../../controller/render/packages.js';
import { resolveBundleDir } from '../../controller/bundle/serve-dir.js';
import { cleanup, kctl, tempDir } from './harness.js';

const APT_ENV = {
  PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  LC_ALL: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
};

/**
 * `kctl bundle build` with a real package from Debian's archive (this machine's apt; `hello` is a
 * few kB and only needs libc6, which this machine has), then `kctl bundle verify`, then apt itself
 * reading the bundle the way hosts do: the rendered `file:` source line and the bundle's keyring,
 * with no network.
 */
describe('kctl bundle build and verify with a real package', () => {
  let work: string;
  let out: string;
  let manifest: BundleManifest;

  beforeAll(async () => {
    work = await tempDir('bundle-build');
    out = join(work, 'bundle');
    const r = await kctl([
      'bundle',
      'build',
      '--out',
      out,
      '--package',
      'hello',
      '--base-rootfs',
      '/',
      '--install-missing',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/hello \S+ amd64|hello \S+ \S+/);
    expect(r.stdout).toMatch(/bundle .*: 1 package\(s\), \d+ file\(s\)/);
    manifest = BundleManifest.parse(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')));
  }, 300_000);

  afterAll(async () => {
    await cleanup([work]);
  });

  it('writes the signed flat apt repository and a manifest of every file', async () => {
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'apt/InRelease',
        'apt/Release',
        'apt/Release.gpg',
        'apt/Packages',
        'apt/kctl-bundle.gpg',
      ]),
    );
    const debs = paths.filter((p) => p.startsWith('apt/pool/'));
    expect(debs).toHaveLength(1);
    expect(debs[0]).toMatch(/^apt\/pool\/hello_.*\.deb$/);
    expect(paths).toEqual([...paths].sort());
    expect((await kctl(['bundle', 'verify', out])).stdout).toMatch(/file\(s\) match manifest\.json/);
  });

  it('verify names a tampered file and fails', async () => {
    const copy = join(work, 'copy');
    await execa('cp', ['-a', out, copy]);
    const packages = join(copy, 'apt/Packages');
    await writeFile(packages, `${await readFile(packages, 'utf8')}\n`);
    const r = await kctl(['bundle', 'verify', copy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/apt\/Packages: size \d+, manifest says \d+/);
    expect(r.stderr).toMatch(/1 problem\(s\)/);
  });

  it('apt reads it through the rendered file: source and the bundle keyring, offline, and refuses another key', async () => {
    // the host layout, under a temp directory: the bundle where bundle-sync puts it, the keyring where apt looks
    const host = join(work, 'host');
    await mkdir(join(host, 'var/lib/kctl'), { recursive: true });
    await execa('cp', ['-a', out, join(host, 'var/lib/kctl/bundle')]);
    await mkdir(join(host, 'etc/apt/keyrings'), { recursive: true });
    await execa('cp', [join(out, 'apt/kctl-bundle.gpg'), join(host, 'etc/apt/keyrings/kctl-bundle.gpg')]);
    const line = renderAptSource({ kubernetesVersion: 'v1.31.2', source: { kind: 'bundle' } });
    expect(line).toBe('deb [signed-by=/etc/apt/keyrings/kctl-bundle.gpg] file:/var/lib/kctl/bundle/apt ./\n');
    const sources = join(work, 'kctl-bundle.list');
    await writeFile(
      sources,
      line.replaceAll('/etc/apt/', `${host}/etc/apt/`).replace('file:/var/', `file:${host}/var/`),
    );
    const state = join(work, 'apt-state');
    await mkdir(join(state, 'lists/partial'), { recursive: true });
    await mkdir(join(state, 'archives/partial'), { recursive: true });
    const opts = [
      '-o', `Dir::Etc::SourceList=${sources}`,
      '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State::Lists=${join(state, 'lists')}`,
      '-o', `Dir::Cache::Archives=${join(state, 'archives')}`,
      '-o', `Dir::Cache::pkgcache=${join(state, 'pkgcache.bin')}`,
      '-o', `Dir::Cache::srcpkgcache=${join(state, 'srcpkgcache.bin')}`,
      '-o', 'Debug::NoLocking=true',
      '-o', 'APT::Sandbox::User=root',
    ]; // prettier-ignore
    const update = await execa('apt-get', [...opts, '--error-on=any', 'update'], {
      env: APT_ENV,
      extendEnv: false,
      reject: false,
    });
    expect(update.exitCode, update.stdout + update.stderr).toBe(0);
    expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure/i);
    const policy = await execa('apt-cache', [...opts, 'policy', 'hello'], { env: APT_ENV, extendEnv: false });
    expect(policy.stdout).toContain(`file:${host}/var/lib/kctl/bundle/apt ./ Packages`);
    const fetched = join(work, 'fetched');
    await mkdir(fetched, { recursive: true });
    const download = await execa('apt-get', [...opts, 'download', 'hello'], {
      env: APT_ENV,
      extendEnv: false,
      reject: false,
      cwd: fetched,
    });
    expect(download.exitCode, download.stdout + download.stderr).toBe(0);
    expect((await readdir(fetched)).some((n) => /^hello_.*\.deb$/.test(n))).toBe(true);

    // a keyring that did not sign the repository is refused by apt
    await writeFile(
      join(host, 'etc/apt/keyrings/kctl-bundle.gpg'),
      await readFile('/usr/share/keyrings/debian-archive-keyring.gpg'),
    );
    await execa('rm', ['-rf', join(state, 'lists')]);
    await mkdir(join(state, 'lists/partial'), { recursive: true });
    const refused = await execa('apt-get', [...opts, '--error-on=any', 'update'], {
      env: APT_ENV,
      extendEnv: false,
      reject: false,
    });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/NO_PUBKEY|not signed|signatures couldn't be verified/i);
  });

  it('controller run serves <data-dir>/bundle when it holds a manifest, and refuses --bundle without one', async () => {
    const dataDir = join(work, 'data');
    await mkdir(dataDir, { recursive: true });
    expect(await resolveBundleDir(undefined, dataDir)).toBeUndefined();
    await execa('cp', ['-a', out, join(dataDir, 'bundle')]);
    expect(await resolveBundleDir(undefined, dataDir)).toBe(join(dataDir, 'bundle'));
    await expect(resolveBundleDir(join(work, 'nothing-here'), dataDir)).rejects.toThrow(
      /--bundle .*manifest/,
    );
  });
});
