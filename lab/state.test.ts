import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labStatePath, readLabState, writeLabState, type LabState } from './state.js';

describe('lab.json', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-lab-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const state = (): LabState => ({
    version: 1,
    dir,
    dirCreated: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    baseRootfs: '/var/cache/kctl/lab/base-0123',
    bridge: { name: 'kctl-lab0', address: '198.18.0.1', prefixLength: 24 },
    hosts: [
      {
        index: 1,
        name: 'lab-1',
        address: '198.18.0.11',
        netns: 'kctl-lab-1',
        vethHost: 'kl1',
        root: `${dir}/hosts/lab-1/merged`,
        storage: 'overlay',
        hostDir: `${dir}/hosts/lab-1`,
        machineId: '0123456789abcdef0123456789abcdef',
        logFile: `${dir}/hosts/lab-1/console.log`,
        nspawn: { pid: 42, startTime: '1000' },
      },
    ],
  });

  it('what is written is read back, root-only', async () => {
    await writeLabState(state());
    expect(await readLabState(dir)).toEqual(state());
    expect((await stat(labStatePath(dir))).mode & 0o777).toBe(0o600);
  });

  it('no lab.json means no lab', async () => {
    expect(await readLabState(dir)).toBeUndefined();
  });

  it.each([
    ['not JSON', '{', /is not JSON/],
    ['JSON of the wrong shape', '{"version":2}', /version/],
  ])('a lab.json that is %s is refused with its path', async (_name, text, message) => {
    await writeFile(labStatePath(dir), text);
    await expect(readLabState(dir)).rejects.toThrow(message);
  });
});
