import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labExec } from '../../lab/exec.js';
import { labUp } from '../../lab/hosts.js';
import { LAB_BRIDGE_ADDRESS } from '../../lab/network.js';
import {
  BUNDLE_KEYRING,
  buildOfflineAptRepo,
  bundleSourcesLine,
  type OfflineAptRepo,
} from '../../controller/bundle/offline-repo.js';
import { ensureBaseRootfs } from '../../lab/rootfs.js';
import { defaultLabSeed } from '../../lab/seed.js';
import { labDown, labLeftovers } from '../../lab/teardown.js';
import { labSkipReason } from './lab-env.js';

const reason = await labSkipReason();
if (reason !== undefined) console.warn(`offline repo lab tests skipped: ${reason}`);

const DIR = '/var/tmp/kctl-lab-repo-test';

/** A port free on this machine now, to put in the seed before the bridge (and our listener) exists. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as AddressInfo;
  await new Promise((ok) => s.close(ok));
  return port;
}

/** A tiny package built with dpkg-deb, standing in for the kube stand-in packages. */
async function buildProbeDeb(work: string): Promise<string> {
  const root = join(work, 'probe');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/share/kctl-lab-probe'), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN/control'),
    'Package: kctl-lab-probe\nVersion: 1.0.0\nArchitecture: all\nMaintainer: kctl <kctl@kctl.invalid>\n' +
      'Depends: runc\nDescription: kctl lab test package\n',
  );
  await writeFile(join(root, 'usr/share/kctl-lab-probe/marker'), 'probe\n');
  const deb = join(work, 'kctl-lab-probe_1.0.0_all.deb');
  await execa('dpkg-deb', ['--build', '--root-owner-group', root, deb]);
  return deb;
}

describe.skipIf(reason !== undefined)(
  `offline apt repository installed from by a booted host${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let work: string;
    let repo: OfflineAptRepo;
    let server: Server | undefined;
    let port: number;
    const requests: string[] = [];
    const exec = (argv: string[]) => labExec('lab-1', argv, { dir: DIR });

    beforeAll(async () => {
      await labDown({ dir: DIR });
      work = await mkdtemp(join(tmpdir(), 'kctl-repo-test-'));
      const base = await ensureBaseRootfs({ installMissing: true });
      repo = await buildOfflineAptRepo({
        outDir: join(work, 'apt'),
        baseRootfs: base.path,
        extraDebs: [await buildProbeDeb(work)],
      });
      port = await freePort();
      const url = `http://${LAB_BRIDGE_ADDRESS}:${port}/bundle/apt`;
      const keyring = (await readFile(repo.keyringPath)).toString('base64');
      // the host learns the repository and its key from its cloud-init seed, as a real one would
      await labUp({
        n: 1,
        dir: DIR,
        seedFor: (host) => ({
          ...defaultLabSeed(host, 'repo'),
          userData: `#cloud-config\n${stringify({
            hostname: host.name,
            write_files: [
              {
                path: `/etc/apt/keyrings/${BUNDLE_KEYRING}`,
                encoding: 'b64',
                content: keyring,
                permissions: '0644',
              },
              { path: '/etc/apt/sources.list.d/kctl-bundle.list', content: `${bundleSourcesLine(url)}\n` },
            ],
          })}`,
        }),
      });
      server = createServer((req, res) => {
        const path = normalize(decodeURIComponent(req.url ?? '/'));
        requests.push(path);
        // a copy of the repository without its signatures, to show apt refuses it
        const unsigned = path.startsWith('/unsigned/');
        const rel = path.replace(/^\/(bundle|unsigned)\/apt\//, '');
        if (rel === path || rel.includes('..') || (unsigned && /(InRelease|Release\.gpg)$/.test(rel))) {
          res.writeHead(404).end();
          return;
        }
        const file = join(repo.dir, rel);
        stat(file).then(
          (s) => {
            if (!s.isFile()) return void res.writeHead(404).end();
            res.writeHead(200, { 'content-length': s.size });
            createReadStream(file).pipe(res);
          },
          () => res.writeHead(404).end(),
        );
      });
      await new Promise<void>((ok) => server?.listen(port, LAB_BRIDGE_ADDRESS, ok));
    });

    afterAll(async () => {
      await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
      await labDown({ dir: DIR });
      await rm(work, { recursive: true, force: true });
    });

    it('the repository holds real containerd and runc packages and a signed Release with SHA256 sums', async () => {
      expect(repo.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['containerd', 'runc']));
      const release = await readFile(join(repo.dir, 'Release'), 'utf8');
      expect(release).toMatch(/^SHA256:\n(?: [0-9a-f]{64}\s+\d+ Packages(?:\.gz)?\n){2}/m);
      expect(await readFile(join(repo.dir, 'InRelease'), 'utf8')).toContain('-----BEGIN PGP SIGNATURE-----');
      expect(repo.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    });

    it('apt on the host trusts the repository through signed-by and installs containerd from it', async () => {
      const update = await exec(['apt-get', 'update']);
      expect(update.exitCode, update.stderr).toBe(0);
      expect(update.stdout + update.stderr).not.toMatch(/^(W|E):/m);
      const install = await exec(['apt-get', 'install', '-y', '--no-install-recommends', 'containerd']);
      expect(install.exitCode, install.stderr).toBe(0);
      const want = repo.packages.find((p) => p.name === 'containerd')?.version;
      expect((await exec(['dpkg-query', '-W', '-f=${Version}', 'containerd'])).stdout).toBe(want);
      expect(requests.some((r) => r.endsWith('.deb') && r.includes('containerd'))).toBe(true);
    });

    it('an extra .deb given to the repository installs with its dependency from the repository', async () => {
      expect(repo.packages.map((p) => p.name)).toContain('kctl-lab-probe');
      const install = await exec(['apt-get', 'install', '-y', 'kctl-lab-probe']);
      expect(install.exitCode, install.stderr).toBe(0);
      expect((await exec(['cat', '/usr/share/kctl-lab-probe/marker'])).stdout).toBe('probe\n');
    });

    it('containerd is active in the host', async () => {
      const deadline = Date.now() + 30_000;
      let state = '';
      while (Date.now() < deadline && state !== 'active') {
        state = (await exec(['systemctl', 'is-active', 'containerd'])).stdout.trim();
        if (state !== 'active') await new Promise((r) => setTimeout(r, 500));
      }
      expect(state).toBe('active');
    });

    it('the same repository without its signatures is refused by apt', async () => {
      const list = `deb [signed-by=/etc/apt/keyrings/${BUNDLE_KEYRING}] http://${LAB_BRIDGE_ADDRESS}:${port}/unsigned/apt ./\n`;
      const r = await labExec(
        'lab-1',
        [
          'sh',
          '-c',
          'cat > /root/unsigned.list && apt-get -o Dir::Etc::sourcelist=/root/unsigned.list -o Dir::Etc::sourceparts=- update',
        ],
        { dir: DIR, input: list },
      );
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/not signed/);
    });

    it('lab down leaves nothing behind', async () => {
      await labDown({ dir: DIR });
      expect(await labLeftovers({ dir: DIR })).toEqual([]);
    });
  },
);
