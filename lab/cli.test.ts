import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labCommand } from './cli.js';

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const cmd = labCommand({ out: (t) => out.push(t), err: (t) => err.push(t) }).exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
  let error: unknown;
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { out: out.join(''), err: err.join(''), error };
}

describe('kctl lab', () => {
  it.each([
    ['a count that is not a number', ['up', 'five'], /N must be a positive integer, not "five"/],
    ['a count of zero', ['up', '0'], /N must be a positive integer/],
    ['an unknown storage kind', ['up', '2', '--storage', 'zfs'], /--storage: "zfs" must be overlay or copy/],
  ])('up refuses %s before touching anything', async (_name, args, message) => {
    const { error } = await run(args);
    expect(String(error)).toMatch(message);
  });

  it('status of a directory without a lab says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-lab-cli-'));
    try {
      expect((await run(['status', '--dir', dir])).out).toBe(`no lab in ${dir}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has up, down and status', () => {
    expect(labCommand().commands.map((c) => c.name())).toEqual(['up', 'down', 'status']);
  });
});
