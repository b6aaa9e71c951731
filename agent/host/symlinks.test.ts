import { afterEach, describe, expect, it } from 'vitest';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { HostSpec } from '../../proto/host-spec.js';
import { tempHost, type TempHost } from '../../test/fixtures/temp-host.js';
import { hostOps } from '../ops/host-ops.js';
import { kubeadmResetOp } from '../ops/kubeadm-ops.js';
import type { OpContext } from '../ops/registry.js';

/*
 * Issue 12, finding 2: no operation of the Host layer reads, writes or removes through a symlink
 * it did not create. Every test puts canaries outside the root and checks they are untouched,
 * unread and unlisted.
 */

const CANARY = 'CANARY-outside-the-root';
let t: TempHost | undefined;
const outside: string[] = [];
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
  for (const dir of outside.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A directory outside the root holding canary files (and a subdirectory) under the given names. */
async function canaryDir(names: string[] = ['10-calico.conflist', 'a.yaml']): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kctl-canary-'));
  await chmod(dir, 0o755);
  outside.push(dir);
  for (const n of names) await writeFile(join(dir, n), CANARY);
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub/deep'), CANARY);
  return dir;
}

/** Every file below `dir` with its content: what the assertions compare before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile())
      out[join(e.parentPath, e.name).slice(dir.length)] = await readFile(join(e.parentPath, e.name), 'utf8');
  }
  return out;
}

const ctx = (host: TempHost['host']): OpContext => ({
  host,
  hostId: 'h',
  log: pino({ level: 'silent' }),
  signal: new AbortController().signal,
  progress: () => undefined,
});

describe('a symlinked directory inside the allow-list', () => {
  it('kubeadm.reset with /etc/cni/net.d a link to outside removes the link, never the files it points to', async () => {
    t = await tempHost();
    const elsewhere = await canaryDir();
    const before = await snapshot(elsewhere);
    await mkdir(join(t.root, 'etc/cni'), { recursive: true });
    await symlink(elsewhere, join(t.root, 'etc/cni/net.d'));

    const r = await kubeadmResetOp.run({}, ctx(t.host));

    expect(r.cleaned).toEqual(['/etc/cni/net.d']);
    expect(await snapshot(elsewhere)).toEqual(before);
    await expect(lstat(join(t.root, 'etc/cni/net.d'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('kubeadm.reset empties a real /etc/cni/net.d, removing links inside as links and never descending into them', async () => {
    const elsewhere = await canaryDir();
    t = await tempHost({ files: { '/etc/cni/net.d/10-calico.conflist': '{}', '/etc/cni/net.d/d/x': 'y' } });
    await symlink(elsewhere, join(t.root, 'etc/cni/net.d/linked-dir'));
    await symlink(join(elsewhere, 'a.yaml'), join(t.root, 'etc/cni/net.d/linked-file'));
    const before = await snapshot(elsewhere);

    const r = await kubeadmResetOp.run({}, ctx(t.host));

    expect(r.cleaned.filter((p) => p.startsWith('/etc/cni'))).toEqual([
      '/etc/cni/net.d/10-calico.conflist',
      '/etc/cni/net.d/d/x',
      '/etc/cni/net.d/d',
      '/etc/cni/net.d/linked-dir',
      '/etc/cni/net.d/linked-file',
    ]);
    expect(await readdir(join(t.root, 'etc/cni/net.d'))).toEqual([]);
    expect(await snapshot(elsewhere)).toEqual(before);
  });

  it.each([
    ['the directory holding the file', 'etc/kubernetes/manifests'],
    ['a directory further up, inside the allow-list', 'etc/kubernetes'],
    ['a directory above the allow-list', 'etc'],
  ])('with %s a link to outside, nothing reads, lists, writes or removes there', async (_what, linked) => {
    t = await tempHost();
    const elsewhere = await canaryDir(['a.yaml', 'victim', 'fstab']);
    const below = 'etc/kubernetes/manifests'.slice(linked.length + 1);
    // the outside tree mirrors what is below the link, so a followed link lands on the canaries
    if (below !== '') {
      await mkdir(join(elsewhere, below), { recursive: true });
      for (const n of ['a.yaml', 'victim']) await writeFile(join(elsewhere, below, n), CANARY);
    }
    const before = await snapshot(elsewhere);
    await mkdir(join(t.root, linked, '..'), { recursive: true });
    await symlink(elsewhere, join(t.root, linked));
    const host = t.host;
    const file = '/etc/kubernetes/manifests/a.yaml';

    // reads find nothing behind a link; they never see what it points to
    expect(await host.readFile(file)).toBeUndefined();
    expect(await host.readFileBytes(file)).toBeUndefined();
    expect(await host.stat(file)).toBeUndefined();
    expect(await host.exists(file)).toBe(false);
    expect(await host.hashFile(file)).toBeUndefined();
    expect(await host.listDir('/etc/kubernetes/manifests')).toEqual([]);
    // writes and removals are refused, naming the link
    await expect(host.writeFileAtomic(file, 'x')).rejects.toMatchObject({ code: 'path_not_allowed' });
    await expect(host.writeFileAtomic('/etc/kubernetes/manifests/new/b.yaml', 'x')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(
      host.writeFileFromStream(file, (async function* () {})(), { sha256: 'e3b0', size: 0 }),
    ).rejects.toMatchObject({ code: 'path_not_allowed' });
    await expect(host.removeFile('/etc/kubernetes/manifests/victim')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(host.chown(file, 0, 0)).rejects.toMatchObject({ code: 'path_not_allowed' });
    await expect(host.ensureDir('/etc/kubernetes/manifests/sub')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    // the sweep of stale temp files skips the linked tree
    await writeFile(join(elsewhere, '.a.yaml.kctl-tmp-0a1b2c'), CANARY);
    expect(await host.removeStaleTempFiles()).toEqual([]);
    await rm(join(elsewhere, '.a.yaml.kctl-tmp-0a1b2c'));
    // clearing the linked directory itself removes the link; clearing below a link is refused
    if (linked === 'etc/kubernetes/manifests') {
      expect(await host.clearDirectory('/etc/kubernetes/manifests')).toEqual(['/etc/kubernetes/manifests']);
      await expect(lstat(join(t.root, linked))).rejects.toMatchObject({ code: 'ENOENT' });
    } else {
      await expect(host.clearDirectory('/etc/kubernetes/manifests')).rejects.toMatchObject({
        code: 'path_not_allowed',
      });
    }

    expect(await snapshot(elsewhere)).toEqual(before);
  });

  it('a link that stays inside the root but leaves the allow-list is refused the same way', async () => {
    t = await tempHost({ files: { '/etc/shadow-dir/99-kctl.conf': 'secret' } });
    await symlink(join(t.root, 'etc/shadow-dir'), join(t.root, 'etc/sysctl.d'));
    expect(await t.host.readFile('/etc/sysctl.d/99-kctl.conf')).toBeUndefined();
    expect(await t.host.listDir('/etc/sysctl.d')).toEqual([]);
    await expect(t.host.removeFile('/etc/sysctl.d/99-kctl.conf')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readFile(join(t.root, 'etc/shadow-dir/99-kctl.conf'), 'utf8')).toBe('secret');
  });
});

describe('a symlinked /proc/sys under a test root', () => {
  it('writeSysctl is refused, and the file the link leads to keeps its content', async () => {
    t = await tempHost({ files: { '/proc/sys/kernel/x': '' } });
    const elsewhere = await canaryDir(['ip_forward']);
    await symlink(elsewhere, join(t.root, 'proc/sys/net'));
    await expect(t.host.writeSysctl('net.ip_forward', '1')).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await readFile(join(elsewhere, 'ip_forward'), 'utf8')).toBe(CANARY);
  });
});

describe('a symlinked file inside the allow-list', () => {
  it('is never read: readFile finds nothing, stat reports the link, hashFile sees no file, a write is refused', async () => {
    t = await tempHost();
    const elsewhere = await canaryDir();
    await mkdir(join(t.root, 'etc/kubernetes'), { recursive: true });
    await symlink(join(elsewhere, 'a.yaml'), join(t.root, 'etc/kubernetes/admin.conf'));
    expect(await t.host.readFile('/etc/kubernetes/admin.conf')).toBeUndefined();
    expect(await t.host.stat('/etc/kubernetes/admin.conf')).toMatchObject({ isSymlink: true, isFile: false });
    expect(await t.host.exists('/etc/kubernetes/admin.conf')).toBe(true);
    expect(await t.host.hashFile('/etc/kubernetes/admin.conf')).toBeUndefined();
    const err: unknown = await t.host
      .writeFileAtomic('/etc/kubernetes/admin.conf', 'x')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'path_not_allowed' });
    expect((err as Error).message).toMatch(/"\/etc\/kubernetes\/admin.conf" is a symbolic link/);
    expect(await readFile(join(elsewhere, 'a.yaml'), 'utf8')).toBe(CANARY);
  });

  it('is removed as a link: removeFile takes the link away and leaves its target', async () => {
    t = await tempHost();
    const elsewhere = await canaryDir();
    await mkdir(join(t.root, 'etc/kubernetes'), { recursive: true });
    await symlink(join(elsewhere, 'a.yaml'), join(t.root, 'etc/kubernetes/admin.conf'));
    expect(await t.host.removeFile('/etc/kubernetes/admin.conf')).toBe(true);
    expect(await readFile(join(elsewhere, 'a.yaml'), 'utf8')).toBe(CANARY);
  });

  it('a directory in place of a file is refused for reads and writes', async () => {
    t = await tempHost({ files: { '/etc/kubernetes/manifests/x': '' } });
    await expect(t.host.readFile('/etc/kubernetes/manifests')).rejects.toMatchObject({ code: 'io_error' });
    await expect(t.host.writeFileAtomic('/etc/kubernetes/manifests', 'x')).rejects.toMatchObject({
      code: 'io_error',
    });
  });

  it('host.plan never shows the content of a file a link points to, nor of one behind a linked directory', async () => {
    const spec = (path: string): HostSpec =>
      HostSpec.parse({
        hostName: 'w-1',
        role: 'worker',
        kubernetesVersion: 'v1.31.2',
        kubeProxyMode: 'iptables',
        files: [{ path, content: 'runtime-endpoint: unix:///run/containerd/containerd.sock\n' }],
      });
    for (const [path, link, target] of [
      ['/etc/crictl.yaml', 'etc/crictl.yaml', 'a.yaml'],
      ['/etc/kubernetes/manifests/a.yaml', 'etc/kubernetes', '.'],
    ] as const) {
      t = await tempHost({ files: { '/proc/swaps': 'Filename\tType\tSize\tUsed\tPriority\n' } });
      const elsewhere = await canaryDir();
      await mkdir(join(elsewhere, 'manifests'));
      await writeFile(join(elsewhere, 'manifests/a.yaml'), CANARY);
      await mkdir(join(t.root, link, '..'), { recursive: true });
      await symlink(join(elsewhere, target), join(t.root, link));
      const plan = await hostOps['host.plan'].run({ spec: spec(path) }, ctx(t.host));
      expect(JSON.stringify(plan), path).not.toContain(CANARY);
      // apply refuses that file, naming the link, and writes nothing out there
      const applied = await hostOps['host.apply'].run({ spec: spec(path) }, ctx(t.host));
      const failed = applied.reports.find((r) => r.stepId === `file:${path}`);
      expect(failed, path).toMatchObject({ status: 'failed', error: { code: 'path_not_allowed' } });
      expect(JSON.stringify(applied), path).not.toContain(CANARY);
      expect(await readFile(join(elsewhere, 'manifests/a.yaml'), 'utf8')).toBe(CANARY);
      expect(await readFile(join(elsewhere, 'a.yaml'), 'utf8')).toBe(CANARY);
      await t.cleanup();
      t = undefined;
    }
  });
});
