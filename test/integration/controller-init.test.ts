import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, kctl, tempDir } from './harness.js';

/** `kctl controller init` over a data dir that lost ca.key: refused, named, and nothing rewritten. */
describe('kctl controller init with ca.key missing and ca.crt present', () => {
  let dir: string;

  beforeAll(async () => {
    dir = join(await tempDir('init-refusal'), 'data');
  });
  afterAll(async () => {
    await cleanup([join(dir, '..')]);
  });

  it('refuses, naming the missing key, the file found and the recovery; ca.crt is unchanged', async () => {
    const made = await kctl(['controller', 'init', '--data-dir', dir]);
    expect(made.code).toBe(0);
    const pin = /CA pin:\s+(sha256:[0-9a-f]{64})/.exec(made.stdout)?.[1];
    const caCrt = await readFile(join(dir, 'ca.crt'), 'utf8');
    await rm(join(dir, 'ca.key'));
    const before = (await readdir(dir)).sort();

    const again = await kctl(['controller', 'init', '--data-dir', dir]);
    expect(again.code).not.toBe(0);
    expect(again.stdout).not.toContain('CA pin:');
    expect(again.stderr).toContain(`"${join(dir, 'ca.key')}" is missing`);
    expect(again.stderr).toContain(`"${join(dir, 'ca.crt')}"`);
    expect(again.stderr).toMatch(/remedy: restore ca\.key .*from a backup/);
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(caCrt);
    expect((await readdir(dir)).sort()).toEqual(before);
    expect(pin).toBeDefined();
  }, 120_000);
});
