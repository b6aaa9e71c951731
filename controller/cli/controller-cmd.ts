import { Command } from 'commander';
import { join, resolve } from 'node:path';
import { initDataDir } from '../data-dir.js';
import { startController } from '../main.js';
import type { CliContext } from './context.js';
import { backupController } from '../backup/backup.js';
import { restoreController } from '../backup/restore.js';
import { KctlError, describeZodError } from '../../proto/errors.js';
import { StoreLocation } from '../store/store-location.js';

/** --store and --store-ca as a StoreLocation (checked like controller.json's `store`); nothing when not given */
function storeOption(opts: { store?: string; storeCa?: string }): { store?: StoreLocation } {
  if (opts.store === undefined) {
    if (opts.storeCa !== undefined)
      throw new KctlError('invalid_args', '--store-ca needs --store postgres://…');
    return {};
  }
  // a path on the command line is the caller's, not the data dir's
  const raw = opts.storeCa === undefined ? opts.store : { url: opts.store, caFile: resolve(opts.storeCa) };
  const parsed = StoreLocation.safeParse(raw);
  if (!parsed.success) throw new KctlError('invalid_args', `--store: ${describeZodError(parsed.error)}`);
  if (opts.storeCa !== undefined && parsed.data === 'sqlite')
    throw new KctlError('invalid_args', '--store-ca applies to a postgres:// store only');
  return { store: parsed.data };
}

export function controllerCommand(ctx: CliContext): Command {
  const cmd = new Command('controller').description('set up and run the kctl controller');

  cmd
    .command('init')
    .description('create the CA, serving certificate, admin credential and client config in DIR')
    .requiredOption('--data-dir <dir>', 'controller state directory')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:7443')
    .option('--san <name>', 'extra DNS name or IP for the serving certificate (repeatable)', collect, [])
    .option(
      '--ca-from <dir>',
      "another replica's CA (a directory with its ca.crt and ca.key): this replica serves under the same CA pin",
    )
    .action(async (opts: { dataDir: string; listen: string; san: string[]; caFrom?: string }) => {
      const r = await initDataDir({
        dir: opts.dataDir,
        listen: opts.listen,
        sans: opts.san,
        ...(opts.caFrom !== undefined ? { caFrom: opts.caFrom } : {}),
      });
      if (!r.created) ctx.out(`controller already initialized in ${opts.dataDir}; nothing changed\n`);
      ctx.out(
        `CA pin:        ${r.caPin}\n` +
          `controller:    ${r.advertiseUrl}\n` +
          `client config: ${r.clientConfig} (mode 0600; use --config or export KCTL_CONFIG=${r.clientConfig})\n`,
      );
    });

  cmd
    .command('run')
    .description('serve agents (WSS) and the admin API on one HTTPS port')
    .requiredOption('--data-dir <dir>', 'controller state directory')
    .option('--listen <host:port>', 'override the address chosen at init')
    .option(
      '--bundle <dir>',
      'offline bundle to serve to enrolled agents (default: <data-dir>/bundle if present)',
    )
    .option(
      '--store <url>',
      'state database: "sqlite" (<data-dir>/state.db, the default) or postgres://user:pass@host:port/db (sslmode= as libpq)',
    )
    .option('--store-ca <file>', 'CA (PEM) that signed the PostgreSQL server certificate; turns TLS on')
    .action(
      async (opts: {
        dataDir: string;
        listen?: string;
        bundle?: string;
        store?: string;
        storeCa?: string;
      }) => {
        const running = await startController({
          dataDir: opts.dataDir,
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.bundle !== undefined ? { bundleDir: opts.bundle } : {}),
          ...storeOption(opts),
        });
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            void running.close().finally(resolve);
          };
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
      },
    );

  cmd
    .command('backup')
    .description(
      'write an online, consistent backup of the data dir (state, CA, settings) to FILE, mode 0600; on PostgreSQL the CA and settings only (the database: pg_dump)',
    )
    .requiredOption('--data-dir <dir>', 'controller state directory (the controller may be running)')
    .requiredOption('--out <file>', 'backup file to write (holds the CA key: keep it like the key)')
    .option('--force', 'replace FILE if it exists', false)
    .option(
      '--store <url>',
      'the store the controller runs on, as given to kctl controller run --store (default: controller.json\'s "store", else sqlite)',
    )
    .option('--store-ca <file>', 'with --store: the PostgreSQL CA, as given to kctl controller run')
    .action(
      async (opts: { dataDir: string; out: string; force: boolean; store?: string; storeCa?: string }) => {
        const r = await backupController({
          dataDir: opts.dataDir,
          out: opts.out,
          force: opts.force,
          ...storeOption(opts),
        });
        ctx.out(
          `backup:         ${r.out} (mode 0600; it holds the CA key)\n` +
            `members:        ${Object.keys(r.manifest.members).join(', ')}\n` +
            (r.storeElsewhere === undefined
              ? `state.db:       ${r.manifest.members['state.db']?.size ?? 0} bytes, schema version ${r.manifest.schemaVersion}, integrity ok\n`
              : '') +
            `CA pin:         ${r.caPin}\n` +
            `created:        ${r.manifest.createdAt}\n`,
        );
        if (r.storeElsewhere !== undefined) {
          const d = r.storeElsewhere;
          ctx.err(
            `database:       NOT in this backup: the state is in PostgreSQL ${d.url} (${d.setting}).\n` +
              `                Back the database up with pg_dump (e.g. pg_dump -Fc -f kctl.dump '<connection string>')\n` +
              `                or pg_basebackup; this file holds the CA, certificates and settings only.\n` +
              (d.tlsFiles.length > 0
                ? `                Not copied either: the store's TLS files ${d.tlsFiles.join(', ')}.\n`
                : ''),
          );
        }
      },
    );

  cmd
    .command('restore')
    .description('restore a data dir from a backup made by "kctl controller backup"')
    .requiredOption('--from <file>', 'backup file')
    .requiredOption('--data-dir <dir>', 'data dir to create (must not hold controller state, unless --force)')
    .option(
      '--force',
      'replace a data dir that holds state; the old one is kept as DIR.replaced-<time>',
      false,
    )
    .action(async (opts: { from: string; dataDir: string; force: boolean }) => {
      const r = await restoreController({ from: opts.from, dataDir: opts.dataDir, force: opts.force });
      ctx.out(
        `restored:       ${r.dataDir} (from a backup made ${r.manifest.createdAt} by kctl ${r.manifest.kctlVersion})\n` +
          (r.replaced !== undefined ? `previous dir:   kept as ${r.replaced}\n` : '') +
          `CA pin:         ${r.caPin} (unchanged: enrolled agents keep working)\n` +
          `controller:     ${r.advertiseUrl}\n` +
          `next steps:\n` +
          `  1. make ${r.advertiseUrl} reach this machine (same address, or point DNS at it); the serving\n` +
          `     certificate is valid for: ${r.sans.join(', ')}\n` +
          `  2. kctl controller run --data-dir ${r.dataDir}\n` +
          `  3. kctl --config ${join(r.dataDir, 'kctl.yaml')} hosts   (agents reconnect on their own)\n` +
          (r.manifest.store === undefined
            ? `  changes made after the backup (applies, enrollments, tokens) are not in it; re-run them\n`
            : `  the state is in PostgreSQL ${r.manifest.store.url}, not in this backup: the controller uses\n` +
              `  that database as it is now (give --store to run if controller.json has no "store"); to go\n` +
              `  back to the backup's time, pg_restore the database's pg_dump first\n`),
      );
    });

  return cmd;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
