/**
 * Turns a staging directory into a .deb with dpkg-deb: writes DEBIAN/control, conffiles, md5sums
 * and the maintainer scripts, normalises modes and timestamps, builds with root:root ownership.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { sha256File } from '../checksums.js';

const run = promisify(execFile);

export const MAINTAINER = 'kctl maintainers <maintainers@kctl.invalid>';
export type Compression = 'xz' | 'gzip' | 'none';

export interface DebSpec {
  /** directory holding the package's files laid out as on the host (usr/, etc/, lib/) */
  stage: string;
  outDir: string;
  control: {
    Package: string;
    Version: string;
    Depends: string;
    Recommends?: string;
    Section: string;
    Description: string;
  };
  /** absolute paths (as on the host) of configuration files dpkg must not overwrite silently */
  conffiles: string[];
  /** postinst, prerm, postrm ... -> path of the script in the source tree */
  scripts: Record<string, string>;
  compression: Compression;
  /** file and directory mtimes and the archive dates, for reproducible builds */
  sourceDateEpoch: number;
}

export interface BuiltDeb {
  name: string;
  path: string;
  sha256: string;
}

export async function buildDeb(spec: DebSpec): Promise<BuiltDeb> {
  const { stage, control } = spec;
  await writeDocs(stage, control.Package, control.Version, spec.sourceDateEpoch);
  const files = await walk(stage);
  for (const f of files) {
    // dpkg-deb keeps modes as they are on disk: make them deliberate, not whatever umask gave
    if (f.dir) await chmod(f.path, 0o755);
    else await chmod(f.path, f.mode & 0o111 ? 0o755 : 0o644);
  }
  const debian = join(stage, 'DEBIAN');
  await mkdir(debian, { mode: 0o755 });
  const installedKiB = Math.ceil(files.reduce((sum, f) => sum + (f.dir ? 4096 : f.size), 0) / 1024);
  const fields: Array<[string, string | undefined]> = [
    ['Package', control.Package],
    ['Version', control.Version],
    ['Architecture', 'amd64'],
    ['Maintainer', MAINTAINER],
    ['Installed-Size', String(installedKiB)],
    ['Depends', control.Depends],
    ['Recommends', control.Recommends],
    ['Section', control.Section],
    ['Priority', 'optional'],
    ['Description', control.Description],
  ];
  await writeFile(
    join(debian, 'control'),
    fields
      .filter((f): f is [string, string] => f[1] !== undefined)
      .map(([k, v]) => `${k}: ${v}\n`)
      .join(''),
  );
  if (spec.conffiles.length > 0)
    await writeFile(join(debian, 'conffiles'), spec.conffiles.map((c) => `${c}\n`).join(''));
  const sums: string[] = [];
  for (const f of files.filter((x) => !x.dir))
    sums.push(`${await md5File(f.path)}  ${relative(stage, f.path)}\n`);
  await writeFile(join(debian, 'md5sums'), sums.join(''));
  for (const [name, source] of Object.entries(spec.scripts)) {
    await copyFile(source, join(debian, name));
    await chmod(join(debian, name), 0o755);
  }
  for (const name of ['control', 'md5sums', ...(spec.conffiles.length ? ['conffiles'] : [])]) {
    await chmod(join(debian, name), 0o644);
  }
  for (const f of await walk(stage)) await utimes(f.path, spec.sourceDateEpoch, spec.sourceDateEpoch);
  await utimes(stage, spec.sourceDateEpoch, spec.sourceDateEpoch);

  await mkdir(spec.outDir, { recursive: true });
  const name = `${control.Package}_${control.Version}_amd64.deb`;
  const path = join(spec.outDir, name);
  const z =
    spec.compression === 'xz'
      ? ['-Zxz', '-z6']
      : spec.compression === 'gzip'
        ? ['-Zgzip', '-z6']
        : ['-Znone'];
  await run('dpkg-deb', ['--root-owner-group', ...z, '--build', stage, path], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(spec.sourceDateEpoch) },
    maxBuffer: 16 * 1024 * 1024,
  });
  return { name, path, sha256: await sha256File(path) };
}

/** copyright and changelog, which Debian policy wants in every package */
async function writeDocs(stage: string, pkg: string, version: string, epoch: number): Promise<void> {
  const doc = join(stage, 'usr/share/doc', pkg);
  await mkdir(doc, { recursive: true });
  const year = new Date(epoch * 1000).getUTCFullYear();
  await writeFile(
    join(doc, 'copyright'),
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n' +
      'Upstream-Name: kctl\n\n' +
      `Files: *\nCopyright: ${year} kctl authors\nLicense: Apache-2.0\n` +
      ' On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n' +
      (pkg === 'kctl-agent'
        ? `\nFiles: usr/bin/kctl-agent\nCopyright: ${year} Node.js contributors and kctl authors\nLicense: MIT and Apache-2.0\n` +
          ' The executable embeds the Node.js runtime (MIT license and the licenses of its bundled\n' +
          ' dependencies) and the bundled kctl agent with its npm dependencies.\n'
        : `\nFiles: usr/lib/kctl-controller/*\nCopyright: ${year} Node.js contributors, npm package authors, kctl authors\n` +
          'License: MIT and others\n The Node.js runtime (MIT) and the npm packages in app/node_modules, each\n' +
          ' under the license in its own directory.\n'),
  );
  // the Node runtime inside the executables is built by Node.js upstream, not by this package
  const overrides =
    '# Node.js links its own copy of zlib into the node binary\n' +
    `${pkg}: embedded-library zlib [*]\n` +
    '# the node binary comes from Node.js upstream as it is (not built as PIE)\n' +
    `${pkg}: hardening-no-pie [*]\n`;
  await mkdir(join(stage, 'usr/share/lintian/overrides'), { recursive: true });
  await writeFile(join(stage, 'usr/share/lintian/overrides', pkg), overrides);
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  const changelog = `${pkg} (${version}) unstable; urgency=medium\n\n  * Built by packaging/deb/build.ts.\n\n -- ${MAINTAINER}  ${date}\n`;
  await writeFile(join(doc, 'changelog.gz'), gzipSync(changelog, { level: 9 }));
}

interface Entry {
  path: string;
  dir: boolean;
  mode: number;
  size: number;
}

async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const rel of await readdir(root, { recursive: true })) {
    const path = join(root, rel);
    const s = await lstat(path);
    if (s.isSymbolicLink()) throw new Error(`symlink in package staging: ${path}`);
    out.push({ path, dir: s.isDirectory(), mode: s.mode, size: s.size });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
