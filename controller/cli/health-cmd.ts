import { Command } from 'commander';
import { HealthResponse, type HealthSeverity } from '../../proto/health.js';
import { hostSelection } from './cluster-file.js';
import { outputFormat, type CliContext } from './context.js';
import { renderTable } from '../../proto/text-table.js';

/** `kctl health` exits by the worst severity: 0 ok, 1 warning, 2 critical (an unreachable host is critical). */
export const HEALTH_EXIT_CODES: Record<HealthSeverity, number> = { ok: 0, warning: 1, critical: 2 };

/** Text report: one table per host, worst hosts first and each host's findings worst first; ok rows only counted. */
export function renderHealthReport(report: HealthResponse): string {
  let out = `${report.hosts.length} host(s) checked, worst: ${report.worst}\n`;
  for (const h of report.hosts) {
    const ok = h.results.filter((r) => r.severity === 'ok').length;
    out += `\n== ${h.host}: ${h.worst} (${ok} of ${h.results.length} checks ok)\n`;
    if (h.error)
      out += `error: ${h.error.message}${h.error.code === 'host_offline' ? ' (start the agent on the host)' : ''}\n`;
    const rows = h.results
      .filter((r) => r.severity !== 'ok')
      .map((r) => [r.severity, r.id, r.observed, r.remedy]);
    if (rows.length > 0) out += renderTable(['SEVERITY', 'CHECK', 'OBSERVED', 'REMEDY'], rows);
  }
  return out;
}

export function healthCommand(ctx: CliContext): Command {
  return new Command('health')
    .description(
      'health of running nodes: services, node Ready, certificates, disk, swap, clock, drift (exit 0 ok, 1 warning, 2 critical)',
    )
    .option(
      '--hosts <a,b,...>',
      "only these hosts (default: the cluster's hosts with -f, else all enrolled hosts)",
    )
    .option(
      '-f, --file <cluster.yaml>',
      'the cluster spec: drift is judged against it and its control planes list the nodes',
    )
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { hosts?: string; file?: string; output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const client = await ctx.client(self);
      const report = await client.post('/v1/admin/health', await hostSelection(opts), HealthResponse);
      ctx.out(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderHealthReport(report));
      ctx.exitCode = HEALTH_EXIT_CODES[report.worst];
    });
}
