import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KctlError } from '../proto/errors.js';
import { initDataDir } from './data-dir.js';

describe('controller init keeps the CA precious', () => {
  let dir: string;
  const init = (): ReturnType<typeof initDataDir> => initDataDir({ dir, listen: '127.0.0.1:7443', sans: [] });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-datadir-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates everything in an empty directory, and changes nothing on a second run', async () => {
    const first = await init();
    expect(first.created).toBe(true);
    const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
    const second = await init();
    expect(second).toMatchObject({ created: false, caPin: first.caPin });
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(ca);
  });

  it.each(['ca.crt', 'server.crt', 'controller.json', 'kctl.yaml', 'state.db'])(
    'refuses to make a new CA when ca.key is missing but %s is there, and writes nothing',
    async (file) => {
      await init();
      await writeFile(join(dir, 'state.db'), 'SQLite format 3\0'); // as after a controller run
      const kept = await readFile(join(dir, file));
      await rm(join(dir, 'ca.key'));
      for (const other of await readdir(dir))
        if (other !== file) await rm(join(dir, other), { recursive: true });
      const err = await init().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KctlError);
      const e = err as KctlError;
      expect(e.code).toBe('invalid_config');
      expect(e.message).toContain(`"${join(dir, 'ca.key')}" is missing`);
      expect(e.message).toContain(`"${join(dir, file)}"`);
      expect(String(e.details?.remedy)).toMatch(/restore ca\.key .* from a backup/);
      expect(await readdir(dir)).toEqual([file]);
      expect(await readFile(join(dir, file))).toEqual(kept);
    },
  );
});
