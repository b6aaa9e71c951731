import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKctl } from '../program.js';
import type { CliContext } from '../context.js';
import { renderPlan } from '../plan-cmd.js';
import { writeManifest } from '../../bundle/manifest.js';

function captureContext(): CliContext & { stdout: string; stderr: string } {
  const ctx = {
    exitCode: 0,
    stdout: '',
    stderr: '',
    out: (t: string) => void (ctx.stdout += t),
    err: (t: string) => void (ctx.stderr += t),
    client: () => Promise.reject(new Error('no client in this test')),
  };
  return ctx;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('kctl bundle', () => {
  it('verify says how many files match, and exits 1 naming each problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-bundle-cli-'));
    dirs.push(dir);
    await mkdir(join(dir, 'apt'));
    await writeFile(join(dir, 'apt/Packages'), 'x');
    await writeManifest(dir);
    const ok = captureContext();
    expect(await runKctl(['bundle', 'verify', dir], ok)).toBe(0);
    expect(ok.stdout).toBe(`bundle ${dir}: 1 file(s) match manifest.json\n`);
    await writeFile(join(dir, 'apt/Packages'), 'y');
    const bad = captureContext();
    expect(await runKctl(['bundle', 'verify', dir], bad)).toBe(1);
    expect(bad.stderr).toMatch(/apt\/Packages: sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}/);
    expect(bad.stderr).toMatch(/1 problem\(s\) in 1 file\(s\)/);
  });

  it('build refuses a non-empty directory that is not a bundle before fetching anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-bundle-cli-'));
    dirs.push(dir);
    await writeFile(join(dir, 'unrelated.txt'), 'keep me');
    const ctx = captureContext();
    expect(await runKctl(['bundle', 'build', '--out', dir, '--package', 'hello'], ctx)).toBe(1);
    expect(ctx.stderr).toMatch(/is not empty and holds no manifest\.json/);
  });

  it('plans show bundle files to fetch and to remove', () => {
    const text = renderPlan({
      cluster: 'c',
      planHash: 'sha256:x',
      warnings: [],
      empty: false,
      phases: [
        {
          id: 'prepare',
          title: 'Prepare hosts',
          tasks: [
            {
              taskId: 't',
              host: 'w-1',
              title: 'converge host',
              pending: true,
              detail: '',
              changes: [
                {
                  kind: 'bundle-file',
                  path: '/var/lib/kctl/bundle/apt/pool/runc_1.1.5_amd64.deb',
                  action: 'download',
                  sha256: 'ab'.repeat(32),
                  size: 2_000_000,
                  reason: 'missing',
                },
                {
                  kind: 'bundle-file',
                  path: '/var/lib/kctl/bundle/apt/pool/old.deb',
                  action: 'remove',
                  sha256: null,
                  size: null,
                  reason: 'not in the manifest',
                },
              ],
            },
          ],
        },
      ],
    });
    expect(text).toContain(
      '+ bundle file /var/lib/kctl/bundle/apt/pool/runc_1.1.5_amd64.deb (2000000 bytes, sha256 abababababab…)',
    );
    expect(text).toContain('- bundle file /var/lib/kctl/bundle/apt/pool/old.deb (not in the manifest)');
  });
});
