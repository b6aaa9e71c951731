import { Command } from 'commander';
import { ApplyStatusView } from '../../proto/plan-api.js';
import { outputFormat, type CliContext } from './context.js';
import { progressBar } from './progress.js';
import { formatAge } from '../../proto/text-table.js';

export function renderStatus(view: ApplyStatusView): string {
  if (view.applies.length === 0) return 'no applies yet\n';
  const a = view.applies[0]!;
  const lines = [
    `cluster ${a.cluster}: apply ${a.id} ${a.status}, started ${formatAge(a.startedAt)}${a.error ? `: ${a.error.message}` : ''}`,
  ];
  for (const p of a.phases) {
    const running = p.running.length > 0 ? `  running: ${p.running.join(', ')}` : '';
    lines.push(
      `  ${p.title.padEnd(36).slice(0, 36)} ${progressBar(p.done, p.total)} ${p.done}/${p.total}${p.failed > 0 ? ` ${p.failed} failed` : ''}${running}`,
    );
    for (const f of p.failures) lines.push(`    FAILED ${f.host}: ${f.message}`);
  }
  return lines.join('\n') + '\n';
}

export function statusCommand(ctx: CliContext): Command {
  return new Command('status')
    .description('where the latest apply stands: per-phase progress, running hosts, failures')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { output?: string }, self: Command) => {
      const view = await (await ctx.client(self)).get('/v1/admin/applies?limit=5', ApplyStatusView);
      ctx.out(
        outputFormat(opts.output) === 'json' ? JSON.stringify(view, null, 2) + '\n' : renderStatus(view),
      );
    });
}
