import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { runKctl } from './program.js';

function captureContext(): CliContext & { stdout: string; stderr: string } {
  const ctx = {
    exitCode: 0,
    stdout: '',
    stderr: '',
    out: (t: string) => void (ctx.stdout += t),
    err: (t: string) => void (ctx.stderr += t),
    client: () => Promise.reject(new Error('images list needs no controller')),
  };
  return ctx;
}

let dir = '';
let file = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kctl-images-cli-'));
  file = join(dir, 'cluster.yaml');
  const text = (await readFile('test/fixtures/cluster/full.yaml', 'utf8'))
    .replace('imageRepository: registry.k8s.io\n', 'imageRepository: registry.example:5000/k8s\n')
    .replace(/ {2}manifest: calico.yaml.*\n/, '')
    .replace(/ {2}version: v3.28.2\n/, '');
  await writeFile(file, text);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function kctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const ctx = captureContext();
  const code = await runKctl(args, ctx);
  return { code, stdout: ctx.stdout, stderr: ctx.stderr };
}

describe('kctl images list', () => {
  it("prints each role's images from cluster.yaml, all under its imageRepository", async () => {
    const r = await kctl(['images', 'list', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ROLE\s+NAME\s+IMAGE\s+FROM\s+MIRRORS$/);
    expect(lines).toHaveLength(1 + 11 + 6);
    expect(r.stdout).toMatch(
      /control-plane\s+kube-vip\s+registry\.example:5000\/k8s\/kube-vip\/kube-vip:v1\.2\.3\s+kctl/,
    );
    expect(r.stdout).toMatch(/worker\s+calico-node\s+registry\.example:5000\/k8s\/calico\/node:v3\.28\.2/);
    for (const l of lines.slice(1)) expect(l).toContain(' registry.example:5000/k8s/');
  });

  it('prints one role as JSON', async () => {
    const r = await kctl(['images', 'list', '-f', file, '--role', 'worker', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      kubernetesVersion: string;
      roles: Array<{ role: string; images: Array<{ name: string; image: string }> }>;
    };
    expect(out.kubernetesVersion).toBe('v1.31.2');
    expect(out.roles.map((x) => x.role)).toEqual(['worker']);
    expect(out.roles[0]?.images.map((i) => i.name)).toEqual([
      'kube-proxy',
      'pause',
      'coredns',
      'calico-cni',
      'calico-node',
      'calico-kube-controllers',
    ]);
  });

  it('lists a default cluster of a version without cluster.yaml', async () => {
    const r = await kctl(['images', 'list', '--kubernetes-version', 'v1.35.0', '--role', 'control-plane']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('registry.k8s.io/etcd:3.6.5-0');
    expect(r.stdout).toContain('registry.k8s.io/coredns/coredns:v1.13.1');
    expect(r.stdout).not.toContain('kube-vip');
  });

  it.each([
    [['images', 'list', '-f', 'x.yaml', '--role', 'etcd'], /--role: "etcd" must be control-plane or worker/],
    [['images', 'list'], /give -f cluster.yaml or --kubernetes-version/],
    [['images', 'list', '--kubernetes-version', 'v1.28.0'], /kubernetesVersion: no image list .*v1\.28\.0/],
    [['images', 'list', '--kubernetes-version', '1.31'], /--kubernetes-version: must be a full version/],
  ])('refuses %j', async (args, message) => {
    const r = await kctl(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });
});
