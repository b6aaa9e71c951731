import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildDebs, debAgentUnit, type DebBuildResult } from '../../packaging/deb/build.js';
import { ensurePrograms, tempDir } from './system-tools.js';

const REPO = resolve(import.meta.dirname, '../..');
let work: { dir: string; remove: () => Promise<void> };
let built: DebBuildResult;

beforeAll(async () => {
  await ensurePrograms({ 'dpkg-deb': 'dpkg', lintian: 'lintian', shellcheck: 'shellcheck' });
  work = await tempDir('kctl-deb-test-');
  // gzip: lintian flags uncompressed packages, and xz would take ~40 s more
  built = await buildDebs({ outDir: join(work.dir, 'out'), compression: 'gzip' });
}, 240_000);
afterAll(async () => {
  await work.remove();
});

const info = async (deb: string): Promise<string> => (await execa('dpkg-deb', ['--info', deb])).stdout;
const contents = async (deb: string): Promise<string[]> =>
  (await execa('dpkg-deb', ['--contents', deb])).stdout
    .split('\n')
    .map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''));
const controlFile = async (deb: string, name: string): Promise<string> =>
  (await execa('dpkg-deb', ['--info', deb, name])).stdout;

/** a throwaway dpkg database and root: the real system's dpkg state is never touched */
async function throwawayRoot(
  name: string,
): Promise<{ root: string; dpkg: (args: string[]) => Promise<void> }> {
  const root = join(work.dir, name);
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/log'])
    await mkdir(join(root, d), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), '');
  await writeFile(join(root, 'var/lib/dpkg/available'), '');
  const dpkg = async (args: string[]): Promise<void> => {
    // --force-script-chrootless: maintainer scripts run here with DPKG_ROOT set, and ours only act
    // under DPKG_ROOT; --force-depends: the empty root has no libc6 to satisfy Depends:
    await execa('dpkg', [
      `--root=${root}`,
      `--log=${join(root, 'var/log/dpkg.log')}`,
      '--force-script-chrootless',
      '--force-depends',
      '--force-not-root',
      ...args,
    ]);
  };
  return { root, dpkg };
}

