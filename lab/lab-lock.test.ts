import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLabLock, releaseLabLock } from './lab-lock.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function lockDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kctl-lab-lock-'));
  dirs.push(d);
  return join(d, 'lock');
}

/** A process that holds the lock (as another test file's labUp would) until it is killed. */
function holder(dir: string): Promise<{ kill: () => Promise<void> }> {
  const code = `
    import { acquireLabLock } from ${JSON.stringify(join(import.meta.dirname, 'lab-lock.ts'))};
    await acquireLabLock({ dir: ${JSON.stringify(dir)} });
    process.stdout.write('held\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () =>
      resolve({
        kill: () =>
          new Promise((done) => {
            child.once('exit', () => done());
            child.kill('SIGKILL');
          }),
      }),
    );
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
}

describe('the lab lock', () => {
  it('is re-entrant for its holder and released only by it', async () => {
    const dir = await lockDir();
    await acquireLabLock({ dir });
    await acquireLabLock({ dir, timeoutMs: 100 });
    expect(JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8'))).toMatchObject({ pid: process.pid });
    await releaseLabLock({ dir });
    await expect(readFile(join(dir, 'owner.json'))).rejects.toThrow();
  });

  it('makes a second process wait while the holder lives, then reclaims it from a dead holder', async () => {
    const dir = await lockDir();
    const other = await holder(dir);
    let waitedFor: number | undefined;
    await expect(
      acquireLabLock({ dir, timeoutMs: 1500, onWait: (pid) => (waitedFor = pid) }),
    ).rejects.toThrow(/Another process \(pid \d+\) is using the lab/);
    expect(waitedFor).toBeGreaterThan(0);
    // a holder that died (a killed test) must not block the lab for ever
    await other.kill();
    await acquireLabLock({ dir, timeoutMs: 3000 });
    expect(JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8'))).toMatchObject({ pid: process.pid });
    await releaseLabLock({ dir });
  });
});

describe('the lab lock and child processes', () => {
  it("lets a child of the holder (a test running kctl lab down) work under its parent's lock", async () => {
    const dir = await lockDir();
    await acquireLabLock({ dir });
    const code = `
      import { acquireLabLock, releaseLabLock } from ${JSON.stringify(join(import.meta.dirname, 'lab-lock.ts'))};
      await acquireLabLock({ dir: ${JSON.stringify(dir)}, timeoutMs: 1000 });
      await releaseLabLock({ dir: ${JSON.stringify(dir)} });
      process.stdout.write('ok');
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.once('exit', (status) => (status === 0 ? resolve(text) : reject(new Error(text))));
    });
    expect(out).toBe('ok');
    // the child did not give its parent's lock away
    expect(JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8'))).toMatchObject({ pid: process.pid });
    await releaseLabLock({ dir });
  });
});
