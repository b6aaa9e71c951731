import { Command } from 'commander';
import { initDataDir } from '../data-dir.js';
import { startController } from '../main.js';
import type { CliContext } from './context.js';

export function controllerCommand(ctx: CliContext): Command {
  const cmd = new Command('controller').description('set up and run the kctl controller');

  cmd
    .command('init')
    .description('create the CA, serving certificate, admin credential and client config in DIR')
    .requiredOption('--data-dir <dir>', 'controller state directory')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:7443')
    .option('--san <name>', 'extra DNS name or IP for the serving certificate (repeatable)', collect, [])
    .action(async (opts: { dataDir: string; listen: string; san: string[] }) => {
      const r = await initDataDir({ dir: opts.dataDir, listen: opts.listen, sans: opts.san });
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
    .action(async (opts: { dataDir: string; listen?: string; bundle?: string }) => {
      const running = await startController({
        dataDir: opts.dataDir,
        ...(opts.listen ? { listen: opts.listen } : {}),
        ...(opts.bundle !== undefined ? { bundleDir: opts.bundle } : {}),
      });
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void running.close().finally(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  return cmd;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
