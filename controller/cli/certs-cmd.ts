import { Command } from 'commander';
import { CERT_CRITICAL_DAYS, CERT_WARNING_DAYS, CertsResponse } from '../../proto/certs.js';
import { hostSelection } from './cluster-file.js';
import { outputFormat, type CliContext } from './context.js';
import { runOperation } from './lifecycle-cmd.js';
import { renderTable } from '../../proto/text-table.js';

const DAY_MS = 86_400_000;

/** Exit code of `kctl certs check`: 2 when a certificate expires within 7 days (or a host could not be asked), 1 within 30. */
export function certsExitCode(report: CertsResponse, now: number): number {
  let worst = 0;
  for (const h of report.hosts) {
    if (h.error) worst = 2;
    for (const c of h.certificates) {
      if (c.notAfter === undefined) continue;
      const days = (Date.parse(c.notAfter) - now) / DAY_MS;
      if (days < CERT_CRITICAL_DAYS) worst = 2;
      else if (days < CERT_WARNING_DAYS) worst = Math.max(worst, 1);
    }
  }
  return worst;
}

function residual(notAfter: string | undefined, now: number): string {
  if (notAfter === undefined) return 'unreadable';
  const ms = Date.parse(notAfter) - now;
  if (ms <= 0) return 'expired';
  const days = Math.floor(ms / DAY_MS);
  if (days >= 365) return `${Math.floor(days / 365)}y`;
  if (days >= 1) return `${days}d`;
  return `${Math.max(1, Math.floor(ms / 3_600_000))}h`;
}

/** Like `kubeadm certs check-expiration`, for every host: soonest expiry first. */
export function renderCertsReport(report: CertsResponse, now: number): string {
  const rows: string[][] = [];
  const all = report.hosts.flatMap((h) => h.certificates.map((c) => ({ host: h.host, c })));
  all.sort(
    (a, b) =>
      Date.parse(a.c.notAfter ?? '1970-01-01') - Date.parse(b.c.notAfter ?? '1970-01-01') ||
      a.host.localeCompare(b.host) ||
      a.c.name.localeCompare(b.c.name),
  );
  for (const { host, c } of all) {
    const kind = c.kind === 'ca' && c.externallyManaged ? 'ca (external)' : c.kind;
    rows.push([host, c.name, c.notAfter ?? '-', residual(c.notAfter, now), kind]);
  }
  let out = rows.length > 0 ? renderTable(['HOST', 'CERTIFICATE', 'EXPIRES', 'RESIDUAL', 'KIND'], rows) : '';
  for (const h of report.hosts) if (h.error) out += `${h.host}: error: ${h.error.message}\n`;
  const empty = report.hosts.filter((h) => !h.error && h.certificates.length === 0).map((h) => h.host);
  if (empty.length > 0) out += `no kubeadm certificates on: ${empty.join(', ')}\n`;
  return out;
}

export function certsCommand(ctx: CliContext): Command {
  const cmd = new Command('certs').description('the cluster certificates kubeadm made: expiry and renewal');
  cmd
    .command('check')
    .description(
      `every host's certificates and when they expire, soonest first (exit 0; 1 when one expires within ${CERT_WARNING_DAYS} days; 2 within ${CERT_CRITICAL_DAYS} or a host could not be asked)`,
    )
    .option(
      '--hosts <a,b,...>',
      "only these hosts (default: the cluster's hosts with -f, else all enrolled hosts)",
    )
    .option('-f, --file <cluster.yaml>', 'the cluster spec whose hosts are checked')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { hosts?: string; file?: string; output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const client = await ctx.client(self);
      const report = await client.post('/v1/admin/certs', await hostSelection(opts), CertsResponse);
      const now = Date.now();
      ctx.out(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderCertsReport(report, now));
      ctx.exitCode = certsExitCode(report, now);
    });
  cmd
    .command('renew')
    .description(
      'kubeadm certs renew all on each control plane in turn, then its static pods restarted; a plan run by the engine (shown first, resumable)',
    )
    .requiredOption('-f, --file <cluster.yaml>', 'the cluster spec')
    .option('--yes', 'do not ask (for scripts)')
    .option(
      '--restart-wait <seconds>',
      "how long each static pod manifest stays out of the kubelet's sight (its fileCheckFrequency)",
      '20',
    )
    .option('-o, --output <format>', 'text (default) or json (one event per line)')
    .action(
      async (opts: { file: string; yes?: boolean; output?: string; restartWait: string }, self: Command) => {
        const restartWaitSeconds = Number(opts.restartWait);
        await runOperation(ctx, self, opts, { kind: 'renew-certs', restartWaitSeconds }, (cluster) => ({
          expected: cluster,
          prompt: `This renews the certificates of cluster "${cluster}" and restarts its control-plane pods one host at a time.`,
        }));
      },
    );
  return cmd;
}
