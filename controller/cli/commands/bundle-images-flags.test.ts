import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlanView } from '../../../proto/plan-api.js';
import type { CliContext } from '../context.js';
import { renderPlan } from '../plan-cmd.js';
import { runKctl } from '../program.js';

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

describe('kctl bundle build image flags', () => {
  it.each([
    [['--image-archive', '/tmp/x.tar'], /--image-archive need --images/],
    [['--image-registry', 'mirror.lab'], /--image-registry need --images/],
    [['--images'], /--images needs -f cluster\.yaml/],
  ])('%j is refused before anything is built', async (flags, message) => {
    const out = await mkdtemp(join(tmpdir(), 'kctl-bundle-flags-'));
    dirs.push(out);
    const ctx = captureContext();
    expect(await runKctl(['bundle', 'build', '--out', out, ...flags], ctx)).not.toBe(0);
    expect(ctx.stderr).toMatch(message);
  });

  it('--images reads cluster.yaml and names its path when it is not valid', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kctl-bundle-flags-'));
    dirs.push(d);
    await writeFile(join(d, 'cluster.yaml'), 'kind: Cluster\n');
    const ctx = captureContext();
    expect(
      await runKctl(
        ['bundle', 'build', '--out', join(d, 'b'), '--images', '-f', join(d, 'cluster.yaml')],
        ctx,
      ),
    ).not.toBe(0);
    expect(ctx.stderr).toContain(join(d, 'cluster.yaml'));
  });
});

describe('kctl plan', () => {
  it('shows each image a host lacks, with its digest and the archive it comes from', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const view: PlanView = {
      cluster: 'lab',
      planHash: `sha256:${'b'.repeat(64)}`,
      warnings: [],
      empty: false,
      phases: [
        {
          id: 'prepare',
          title: 'Prepare hosts',
          tasks: [
            {
              taskId: 'prepare/w-1',
              host: 'w-1',
              title: 'converge host',
              pending: true,
              detail: '1 change(s)',
              changes: [
                {
                  kind: 'image',
                  ref: 'registry.lab:5000/k8s/pause:3.10',
                  digest,
                  from: null,
                  archive: '/var/lib/kctl/bundle/images/registry.lab_5000_k8s_pause_3.10.tar',
                  archiveSha256: 'c'.repeat(64),
                  reason: 'missing',
                },
              ],
            },
          ],
        },
      ],
    };
    expect(renderPlan(view)).toContain(
      `    + image registry.lab:5000/k8s/pause:3.10 (${digest}; missing) from bundle /var/lib/kctl/bundle/images/registry.lab_5000_k8s_pause_3.10.tar`,
    );
  });
});
