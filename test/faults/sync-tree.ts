import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
  chmod,
} from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * Makes the tree `to` equal to `from` while processes keep reading it: a file whose content, mode
 * and kind already match is not touched, a changed one is replaced by rename (a reader sees the old
 * or the new content, never none), and what `from` lacks is removed. Deleting a host root and
 * copying it back instead leaves every file missing for a moment, and an agent whose facts refresh
 * lands in that moment reports a host with no IPs and no OS (controller-random-kill, trial 9).
 * Returns how many entries were written or removed.
 */
export async function syncTree(from: string, to: string): Promise<number> {
  let touched = 0;
  const want = await lstat(from);
  const have = await lstat(to).catch(() => undefined);
  if (want.isDirectory()) {
    if (have && !have.isDirectory()) {
      await rm(to, { recursive: true, force: true });
      touched++;
    }
    if (!have || !have.isDirectory()) {
      await mkdir(to, { mode: want.mode & 0o7777 });
      touched++;
    } else if ((have.mode & 0o7777) !== (want.mode & 0o7777)) {
      await chmod(to, want.mode & 0o7777);
      touched++;
    }
    const names = new Set(await readdir(from));
    for (const name of await readdir(to)) {
      if (!names.has(name)) {
        await rm(join(to, name), { recursive: true, force: true });
        touched++;
      }
    }
    for (const name of names) touched += await syncTree(join(from, name), join(to, name));
    return touched;
  }
  if (have && (await sameEntry(from, want, to, have))) return 0;
  if (have?.isDirectory()) await rm(to, { recursive: true, force: true });
  const temp = `${to}.sync-${process.pid}`;
  if (want.isSymbolicLink()) await symlink(await readlink(from), temp);
  else await writeFile(temp, await readFile(from), { mode: want.mode & 0o7777 });
  if (!want.isSymbolicLink()) await chmod(temp, want.mode & 0o7777); // writeFile's mode is masked by umask
  await rename(temp, to);
  return 1;
}

async function sameEntry(from: string, want: Stats, to: string, have: Stats): Promise<boolean> {
  if (want.isSymbolicLink()) return have.isSymbolicLink() && (await readlink(from)) === (await readlink(to));
  if (!have.isFile() || !want.isFile()) return false;
  if ((have.mode & 0o7777) !== (want.mode & 0o7777) || have.size !== want.size) return false;
  return (await readFile(from)).equals(await readFile(to));
}
