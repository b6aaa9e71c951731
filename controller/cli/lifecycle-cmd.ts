import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { KctlError } from '../../proto/errors.js';
import type { CliContext } from './context.js';
import { loadClusterFile } from './cluster-file.js';

const RemoveReport = z.strictObject({
  node: z.string(),
  drained: z.boolean(),
  reset: z.boolean(),
  deleted: z.boolean(),
  cleaned: z.array(z.string()),
});
const ResetReport = z.strictObject({
  hosts: z.array(z.strictObject({ host: z.string(), wasMember: z.boolean() })),
});

export function nodeCommand(ctx: CliContext): Command {
  const cmd = new Command('node').description('node lifecycle');
  cmd
    .command('remove')
    .description(
      'drain a node, kubeadm reset it (etcd member too), clean CNI/iptables/ipvs state, delete the Node',
    )
    .argument('<name>')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const r = await (
        await ctx.client(self)
      ).post(`/v1/admin/nodes/${encodeURIComponent(name)}/remove`, {}, RemoveReport, 1_200_000);
      ctx.out(
        `node ${r.node}: ${r.drained ? 'drained, ' : ''}${r.reset ? 'reset' : 'was not a member'}, ${r.deleted ? 'Node deleted' : 'no Node object'}\n`,
      );
      for (const c of r.cleaned) ctx.out(`  cleaned ${c}\n`);
    });
  return cmd;
}

export function resetCommand(ctx: CliContext): Command {
  return new Command('reset')
    .description('tear down the whole cluster: kubeadm reset on every host (asks for confirmation)')
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--yes', 'do not ask (for scripts)')
    .action(async (opts: { file: string; yes?: boolean }, self: Command) => {
      const { spec } = await loadClusterFile(opts.file);
      let confirm = opts.yes ? spec.name : '';
      if (!opts.yes) {
        if (!process.stdin.isTTY)
          throw new KctlError('invalid_args', 'reset needs --yes when not run at a terminal');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        confirm = (
          await rl.question(`This resets every host of cluster "${spec.name}". Type its name to go on: `)
        ).trim();
        rl.close();
      }
      const r = await (
        await ctx.client(self)
      ).post('/v1/admin/reset', { spec, confirm }, ResetReport, 3_600_000);
      for (const h of r.hosts) ctx.out(`${h.host}: ${h.wasMember ? 'reset' : 'was not a member'}\n`);
    });
}

const UpgradeReport = z.strictObject({
  hosts: z.array(z.strictObject({ host: z.string(), steps: z.array(z.string()) })),
});

export function upgradeCommand(ctx: CliContext): Command {
  return new Command('upgrade')
    .description(
      'upgrade the cluster one minor at a time: upgrade apply on the first control plane, then each node drained, upgraded, uncordoned',
    )
    .requiredOption(
      '-f, --file <cluster.yaml>',
      'the cluster spec (its kubernetesVersion is the current one)',
    )
    .requiredOption('--to <vX.Y.Z>', 'the target version')
    .action(async (opts: { file: string; to: string }, self: Command) => {
      const { spec } = await loadClusterFile(opts.file);
      const r = await (
        await ctx.client(self)
      ).post('/v1/admin/upgrade', { spec, to: opts.to }, UpgradeReport, 3_600_000);
      for (const h of r.hosts) ctx.out(`${h.host}: ${h.steps.join(' -> ')}\n`);
      ctx.out(`upgraded to ${opts.to}; set kubernetesVersion: ${opts.to} in ${opts.file}\n`);
    });
}
