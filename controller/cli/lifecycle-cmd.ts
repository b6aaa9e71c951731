import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { parseDocument } from 'yaml';
import { KctlError } from '../../proto/errors.js';
import { PlanView, type PlanOperation } from '../../proto/plan-api.js';
import { outputFormat, type CliContext } from './context.js';
import { loadClusterFile } from './cluster-file.js';
import { renderPlan } from './plan-cmd.js';
import { streamApply } from './apply-cmd.js';

/** The operator types `expected` (or passes --yes) before a destructive plan runs. */
async function confirmed(expected: string, prompt: string, yes: boolean | undefined): Promise<string> {
  if (yes) return expected;
  if (!process.stdin.isTTY)
    throw new KctlError('invalid_args', 'this needs --yes when not run at a terminal');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = (await rl.question(`${prompt} Type "${expected}" to go on: `)).trim();
  rl.close();
  if (answer !== expected)
    throw new KctlError('invalid_args', `confirmation "${answer}" is not "${expected}"; nothing done`);
  return answer;
}

/**
 * A lifecycle operation as a plan: shown first, confirmed, then run by the same journaled engine as
 * every apply (`kctl status` shows it; running the same command again resumes it after a failure).
 */
export async function runOperation(
  ctx: CliContext,
  self: Command,
  opts: { file: string; yes?: boolean; output?: string },
  operation: PlanOperation,
  confirmWith: (clusterName: string) => { expected: string; prompt: string },
): Promise<void> {
  const loaded = await loadClusterFile(opts.file);
  const client = await ctx.client(self);
  const body = {
    spec: loaded.spec as unknown as Record<string, unknown>,
    ...(loaded.cniManifest !== undefined ? { cniManifest: loaded.cniManifest } : {}),
    operation,
  };
  const view = await client.post('/v1/admin/plan', body, PlanView, 600_000);
  const format = outputFormat(opts.output === 'text' ? undefined : opts.output);
  if (format !== 'json') ctx.out(renderPlan(view));
  const { expected, prompt } = confirmWith(view.cluster);
  // an empty plan may still resume an unfinished run of the same operation, confirmed when it began
  const confirm = view.empty ? expected : await confirmed(expected, prompt, opts.yes);
  if (!(await streamApply(ctx, client, { ...body, confirm }, format))) ctx.exitCode = 1;
}

export function nodeCommand(ctx: CliContext): Command {
  const cmd = new Command('node').description('node lifecycle');
  cmd
    .command('remove')
    .description(
      'drain a node, kubeadm reset it (etcd member too), clean CNI/iptables/ipvs state, delete the Node; shows the plan and asks first',
    )
    .argument('<name>')
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec the node belongs to')
    .option('--yes', 'do not ask (for scripts)')
    .option('-o, --output <format>', 'text (default) or json (one event per line)')
    .action(async (name: string, opts: { file: string; yes?: boolean; output?: string }, self: Command) => {
      await runOperation(ctx, self, opts, { kind: 'remove-node', node: name }, () => ({
        expected: name,
        prompt: `This removes node "${name}" from the cluster.`,
      }));
    });
  return cmd;
}

export function resetCommand(ctx: CliContext): Command {
  return new Command('reset')
    .description('tear down the whole cluster: kubeadm reset on every host; shows the plan and asks first')
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--yes', 'do not ask (for scripts)')
    .option('-o, --output <format>', 'text (default) or json (one event per line)')
    .action(async (opts: { file: string; yes?: boolean; output?: string }, self: Command) => {
      await runOperation(ctx, self, opts, { kind: 'reset' }, (cluster) => ({
        expected: cluster,
        prompt: `This resets every host of cluster "${cluster}".`,
      }));
    });
}

/** cluster.yaml with another kubernetesVersion, its comments and layout kept. */
export function withKubernetesVersion(text: string, version: string): string {
  const doc = parseDocument(text);
  doc.set('kubernetesVersion', version);
  return doc.toString();
}

export function upgradeCommand(ctx: CliContext): Command {
  return new Command('upgrade')
    .description(
      'set kubernetesVersion in cluster.yaml and apply it: a shortcut for editing the file and running kctl apply',
    )
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec; its kubernetesVersion is rewritten')
    .requiredOption('--to <vX.Y.Z>', 'the target version')
    .option('-o, --output <format>', 'text (default) or json (one event per line)')
    .action(async (opts: { file: string; to: string; output?: string }, self: Command) => {
      if (!/^v\d+\.\d+\.\d+$/.test(opts.to))
        throw new KctlError('invalid_args', `--to: "${opts.to}" is not a version like v1.32.1`);
      const { spec, cniManifest } = await loadClusterFile(opts.file);
      const body = {
        spec: { ...spec, kubernetesVersion: opts.to } as unknown as Record<string, unknown>,
        ...(cniManifest !== undefined ? { cniManifest } : {}),
      };
      const client = await ctx.client(self);
      // the plan refuses skew and downgrades before the file changes
      const view = await client.post('/v1/admin/plan', body, PlanView, 600_000);
      const format = outputFormat(opts.output === 'text' ? undefined : opts.output);
      if (format !== 'json') ctx.out(renderPlan(view));
      if (spec.kubernetesVersion !== opts.to) {
        await writeFile(opts.file, withKubernetesVersion(await readFile(opts.file, 'utf8'), opts.to));
        ctx.err(`${opts.file}: kubernetesVersion ${spec.kubernetesVersion} -> ${opts.to}\n`);
      }
      if (!(await streamApply(ctx, client, body, format))) ctx.exitCode = 1;
    });
}
