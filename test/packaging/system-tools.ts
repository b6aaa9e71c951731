import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function hasProgram(name: string): Promise<boolean> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', name], { reject: false });
  return r.exitCode === 0;
}

let aptUpdated = false;

/**
 * Installs the Debian packages that provide the given programs when they are missing
 * (`{ 'cloud-init': 'cloud-init', shellcheck: 'shellcheck' }`). The tests run as root, as CI does;
 * these are the real tools, never stand-ins.
 */
export async function ensurePrograms(programs: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [program, pkg] of Object.entries(programs)) {
    if (!(await hasProgram(program))) missing.push(pkg);
  }
  if (missing.length === 0) return;
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<unknown> =>
    execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
      env,
      timeout: 600_000,
    });
  try {
    await install();
  } catch {
    if (aptUpdated) throw new Error(`apt-get install ${missing.join(' ')} failed`);
    await execa('apt-get', ['update', '-q'], { env, timeout: 300_000 });
    aptUpdated = true;
    await install();
  }
}

/** A fresh temp directory, removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
