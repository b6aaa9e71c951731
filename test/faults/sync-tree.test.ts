import { afterEach, describe, expect, it } from 'vitest';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, tempDir } from '../integration/harness.js';
import { syncTree } from './sync-tree.js';

describe('syncTree (the fault tests reset host roots that live agents keep reading)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await cleanup(dirs.splice(0));
  });

  const trees = async (): Promise<{ from: string; to: string }> => {
    const base = await tempDir('sync-tree');
    dirs.push(base);
    const from = join(base, 'pristine');
    const to = join(base, 'root');
    for (const root of [from, to]) {
      await mkdir(join(root, 'proc/net'), { recursive: true });
      await writeFile(join(root, 'proc/net/fib_trie'), 'Local:\n  |-- 198.18.1.21\n     /32 host LOCAL\n');
      await writeFile(join(root, 'etc-os-release'), 'ID=debian\n');
    }
    return { from, to };
  };

  it('leaves a file that did not change in place (same inode): a reader never finds it missing', async () => {
    const { from, to } = await trees();
    const before = await stat(join(to, 'proc/net/fib_trie'));
    await writeFile(join(to, 'etc-os-release'), 'ID=changed\n');
    expect(await syncTree(from, to)).toBe(1);
    expect((await stat(join(to, 'proc/net/fib_trie'))).ino).toBe(before.ino);
  });

  it('replaces changed files, restores missing ones, removes what the pristine tree lacks, keeps modes and links', async () => {
    const { from, to } = await trees();
    await writeFile(join(from, 'script'), '#!/bin/sh\n', { mode: 0o755 });
    await symlink('proc/net/fib_trie', join(from, 'link'));
    await writeFile(join(to, 'etc-os-release'), 'ID=changed\n');
    await mkdir(join(to, 'etc/kubernetes'), { recursive: true });
    await writeFile(join(to, 'etc/kubernetes/kubelet.conf'), 'x');
    await writeFile(join(to, 'script'), '#!/bin/sh\n', { mode: 0o644 });
    expect(await syncTree(from, to)).toBe(4);
    expect(await readFile(join(to, 'etc-os-release'), 'utf8')).toBe('ID=debian\n');
    expect(await lstat(join(to, 'etc')).catch(() => undefined)).toBeUndefined();
    expect((await stat(join(to, 'script'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(to, 'link'))).toBe('proc/net/fib_trie');
    expect(await syncTree(from, to)).toBe(0);
  });
});
