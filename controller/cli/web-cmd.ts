import { Command } from 'commander';
import { z } from 'zod';
import type { CliContext } from './context.js';

const Created = z.strictObject({
  id: z.string(),
  token: z.string(),
  readOnly: z.boolean(),
  expiresAt: z.number().nullable(),
});

/** `kctl web token create`: a login for the fleet page (read-only or admin), shown once. */
export function webCommand(ctx: CliContext): Command {
  const web = new Command('web').description('the fleet health page');
  const token = web.command('token').description('fleet page login tokens');
  token
    .command('create')
    .description('create a login token for the fleet page (printed once)')
    .option('--read-only', 'a token that can look but never act')
    .option('--ttl <duration>', 'lifetime, e.g. 12h (default: no expiry)')
    .option('--description <text>', 'shown in the audit log', '')
    .action(async (opts: { readOnly?: boolean; ttl?: string; description: string }, self: Command) => {
      const r = await (
        await ctx.client(self)
      ).post(
        '/v1/admin/web-tokens',
        {
          readOnly: opts.readOnly === true,
          description: opts.description,
          ...(opts.ttl ? { ttl: opts.ttl } : {}),
        },
        Created,
      );
      ctx.out(`${r.token}\n`);
    });
  return web;
}
