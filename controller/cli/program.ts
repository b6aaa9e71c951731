import { Command, CommanderError } from 'commander';
import { KctlError, toWireError } from '../../proto/errors.js';
import { KCTL_VERSION } from '../../proto/version.js';
import { defaultContext, type CliContext } from './context.js';
import { controllerCommand } from './controller-cmd.js';
import { tokenCommand } from './token-cmd.js';
import { hostsCommand } from './hosts-cmd.js';
import { preflightCommand } from './preflight-cmd.js';
import { healthCommand } from './health-cmd.js';
import { certsCommand } from './certs-cmd.js';
import { kubeconfigCommand } from './kubeconfig-cmd.js';
import { etcdCommand } from './etcd-cmd.js';
import { auditCommand } from './audit-cmd.js';
import { planCommand } from './plan-cmd.js';
import { applyCommand } from './apply-cmd.js';
import { cloudInitCommand } from './cloud-init-cmd.js';
import { statusCommand } from './status-cmd.js';
import { nodeCommand, resetCommand, upgradeCommand } from './lifecycle-cmd.js';
import { webCommand } from './web-cmd.js';
import { bundleCommand } from './commands/bundle-cmd.js';
import { imagesCommand } from './images-cmd.js';

/**
 * `kctl lab` is a development tool that lives in lab/ (nspawn hosts on a bridge). It is loaded only
 * when asked for, from a source checkout, so the controller's build ships no lab code.
 */
function labLauncher(ctx: CliContext): Command {
  return new Command('lab')
    .description('a fleet lab for development: N booted Debian hosts (systemd-nspawn); source checkout only')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      // A computed specifier: the compiler does not follow it into lab/, by design.
      const labCli = new URL('../../lab/cli.js', import.meta.url).href;
      let mod: { labCommand(io: { out(t: string): void; err(t: string): void }): Command };
      try {
        mod = (await import(labCli)) as typeof mod;
      } catch (err) {
        throw new KctlError(
          'not_found',
          'kctl lab runs from a source checkout: lab/ is not part of an installed kctl',
          {
            details: {
              remedy: 'from the repository: npx tsx controller/cli/kctl.ts lab ...',
              cause: String(err),
            },
          },
        );
      }
      const lab = mod
        .labCommand({ out: (t) => ctx.out(t), err: (t) => ctx.err(t) })
        .name('kctl lab')
        .exitOverride();
      await lab.parseAsync(args, { from: 'user' });
    });
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('kctl')
    .description('bootstrap Kubernetes hosts: one controller, an agent per host, no SSH')
    .version(KCTL_VERSION)
    .option('--config <file>', 'kctl client config (default: $KCTL_CONFIG or ~/.kctl/config.yaml)')
    .showHelpAfterError()
    .exitOverride();
  for (const sub of [
    controllerCommand(ctx),
    tokenCommand(ctx),
    hostsCommand(ctx),
    preflightCommand(ctx),
    healthCommand(ctx),
    certsCommand(ctx),
    kubeconfigCommand(ctx),
    etcdCommand(ctx),
    auditCommand(ctx),
    planCommand(ctx),
    applyCommand(ctx),
    cloudInitCommand(ctx),
    statusCommand(ctx),
    nodeCommand(ctx),
    resetCommand(ctx),
    upgradeCommand(ctx),
    webCommand(ctx),
    labLauncher(ctx),
    bundleCommand(ctx),
    imagesCommand(ctx),
  ]) {
    program.addCommand(sub);
  }
  return program;
}

/** kctl's top level: the one place errors become text and exit codes. */
export async function runKctl(argv: string[], ctx: CliContext = defaultContext()): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const wire = toWireError(err);
    ctx.err(`kctl: ${wire.message}\n`);
    const remedy = wire.details?.remedy;
    if (typeof remedy === 'string') ctx.err(`  remedy: ${remedy}\n`);
    return err instanceof KctlError ? 1 : wire.code === 'internal' && /^-/.test(wire.message) ? 2 : 1;
  }
}
