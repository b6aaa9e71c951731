import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { PlanView } from '../../proto/plan-api.js';
import type { Change } from '../../proto/results.js';
import type { CliContext } from './context.js';
import { loadClusterFile, type SavedPlan } from './cluster-file.js';
import { phaseHelp } from '../plan/phases/index.js';

function describe(c: Change): string[] {
  switch (c.kind) {
    case 'file':
      return [
        `${c.previousSha256 === null ? '+' : '~'} file ${c.path} (mode ${c.mode.toString(8)})`,
        ...c.diff
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('Index:') && !l.startsWith('===='))
          .map((l) => `    ${l}`),
      ];
    case 'sysctl':
      return [`~ sysctl ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}`];
    case 'module':
      return [
        c.action === 'load'
          ? `+ load module ${c.name}`
          : `! module ${c.name} is missing from this kernel (needed by ${c.requiredFor})`,
      ];
    case 'swapoff':
      return [`- swap on ${c.device}`];
    case 'fstab-comment':
      return [`~ /etc/fstab: disable "${c.line}"`];
    case 'unit-mask':
      return [`~ mask ${c.unit}`];
    case 'service':
      return [`~ ${c.action} ${c.unit}`];
    case 'package':
      return [`~ package ${c.name}: ${c.from ?? '(absent)'} -> ${c.to}`];
    case 'package-hold':
      return [`~ hold package ${c.name}`];
    case 'service-restart':
      return [`~ restart ${c.unit} (${c.reason})`];
    case 'package-index':
      return [`~ refresh the package index (${c.reason})`];
    case 'bundle-file':
      return c.action === 'download'
        ? [
            `${c.reason === 'missing' ? '+' : '~'} bundle file ${c.path} (${c.size ?? 0} bytes, sha256 ${c.sha256?.slice(0, 12) ?? ''}…)`,
          ]
        : [`- bundle file ${c.path} (${c.reason})`];
    case 'trust-store':
      return [`~ run ${c.program} (${c.reason})`];
    case 'image':
      return [
        `${c.from === null ? '+' : '~'} image ${c.ref} (${c.digest}; ${c.reason}) from bundle ${c.archive}`,
      ];
  }
}

export function renderPlan(view: PlanView): string {
  const lines: string[] = [];
  for (const w of view.warnings) lines.push(`warning: ${w.path}: ${w.message}`);
  for (const phase of view.phases) {
    const pending = phase.tasks.filter((t) => t.pending);
    if (pending.length === 0) continue;
    lines.push(`== ${phase.title}`);
    for (const t of pending) {
      lines.push(`  ${t.host}: ${t.title}${t.detail && t.detail !== t.title ? ` — ${t.detail}` : ''}`);
      for (const c of t.changes) for (const l of describe(c)) lines.push(`    ${l}`);
    }
  }
  lines.push(
    view.empty
      ? `cluster ${view.cluster}: no changes.`
      : `cluster ${view.cluster}: plan ${view.planHash.slice(0, 19)}…`,
  );
  return lines.join('\n') + '\n';
}

export function planCommand(ctx: CliContext): Command {
  return new Command('plan')
    .description('show what apply would change on each host, phase by phase; touches nothing')
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--phases <a,b,...>', 'only these phases (see below)')
    .addHelpText('after', `\nPhases, in the order an apply runs them:\n${phaseHelp('apply')}\n`)
    .option('-o, --output <json|FILE.json>', 'print JSON, or save the plan to a file for `kctl apply FILE`')
    .action(async (opts: { file: string; output?: string; phases?: string }, self: Command) => {
      const loaded = await loadClusterFile(opts.file);
      const client = await ctx.client(self);
      const body = {
        spec: loaded.spec as unknown as Record<string, unknown>,
        ...(loaded.cniManifest !== undefined ? { cniManifest: loaded.cniManifest } : {}),
        ...(opts.phases !== undefined ? { phases: opts.phases.split(',').map((p) => p.trim()) } : {}),
      };
      const view = await client.post('/v1/admin/plan', body, PlanView, 600_000);
      if (opts.output === 'json') return ctx.out(JSON.stringify(view, null, 2) + '\n');
      ctx.out(renderPlan(view));
      if (opts.output !== undefined) {
        const saved: SavedPlan = { kind: 'kctl-plan', planHash: view.planHash, ...body };
        await writeFile(opts.output, JSON.stringify(saved, null, 2) + '\n', { mode: 0o600 });
        ctx.out(`plan saved to ${opts.output}; apply it with: kctl apply ${opts.output}\n`);
      }
    });
}
