import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { renderContainerdConfig } from '../../controller/render/containerd.js';

/**
 * What the lab tests that need container images share: small OCI images made here with umoci
 * (nothing can be downloaded), copied with skopeo, and a real containerd of the test's own.
 */

/** [program, Debian package] pairs a test names when one is missing. */
export const IMAGE_PROGRAMS: ReadonlyArray<[program: string, pkg: string]> = [
  ['skopeo', 'skopeo'],
  ['umoci', 'umoci'],
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
];

/** The programs of `programs` this machine lacks, each with its Debian package. */
export async function missingPrograms(programs: ReadonlyArray<[string, string]>): Promise<string[]> {
  const missing: string[] = [];
  for (const [program, pkg] of programs) {
    const found = await execa('sh', ['-c', `command -v ${program} || test -x /usr/sbin/${program}`], {
      reject: false,
      env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
    });
    if (found.exitCode !== 0) missing.push(`${program} (Debian package ${pkg})`);
  }
  return missing;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as AddressInfo;
  await new Promise((ok) => s.close(ok));
  return port;
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

/** a daemon started by the test, its output kept for a failure's message */
export const daemon = (file: string, args: readonly string[]) =>
  execa(file, args, { reject: false, all: true });
export type Daemon = ReturnType<typeof daemon>;

export async function stop(p: Daemon | undefined): Promise<void> {
  if (p?.pid === undefined || p.exitCode !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await p.catch(() => undefined);
  clearTimeout(t);
}

/** Unmounts whatever containerd's snapshots left mounted below `dir`, then removes it. */
export async function removeWorkDir(dir: string): Promise<void> {
  if (dir === '') return;
  await execa('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`], {
    reject: false,
  });
  await rm(dir, { recursive: true, force: true });
}

/**
 * An OCI layout at `layout` with one small image per call, tagged `tag`: an empty base, one file
 * `/<name>` holding `content` (so every image has its own digest), and `cmd`.
 */
export async function makeTestImage(
  layout: string,
  tag: string,
  file: { name: string; content: string },
): Promise<string> {
  const exists = await readFile(join(layout, 'oci-layout')).then(
    () => true,
    () => false,
  );
  if (!exists) await execa('umoci', ['init', '--layout', layout]);
  const image = `${layout}:${tag}`;
  await execa('umoci', ['new', '--image', image]);
  const bundle = `${layout}.unpack-${tag}`;
  await execa('umoci', ['unpack', '--image', image, bundle]);
  await writeFile(join(bundle, 'rootfs', file.name), file.content);
  await execa('umoci', ['repack', '--image', image, bundle]);
  await execa('umoci', ['config', '--image', image, '--config.cmd', `/${file.name}`]);
  await rm(bundle, { recursive: true, force: true });
  return `oci:${image}`;
}

/** skopeo copy with a policy that accepts the test's unsigned images; returns the manifest digest written. */
export async function skopeoCopy(
  work: string,
  source: string,
  dest: string,
  extra: readonly string[] = [],
): Promise<string> {
  const policy = join(work, 'policy.json');
  await writeFile(policy, '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  const digestFile = join(work, 'skopeo-digest');
  await execa('skopeo', ['--policy', policy, 'copy', ...extra, '--digestfile', digestFile, source, dest]);
  return (await readFile(digestFile, 'utf8')).trim();
}

/** A real containerd of the test's own under `dir`, on the config kctl renders; its socket and stopper. */
export async function startContainerd(
  dir: string,
  options: { pauseImage: string; registryConfigPath?: string },
): Promise<{ sock: string; process: Daemon }> {
  await mkdir(dir, { recursive: true });
  const sock = join(dir, 'containerd.sock');
  await writeFile(
    join(dir, 'config.toml'),
    renderContainerdConfig({
      containerdMajor: 1,
      pauseImage: options.pauseImage,
      registryConfigPath: options.registryConfigPath ?? join(dir, 'certs.d'),
    }),
  );
  const process = daemon('containerd', [
    '--config',
    join(dir, 'config.toml'),
    '--root',
    join(dir, 'root'),
    '--state',
    join(dir, 'state'),
    '--address',
    sock,
    '--log-level',
    'warn',
  ]);
  await waitFor('containerd', async () => {
    const r = await execa('ctr', ['-a', sock, '--timeout', '2s', 'version'], { reject: false });
    return r.exitCode === 0;
  });
  return { sock, process };
}
