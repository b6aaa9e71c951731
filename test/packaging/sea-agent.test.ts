import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KCTL_VERSION } from '../../proto/version.js';
import { buildSea, type SeaBuildResult } from '../../packaging/sea/build.js';
import { sha256File } from '../../packaging/checksums.js';
import { tempDir } from './system-tools.js';

let work: { dir: string; remove: () => Promise<void> };
let sea: SeaBuildResult;

beforeAll(async () => {
  work = await tempDir('kctl-sea-test-');
  sea = await buildSea({ outDir: work.dir });
}, 120_000);
afterAll(async () => {
  await work.remove();
});

// the agent binary runs with an empty environment: no Node, no PATH, nothing from this machine
const runAgent = (args: string[]) =>
  execa(sea.path, args, { reject: false, extendEnv: false, env: {}, cwd: work.dir });

describe('single-file agent (Node SEA)', () => {
  it('is named kctl-agent-linux-x64 and has a matching .sha256', async () => {
    expect(sea.path).toBe(join(work.dir, 'kctl-agent-linux-x64'));
    expect(await sha256File(sea.path)).toBe(sea.sha256);
    expect(await readFile(`${sea.path}.sha256`, 'utf8')).toBe(`${sea.sha256}  kctl-agent-linux-x64\n`);
  });

  it('prints its version without any Node installation or SEA warning', async () => {
    const r = await runAgent(['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`kctl-agent ${KCTL_VERSION}`);
    expect(r.exitCode).toBe(0);
  });

  it.each([
    ['an invalid agent.yaml', 'controller: http://x\n', /invalid|must be an https/i],
    ['an agent.yaml without a CA pin', 'controller: https://198.18.0.1:7443\n', /caPin/],
  ])('rejects %s with a config error naming the file', async (_name, yaml, message) => {
    const file = join(work.dir, 'agent.yaml');
    await writeFile(file, yaml);
    const r = await runAgent(['--config', file]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(message);
  });

  it('reports a missing config file', async () => {
    const r = await runAgent(['--config', join(work.dir, 'missing.yaml')]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('missing.yaml');
  });
});
