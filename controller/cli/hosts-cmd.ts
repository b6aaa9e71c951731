import { Command } from 'commander';
import { HostList, OkResponse, type HostView } from '../../proto/admin-api.js';
import { outputFormat, type CliContext } from './context.js';
import { formatAge, renderTable } from '../../proto/text-table.js';
import { inactiveServices, kubeVersionOf } from '../fleet-facts.js';

export function hostsCommand(ctx: CliContext): Command {
  const cmd = new Command('hosts')
    .description('list enrolled hosts')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const { hosts } = await (await ctx.client(self)).get('/v1/admin/hosts', HostList);
      if (format === 'json') return ctx.out(JSON.stringify(hosts, null, 2) + '\n');
      const now = Date.now();
      ctx.out(
        renderTable(
          [
            'NAME',
            'STATUS',
            'LAST SEEN',
            'IP',
            'OS',
            'KERNEL',
            'AGENT',
            'KUBE',
            'SERVICES',
            'HEALTH',
            'APPLY',
          ],
          hosts.map((h) => [
            h.name,
            h.state === 'revoked' ? 'revoked' : h.online ? 'online' : 'offline',
            h.online ? 'now' : formatAge(h.lastSeenAt, now),
            h.ip ?? '-',
            h.os ?? '-',
            h.kernel ?? '-',
            h.agentVersion ?? '-',
            kubeVersionOf(h.facts) ?? '-',
            servicesColumn(inactiveServices(h.facts)),
            healthColumn(h.health),
            applyColumn(h.lastApply, now),
          ]),
        ),
      );
    });

  cmd
    .command('revoke')
    .description('refuse a host from now on and close its connection')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, self: Command) => {
      await (
        await ctx.client(self)
      ).post(`/v1/admin/hosts/${encodeURIComponent(name)}/revoke`, {}, OkResponse);
      ctx.out(`host ${name} revoked\n`);
    });

  cmd
    .command('delete')
    .description('forget a host (revokes it first); it may enroll again with a new token')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, self: Command) => {
      await (await ctx.client(self)).delete(`/v1/admin/hosts/${encodeURIComponent(name)}`, OkResponse);
      ctx.out(`host ${name} deleted\n`);
    });

  return cmd;
}

/** "active" when every unit the facts name is, else the ones that are not; "-" without unit states. */
function servicesColumn(inactive: string[] | null): string {
  if (inactive === null) return '-';
  return inactive.length === 0 ? 'active' : inactive.join(', ');
}

/** The last `kctl health` run: "ok", "1 critical, 2 warning", or why the host could not be asked. */
function healthColumn(h: HostView['health']): string {
  if (!h) return '-';
  if (h.error !== null) return 'not checked';
  if (h.worst === 'ok') return 'ok';
  return [h.criticals > 0 ? `${h.criticals} critical` : '', h.warnings > 0 ? `${h.warnings} warning` : '']
    .filter(Boolean)
    .join(', ');
}

/** The host's part in its last apply: "done, 5m ago", "failed: Join the workers, 2m ago". */
function applyColumn(a: HostView['lastApply'], now: number): string {
  if (!a) return '-';
  const age = formatAge(a.at, now);
  return a.state === 'done' ? `done, ${age}` : `${a.state}: ${a.step}, ${age}`;
}