describe('kctl-agent .deb', () => {
  it('declares its runtime libraries and init-system-helpers, and no nodejs', async () => {
    const text = await info(built.agent.path);
    expect(text).toContain('Package: kctl-agent');
    expect(text).toContain('Architecture: amd64');
    expect(text).toMatch(
      /Depends: libc6 \(>= 2\.28\), libgcc-s1, libstdc\+\+6 \(>= 5\.2\), init-system-helpers/,
    );
    expect(text).not.toContain('nodejs');
  });

  it('ships the agent, the unit running /usr/bin/kctl-agent and an example config as a conffile', async () => {
    const files = await contents(built.agent.path);
    expect(files).toEqual(
      expect.arrayContaining([
        '/usr/bin/kctl-agent',
        '/lib/systemd/system/kctl-agent.service',
        '/etc/kctl/agent.yaml.example',
        '/usr/share/doc/kctl-agent/copyright',
        '/usr/share/doc/kctl-agent/changelog.gz',
      ]),
    );
    expect(files).not.toContain('/etc/kctl/agent.yaml');
    expect(await controlFile(built.agent.path, 'conffiles')).toBe('/etc/kctl/agent.yaml.example');
    expect(await info(built.agent.path)).toMatch(/postinst[\s\S]*postrm[\s\S]*prerm/);
  });

  it('has maintainer scripts that pass shellcheck', async () => {
    const scripts = ['postinst', 'prerm', 'postrm'].flatMap((s) => [
      join(REPO, 'packaging/deb/kctl-agent', s),
      join(REPO, 'packaging/deb/kctl-controller', s),
    ]);
    const r = await execa('shellcheck', ['--shell=sh', ...scripts], { reject: false });
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('has no lintian errors', async () => {
    const r = await execa('lintian', ['--tag-display-limit', '0', built.agent.path], { reject: false });
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E:'));
    expect(errors).toEqual([]);
  }, 120_000);

  it('installs into a throwaway root enabled but not started, and purge removes its state', async () => {
    const { root, dpkg } = await throwawayRoot('agent-root');
    await dpkg(['--install', built.agent.path]);
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/kctl-agent.service');
    expect(await readlink(wants)).toBe('/lib/systemd/system/kctl-agent.service');
    expect(await readFile(join(root, 'lib/systemd/system/kctl-agent.service'), 'utf8')).toBe(
      await debAgentUnit(),
    );
    expect((await stat(join(root, 'usr/bin/kctl-agent'))).mode & 0o777).toBe(0o755);

    await mkdir(join(root, 'var/lib/kctl-agent'), { recursive: true });
    await writeFile(join(root, 'var/lib/kctl-agent/identity.key'), 'secret');
    await writeFile(join(root, 'etc/kctl/agent.yaml'), 'token: abcdef.0123456789abcdef\n');
    await dpkg(['--purge', 'kctl-agent']);
    for (const gone of [
      'var/lib/kctl-agent',
      'etc/kctl',
      'usr/bin/kctl-agent',
      'lib/systemd/system/kctl-agent.service',
    ]) {
      await expect(stat(join(root, gone))).rejects.toThrow(/ENOENT/);
    }
    await expect(stat(wants)).rejects.toThrow(/ENOENT/);
  });
});

describe('kctl-controller .deb', () => {
  it('bundles its own Node instead of depending on nodejs (Debian 12 has Node 18)', async () => {
    const text = await info(built.controller.path);
    expect(text).toContain('Package: kctl-controller');
    expect(text).not.toContain('nodejs');
    expect(await controlFile(built.controller.path, 'conffiles')).toBe('/etc/kctl/controller.env');
  });

  it('ships the CLI wrapper, Node, the bundled controller, better-sqlite3 and the agent artifacts', async () => {
    const files = await contents(built.controller.path);
    expect(files).toEqual(
      expect.arrayContaining([
        '/usr/bin/kctl',
        '/usr/lib/kctl-controller/node',
        '/usr/lib/kctl-controller/app/kctl.mjs',
        '/usr/lib/kctl-controller/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
        '/usr/lib/kctl-controller/artifacts/kctl-agent-linux-x64',
        '/usr/lib/kctl-controller/artifacts/kctl-agent-linux-x64.sha256',
        '/usr/lib/kctl-controller/artifacts/SHA256SUMS',
        '/lib/systemd/system/kctl-controller.service',
        '/etc/kctl/controller.env',
      ]),
    );
    expect(files.filter((f) => f.includes('better-sqlite3/deps/'))).toEqual([]);
    expect(files.filter((f) => /node_modules\/(vitest|typescript|esbuild|postject)\//.test(f))).toEqual([]);
  });

  it('runs the kctl CLI from the extracted package on its own Node', async () => {
    const root = join(work.dir, 'controller-x');
    await execa('dpkg-deb', ['-x', built.controller.path, root]);
    const lib = join(root, 'usr/lib/kctl-controller');
    const r = await execa(join(lib, 'node'), [join(lib, 'app/kctl.mjs'), '--help'], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('controller');
    expect(r.exitCode).toBe(0);
    const sums = await execa('sha256sum', ['--check', '--strict', 'SHA256SUMS'], {
      cwd: join(lib, 'artifacts'),
    });
    expect(sums.stdout).toContain('kctl-agent-linux-x64: OK');
  });
});

describe('checksums', () => {
  it('accompany both .debs and every artifact, in sha256sum format', async () => {
    for (const a of [built.agent, built.controller, ...built.artifacts]) {
      expect(await readFile(`${a.path}.sha256`, 'utf8')).toBe(`${a.sha256}  ${a.name}\n`);
    }
    const r = await execa('sha256sum', ['--check', '--strict', 'SHA256SUMS'], {
      cwd: join(work.dir, 'out/artifacts'),
    });
    expect(r.exitCode).toBe(0);
  });
});
