import { Command } from 'commander';
import { AuditList } from '../../proto/admin-api.js';
import { outputFormat, type CliContext } from './context.js';
import { renderTable } from '../../proto/text-table.js';

const DETAILS_WIDTH = 100;

/** `kctl audit`: who did what, newest first, from the controller's audit table. */
export function auditCommand(ctx: CliContext): Command {
  return new Command('audit')
    .description(
      'who did what on the controller (applies, tokens, revocations, kubeconfigs, logins), newest first',
    )
    .option('--limit <n>', 'how many entries', '100')
    .option('--action <prefix>', 'only actions starting with this, e.g. apply or kubeconfig')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { limit: string; action?: string; output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const limit = encodeURIComponent(opts.limit);
      const { entries } = await (await ctx.client(self)).get(`/v1/admin/audit?limit=${limit}`, AuditList);
      const shown = opts.action ? entries.filter((e) => e.action.startsWith(opts.action ?? '')) : entries;
      if (format === 'json') return ctx.out(JSON.stringify(shown, null, 2) + '\n');
      const details = (d: Record<string, unknown> | null): string => {
        if (d === null) return '-';
        const text = JSON.stringify(d);
        return text.length > DETAILS_WIDTH ? `${text.slice(0, DETAILS_WIDTH - 1)}…` : text;
      };
      ctx.out(
        renderTable(
          ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'],
          shown.map((e) => [
            new Date(e.at).toISOString(),
            e.actor,
            e.action,
            e.target ?? '-',
            details(e.details),
          ]),
        ),
      );
    });
}
