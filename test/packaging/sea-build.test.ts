import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSea, type SeaBuildResult } from '../../packaging/sea/build.js';
import { tempDir } from './system-tools.js';

let work: { dir: string; remove: () => Promise<void> };
beforeAll(async () => {
  work = await tempDir('kctl-sea-build-');
});
afterAll(async () => {
  await work.remove();
});

describe('the single-executable build itself (with a small test entry)', () => {
  let tiny: SeaBuildResult;
  beforeAll(async () => {
    tiny = await buildSea({
      outDir: join(work.dir, 'tiny'),
      name: 'sea-entry',
      entry: resolve(import.meta.dirname, 'fixtures/sea-entry.ts'),
    });
  }, 120_000);

  it('bundles npm dependencies and runs with an empty environment', async () => {
    const file = join(work.dir, 'data.yaml');
    await writeFile(file, 'a: [1, 2]\n');
    const r = await execa(tiny.path, ['parse', file], { extendEnv: false, env: {} });
    expect(r.stdout).toBe('{"a":[1,2]}');
  });

  it('maps import.meta.url to the executable itself', async () => {
    const r = await execa(tiny.path, ['where'], { extendEnv: false, env: {} });
    expect(r.stdout).toBe(pathToFileURL(tiny.path).href);
  });

  it('keeps the exit code and stderr of the program', async () => {
    const r = await execa(tiny.path, [], { reject: false, extendEnv: false, env: {} });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe('usage: sea-entry where | parse FILE');
  });

  it('is a stripped Node binary with the program inside, smaller than the node it came from', async () => {
    const { size } = await stat(process.execPath);
    expect(tiny.bytes).toBeLessThan(size);
    expect(tiny.bytes).toBeGreaterThan(50 * 1024 * 1024);
  });
});
