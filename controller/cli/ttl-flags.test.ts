import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { KctlError } from '../../proto/errors.js';
import { DEFAULT_TOKEN_TTL_MS } from '../tokens.js';
import type { ApiClient } from './api-client.js';
import type { CliContext } from './context.js';
import { tokenCommand } from './token-cmd.js';
import { cloudInitCommand } from './cloud-init-cmd.js';

/** A context whose API client records the posted bodies; `reachable: false` makes any use of it a failure. */
function recordingContext(reachable: boolean): {
  ctx: CliContext;
  posts: Array<{ path: string; body: unknown }>;
} {
  const posts: Array<{ path: string; body: unknown }> = [];
  const client = {
    post: (path: string, body: unknown) => {
      posts.push({ path, body });
      return Promise.resolve({ token: 'abcdef.0123456789abcdef', id: 'abcdef' });
    },
  } as unknown as ApiClient;
  const ctx: CliContext = {
    exitCode: 0,
    out: () => undefined,
    err: () => undefined,
    client: () => (reachable ? Promise.resolve(client) : Promise.reject(new Error('the network was used'))),
  };
  return { ctx, posts };
}

async function run(cmd: Command, argv: string[]): Promise<unknown> {
  cmd.exitOverride();
  try {
    await cmd.parseAsync(argv, { from: 'user' });
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('--ttl on token create and cloud-init (parseTokenTtl)', () => {
  it.each([
    ['token create', (ctx: CliContext) => tokenCommand(ctx), ['create']],
    ['cloud-init', (ctx: CliContext) => cloudInitCommand(ctx), ['--role', 'worker']],
  ])('%s refuses a bad TTL naming the flag, before contacting the controller', async (_name, build, argv) => {
    for (const [ttl, message] of [
      ['forever', /^--ttl: "forever" is not a duration/],
      ['25h', /^--ttl: "25h" is longer than the maximum token lifetime of 24h/],
      ['0s', /^--ttl: "0s" must be longer than zero/],
      ['', /^--ttl: "" is not a duration/],
    ] as const) {
      const { ctx } = recordingContext(false);
      const err = await run(build(ctx), [...argv, '--ttl', ttl]);
      expect(err, ttl).toBeInstanceOf(KctlError);
      expect((err as KctlError).code).toBe('invalid_args');
      expect((err as KctlError).message).toMatch(message);
    }
  });

  it.each([
    [undefined, DEFAULT_TOKEN_TTL_MS],
    ['24h', 24 * 3600_000],
    ['1h30m', 90 * 60_000],
  ])('token create --ttl %s posts ttlMs %i', async (ttl, ms) => {
    const { ctx, posts } = recordingContext(true);
    const err = await run(tokenCommand(ctx), ['create', ...(ttl ? ['--ttl', ttl] : [])]);
    expect(err).toBeUndefined();
    expect(posts).toEqual([{ path: '/v1/admin/tokens', body: expect.objectContaining({ ttlMs: ms }) }]);
  });
});
