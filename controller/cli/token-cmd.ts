import { Command } from 'commander';
import { OkResponse, TokenCreateResponse, TokenList } from '../../proto/admin-api.js';
import { KctlError } from '../../proto/errors.js';
import { parseTokenTtl } from '../tokens.js';
import { outputFormat, type CliContext } from './context.js';
import { formatAge, renderTable } from '../../proto/text-table.js';

export function parseLabels(value: string | undefined, flag = '--labels'): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!value) return labels;
  for (const pair of value.split(',')) {
    const [k, v, ...rest] = pair.split('=');
    if (!k || v === undefined || rest.length > 0) {
      throw new KctlError('invalid_args', `${flag}: "${pair}" is not key=value`);
    }
    labels[k.trim()] = v.trim();
  }
  return labels;
}

export function tokenCommand(ctx: CliContext): Command {
  const cmd = new Command('token').description('bootstrap tokens for enrolling hosts');

  cmd
    .command('create')
    .description('create a token and print it (the secret is shown only once)')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 1h, 24h (max 24h)')
    .option('--uses <n>', 'how many hosts may enroll with it', '1')
    .option('--labels <k=v,...>', 'labels given to hosts that enroll with it')
    .option('--description <text>', 'free text shown in token list', '')
    .action(
      async (opts: { ttl?: string; uses: string; labels?: string; description: string }, self: Command) => {
        const ttlMs = parseTokenTtl(opts.ttl, '--ttl');
        const uses = Number(opts.uses);
        if (!Number.isInteger(uses) || uses < 1)
          throw new KctlError('invalid_args', `--uses: "${opts.uses}" is not a positive integer`);
        const client = await ctx.client(self);
        const r = await client.post(
          '/v1/admin/tokens',
          { ttlMs, uses, labels: parseLabels(opts.labels), description: opts.description },
          TokenCreateResponse,
        );
        ctx.out(`${r.token}\n`);
      },
    );

  cmd
    .command('list')
    .description('list tokens (ids only; secrets are never shown again)')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { output?: string }, self: Command) => {
      const format = outputFormat(opts.output);
      const { tokens } = await (await ctx.client(self)).get('/v1/admin/tokens', TokenList);
      if (format === 'json') return ctx.out(JSON.stringify(tokens, null, 2) + '\n');
      const now = Date.now();
      ctx.out(
        renderTable(
          ['ID', 'EXPIRES', 'USES LEFT', 'LABELS', 'DESCRIPTION'],
          tokens.map((t) => [
            t.id,
            now >= t.expiresAt
              ? `expired ${formatAge(t.expiresAt, now)}`
              : `in ${Math.round((t.expiresAt - now) / 60000)}m`,
            `${t.usesLeft}/${t.usesTotal}`,
            Object.entries(t.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
            t.description,
          ]),
        ),
      );
    });

  cmd
    .command('delete')
    .description('delete a token by id')
    .argument('<id>')
    .action(async (id: string, _opts: unknown, self: Command) => {
      await (await ctx.client(self)).delete(`/v1/admin/tokens/${encodeURIComponent(id)}`, OkResponse);
      ctx.out(`token ${id} deleted\n`);
    });

  return cmd;
}
