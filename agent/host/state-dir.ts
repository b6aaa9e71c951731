import { mkdir, open, readFile, readdir, rename, rm, chmod } from 'node:fs/promises';
import { join, dirname, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KctlError } from '../../proto/errors.js';

/**
 * The agent's own state directory (identity, CA, journal). Not part of the managed host root:
 * it is the agent's private storage, always 0700, files 0600, written atomically.
 */
export class StateDir {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    await mkdir(join(this.dir, 'journal'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, 'run'), { recursive: true, mode: 0o700 });
    await this.removeLeftoverTempFiles();
  }

  path(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(name) || name.includes('..')) {
      throw new KctlError('path_not_allowed', `State file name "${name}" is not allowed`);
    }
    return join(this.dir, name);
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(`Cannot read state file "${this.path(name)}"`, err);
    }
  }

  async list(subdir: string): Promise<string[]> {
    try {
      return await readdir(this.path(subdir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(`Cannot list state directory "${this.path(subdir)}"`, err);
    }
  }

  /** temp file (O_EXCL) + fsync + rename + fsync(dir): a reader sees the old or the new file, never a torn one */
  async write(name: string, content: string): Promise<void> {
    const target = this.path(name);
    const tmp = join(dirname(target), `.${basename(target)}.kctl-tmp-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      const dh = await open(dirname(target), 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw ioError(`Cannot write state file "${target}"`, err);
    }
  }

  async remove(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }

  private async removeLeftoverTempFiles(): Promise<void> {
    for (const sub of ['', 'journal', 'run']) {
      const dir = sub === '' ? this.dir : join(this.dir, sub);
      for (const entry of await readdir(dir)) {
        if (entry.includes('.kctl-tmp-')) await rm(join(dir, entry), { force: true });
      }
    }
  }
}

function ioError(message: string, cause: unknown): KctlError {
  const code = (cause as NodeJS.ErrnoException).code;
  return new KctlError('io_error', `${message}: ${code ?? (cause as Error).message}`, {
    cause,
    retryable: code === 'ENOSPC' || code === 'EAGAIN',
    ...(code === 'ENOSPC' ? { details: { remedy: 'free space in the agent state directory' } } : {}),
  });
}
