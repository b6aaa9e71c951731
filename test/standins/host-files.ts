import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { StandinEnv } from './standin-env.js';

/** File access on the host root the stand-in acts on; every path is a host path ("/etc/kubernetes/..."). */

export function hostExists(env: StandinEnv, path: string): boolean {
  return existsSync(env.hostPath(path));
}

export function readHostFile(env: StandinEnv, path: string): string | undefined {
  try {
    return readFileSync(env.hostPath(path), 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes atomically (temp file + rename) with the mode kubeadm uses for that file. */
export function writeHostFile(env: StandinEnv, path: string, content: string, mode: number): void {
  const real = env.hostPath(path);
  mkdirSync(dirname(real), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(real), `.${randomBytes(6).toString('hex')}.standin-tmp`);
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, real);
}

export function removeHostPath(env: StandinEnv, path: string): void {
  rmSync(env.hostPath(path), { recursive: true, force: true });
}

/** Removes the contents of a directory and keeps the directory, as kubeadm reset's CleanDir. */
export function cleanHostDir(env: StandinEnv, path: string): void {
  const real = env.hostPath(path);
  let entries: string[] = [];
  try {
    entries = readdirSync(real);
  } catch {
    return;
  }
  for (const e of entries) rmSync(join(real, e), { recursive: true, force: true });
}

/** Absent or empty, as kubeadm's DirAvailable check wants it. */
export function hostDirIsEmpty(env: StandinEnv, path: string): boolean {
  const real = env.hostPath(path);
  try {
    if (!statSync(real).isDirectory()) return false;
    return readdirSync(real).length === 0;
  } catch {
    return true;
  }
}
