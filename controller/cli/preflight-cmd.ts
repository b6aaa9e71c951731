import { Command } from 'commander';
import { PreflightResponse } from '../../proto/admin-api.js';
import { hostSelection } from './cluster-file.js';
import { outputFormat, type CliContext } from './context.js';
import { renderTable } from '../../proto/text-table.js';

/** Text report: failing and warning checks per host with remedies, then fleet findings. */
export function renderPreflightReport(report: PreflightResponse): string {
  const rows: string[][] = [];
  for (const h of report.hosts) {
    if (h.error) {
      rows.push([
        h.host,
        '-',
        'error',
        h.error.message,
        h.error.code === 'host_offline' ? 'start the agent on the host' : '',
      ]);
      continue;
    }
    for (const r of h.results ?? []) {
      if (r.status === 'fail' || r.status === 'warn')
        rows.push([h.host, r.id, r.status, r.observed, r.remedy]);
    }
  }
  let out = '';
  const members = report.hosts.filter((h) => (h.results ?? []).some((r) => r.id === 'ClusterMember'));
  const passed = report.hosts.filter((h) => !h.error && !(h.results ?? []).some((r) => r.status === 'fail'));
  out += `${report.hosts.length} host(s) checked, ${passed.length} without errors\n`;
  for (const h of members) {
    const r = (h.results ?? []).find((x) => x.id === 'ClusterMember');
    if (r?.status === 'skip') out += `${h.host}: ${r.observed}; install checks skipped (kctl health)\n`;
  }
  if (rows.length > 0) out += '\n' + renderTable(['HOST', 'CHECK', 'STATUS', 'OBSERVED', 'REMEDY'], rows);
  if (report.fleet.length > 0) {
    out +=
      '\nfleet:\n' +
      renderTable(
        ['CHECK', 'SEVERITY', 'HOSTS', 'MESSAGE', 'REMEDY'],
        report.fleet.map((f) => [f.id, f.severity, f.hosts.join(','), f.message, f.remedy]),
      );
  }
  return out;
}

export function preflightFailed(report: PreflightResponse): boolean {
  return (
    report.hosts.some((h) => h.error !== undefined || (h.results ?? []).some((r) => r.status === 'fail')) ||
    report.fleet.some((f) => f.severity === 'error')
  );
}

export function preflightCommand(ctx: CliContext): Command {
  return new Command('preflight')
    .description('run the preflight checks on hosts through their agents, plus fleet-wide checks')
    .option('--hosts <a,b,...>', 'only these hosts (default: all enrolled hosts)')
    .option('-f, --file <cluster.yaml>', 'judge hosts by the roles and versions in this cluster spec')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { hosts?: string; file?: string; output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const client = await ctx.client(self);
      const report = await client.post('/v1/admin/preflight', await hostSelection(opts), PreflightResponse);
      ctx.out(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderPreflightReport(report));
      if (preflightFailed(report)) ctx.exitCode = 1;
    });
}
