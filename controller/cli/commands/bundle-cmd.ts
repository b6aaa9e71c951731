import { Command } from 'commander';
import { KctlError } from '../../../proto/errors.js';
import { BUNDLE_FORMATS, buildBundle, type BundleFormat } from '../../bundle/build.js';
import { verifyBundle } from '../../bundle/manifest.js';
import type { CliContext } from '../context.js';
import { loadClusterFile } from '../cluster-file.js';
import { collect } from '../controller-cmd.js';
import { imagesOptionsFrom, withImageOptions, type ImageFlags } from './bundle-images-flags.js';

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `--format deb,rpm` -> ['deb', 'rpm']; an unknown word names itself. */
export function parseBundleFormats(text: string): BundleFormat[] {
  const words = [...new Set(text.split(',').map((w) => w.trim()))];
  const bad = words.filter((w) => !(BUNDLE_FORMATS as readonly string[]).includes(w));
  if (bad.length > 0 || words.length === 0)
    throw new KctlError('invalid_args', `--format "${text}": expected deb, rpm or deb,rpm`);
  return words as BundleFormat[];
}

/** `kctl bundle build` and `kctl bundle verify`: the offline bundle the controller serves to agents. */
export function bundleCommand(ctx: CliContext): Command {
  const cmd = new Command('bundle').description('the offline package bundle served to enrolled agents');

  withImageOptions(
    cmd
      .command('build')
      .description(
        'make DIR/apt (signed flat apt repository) and/or DIR/rpm (dnf repository), and DIR/manifest.json (SHA-256 of every file)',
      )
      .requiredOption('--out <dir>', 'bundle directory (new, empty, or an earlier bundle)')
      .option(
        '--package <name>',
        'package to fetch with its dependencies (repeatable; default containerd, runc)',
        collect,
        [],
      )
      .option('--deb <file>', 'extra .deb file to include (repeatable)', collect, [])
      .option(
        '--format <formats>',
        'package repositories to make: deb (DIR/apt), rpm (DIR/rpm, createrepo_c) or deb,rpm',
        'deb',
      )
      .option('--rpm <file>', '.rpm file for DIR/rpm (repeatable; with --format rpm)', collect, [])
      .option('--base-rootfs <dir>', 'root filesystem whose installed packages are not fetched')
      .option(
        '--install-missing',
        'install apt-utils, gnupg and dpkg-dev tools first when missing (root)',
        false,
      ),
  ).action(
    async (
      opts: {
        out: string;
        package: string[];
        deb: string[];
        format: string;
        rpm: string[];
        baseRootfs?: string;
        installMissing: boolean;
      } & ImageFlags,
    ) => {
      const formats = parseBundleFormats(opts.format);
      if (opts.rpm.length > 0 && !formats.includes('rpm'))
        throw new KctlError('invalid_args', '--rpm needs --format rpm (or deb,rpm)');
      const images = await imagesOptionsFrom(opts);
      const cluster =
        opts.file === undefined
          ? undefined
          : { spec: (await loadClusterFile(opts.file)).spec, file: opts.file };
      const built = await buildBundle({
        outDir: opts.out,
        formats,
        rpms: opts.rpm,
        ...(opts.package.length > 0 ? { packages: opts.package } : {}),
        debs: opts.deb,
        ...(opts.baseRootfs !== undefined ? { baseRootfs: opts.baseRootfs } : {}),
        installMissing: opts.installMissing,
        ...(images ? { images } : {}),
        ...(cluster ? { cluster } : {}),
      });
      const bytes = built.manifest.files.reduce((n, f) => n + f.size, 0);
      for (const p of built.packages) ctx.out(`  ${p.name} ${p.version} ${p.architecture}\n`);
      for (const p of built.rpmPackages) ctx.out(`  rpm ${p.name} ${p.version} ${p.architecture}\n`);
      for (const i of built.images) ctx.out(`  image ${i.ref} ${i.digest} (${i.roles.join(', ')})\n`);
      ctx.out(
        `bundle ${built.dir}: ${built.packages.length + built.rpmPackages.length} package(s), ` +
          `${built.manifest.files.length} file(s), ${mib(bytes)}` +
          `${built.fingerprint !== undefined ? `; repository key ${built.fingerprint}` : ''}\n`,
      );
    },
  );

  cmd
    .command('verify')
    .description('recompute every SHA-256 and size in DIR and compare with DIR/manifest.json')
    .argument('<dir>', 'bundle directory')
    .action(async (dir: string) => {
      const { manifest, problems } = await verifyBundle(dir);
      for (const p of problems) ctx.err(`  ${p.path}: ${p.detail}\n`);
      if (problems.length > 0) {
        throw new KctlError(
          'check_failed',
          `bundle ${dir}: ${problems.length} problem(s) in ${manifest.files.length} file(s)`,
        );
      }
      ctx.out(`bundle ${dir}: ${manifest.files.length} file(s) match manifest.json\n`);
    });

  return cmd;
}
