import { afterEach, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';

/*
 * Issue 12, finding 2, under races: another process swaps a directory (or a file) of an allowed
 * tree between the real thing and a symlink to a directory outside the root, as fast as it can,
 * while the agent's Host layer writes, reads, lists, hashes and removes below it. Whatever
 * interleaving happens, nothing outside the root may be created, changed, removed, read or listed.
 * Refusals and ENOENT-like outcomes are expected; leaks are not.
 */

const CANARY = 'CANARY-outside-the-root';
const OUTSIDE_ONLY = 'outside-only-marker';
const RUN_MS = Number(process.env['KCTL_RACE_MS'] ?? 2500);

/**
 * The swapper: moves `dir` aside (a fresh name inside the root each time), puts a symlink to
 * `target` in its place, then takes the link away and moves the real one back. Plain sync calls in
 * a tight loop in its own process, so the swaps run in parallel with the host's calls.
 */
const SWAPPER = `
const fs = require('node:fs');
const [dir, target] = process.argv.slice(1);
let n = 0;
process.stdout.write('ready\\n');
for (;;) {
  const away = dir + '.away-' + (n % 4);
  try { fs.renameSync(dir, away); } catch {}
  try { fs.symlinkSync(target, dir + '.link'); fs.renameSync(dir + '.link', dir); } catch { try { fs.unlinkSync(dir + '.link'); } catch {} }
  try { fs.unlinkSync(dir); } catch {}
  try { fs.renameSync(away, dir); } catch {}
  n++;
}
`;

let t: TempHost | undefined;
let swapper: ChildProcess | undefined;
const outside: string[] = [];
afterEach(async () => {
  swapper?.kill('SIGKILL');
  swapper = undefined;
  await t?.cleanup();
  t = undefined;
  for (const dir of outside.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function startSwapper(dir: string, target: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', SWAPPER, dir, target], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  swapper = child;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', () => resolve());
  });
}

/** Every entry below `dir` with its content ('<dir>' for directories, '<link>' for links). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    out[p.slice(dir.length)] = e.isFile() ? await readFile(p, 'utf8') : e.isDirectory() ? '<dir>' : '<link>';
  }
  return out;
}

/** Outside tree shaped like the inside one, full of canaries, plus a name only it has. */
async function canaryTree(shape: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kctl-race-canary-'));
  await chmod(dir, 0o755);
  outside.push(dir);
  const d = join(dir, shape);
  await mkdir(join(d, 'sub'), { recursive: true });
  for (const n of ['a.yaml', 'victim', 'sub/deep', OUTSIDE_ONLY]) await writeFile(join(d, n), CANARY);
  await writeFile(join(dir, OUTSIDE_ONLY), CANARY);
  return dir;
}

interface Tally {
  ok: number;
  refused: number;
  failed: number;
  leaks: string[];
}

/** Runs `op` in a loop while `going()`, counting outcomes; `leak` judges a result. */
async function hammer<T>(
  tally: Tally,
  going: () => boolean,
  op: (i: number) => Promise<T>,
  leak: (r: T) => string | undefined = () => undefined,
): Promise<void> {
  for (let i = 0; going(); i++) {
    try {
      const r = await op(i);
      tally.ok++;
      const l = leak(r);
      if (l !== undefined) tally.leaks.push(l);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'path_not_allowed') tally.refused++;
      else tally.failed++;
      if (String((err as Error).message).includes(CANARY))
        tally.leaks.push(`error text: ${(err as Error).message}`);
    }
  }
}

/**
 * RUN_MS, and on a loaded machine longer (up to 4x) until the swapper has been met a few times, so
 * the test cannot pass without a race having happened.
 */
function runFor(tally: Tally): () => boolean {
  const start = Date.now();
  return () => Date.now() - start < RUN_MS || (tally.refused < 5 && Date.now() - start < 4 * RUN_MS);
}

const D = '/etc/kubernetes/manifests';

describe('symlink swaps racing the host layer', () => {
  it.each([
    ['the directory holding the files', 'etc/kubernetes/manifests', ''],
    ['a directory two levels up', 'etc/kubernetes', 'manifests'],
  ])(
    'with %s swapped for a link to outside, nothing outside is written, removed, read or listed',
    { timeout: 60_000 },
    async (_what, swapped, shape) => {
      t = await tempHost({
        files: {
          [`${D}/a.yaml`]: 'inside\n',
          [`${D}/victim`]: 'inside\n',
          [`${D}/sub/deep`]: 'inside\n',
        },
      });
      const elsewhere = await canaryTree(shape);
      const before = await snapshot(elsewhere);
      await startSwapper(join(t.root, swapped), elsewhere);
      const host = t.host;
      const tally: Tally = { ok: 0, refused: 0, failed: 0, leaks: [] };
      const going = runFor(tally);
      const noCanary = (r: string | undefined): string | undefined =>
        r?.includes(CANARY) ? `read canary: ${r}` : undefined;
      await Promise.all([
        hammer(tally, going, (i) => host.writeFileAtomic(`${D}/a.yaml`, `inside ${i}\n`)),
        hammer(tally, going, (i) => host.writeFileAtomic(`${D}/new-${i % 3}/b.yaml`, `b ${i}\n`)),
        hammer(tally, going, () => host.readFile(`${D}/a.yaml`), noCanary),
        hammer(tally, going, () => host.readFile(`${D}/sub/deep`), noCanary),
        hammer(
          tally,
          going,
          () => host.listDir(D),
          (names) => (names.includes(OUTSIDE_ONLY) ? `listed outside: ${names.join(',')}` : undefined),
        ),
        hammer(tally, going, () => host.hashFile(`${D}/victim`)),
        hammer(tally, going, async (i) => {
          await host.removeFile(`${D}/victim`);
          await host.writeFileAtomic(`${D}/victim`, `inside ${i}\n`);
        }),
        hammer(tally, going, async () => {
          await host.clearDirectory(`${D}/sub`);
          await host.writeFileAtomic(`${D}/sub/deep`, 'inside\n');
        }),
      ]);
      swapper?.kill('SIGKILL');

      console.log(`symlink race (${swapped}): ${JSON.stringify({ ...tally, leaks: tally.leaks.length })}`);
      expect(tally.leaks).toEqual([]);
      expect(await snapshot(elsewhere)).toEqual(before);
      // the race really ran: some calls got through, some met the link and were refused
      expect(tally.ok).toBeGreaterThan(0);
      expect(tally.refused).toBeGreaterThan(0);
    },
  );

  it(
    'with a file swapped for a link to an outside file, its content is never read and never changed',
    { timeout: 60_000 },
    async () => {
      t = await tempHost({ files: { '/etc/crictl.yaml': 'inside\n' } });
      const elsewhere = await canaryTree('');
      const before = await snapshot(elsewhere);
      await startSwapper(join(t.root, 'etc/crictl.yaml'), join(elsewhere, 'a.yaml'));
      const host = t.host;
      const tally: Tally = { ok: 0, refused: 0, failed: 0, leaks: [] };
      const going = runFor(tally);
      await Promise.all([
        hammer(tally, going, (i) => host.writeFileAtomic('/etc/crictl.yaml', `inside ${i}\n`)),
        hammer(
          tally,
          going,
          () => host.readFile('/etc/crictl.yaml'),
          (r) => (r?.includes(CANARY) ? 'read canary' : undefined),
        ),
        hammer(tally, going, () => host.hashFile('/etc/crictl.yaml')),
        hammer(tally, going, () => host.chown('/etc/crictl.yaml', 0, 0)),
      ]);
      swapper?.kill('SIGKILL');
      console.log(`symlink race (file): ${JSON.stringify({ ...tally, leaks: tally.leaks.length })}`);
      expect(tally.leaks).toEqual([]);
      expect(await snapshot(elsewhere)).toEqual(before);
      expect(tally.ok).toBeGreaterThan(0);
      expect(tally.refused).toBeGreaterThan(0);
    },
  );

  it('a FIFO in an allowed directory is refused at once, not read (and not waited on)', async () => {
    t = await tempHost({ files: { '/etc/kubernetes/x': '' } });
    execFileSync('mkfifo', [join(t.root, 'etc/kubernetes/pipe')]);
    await expect(t.host.readFile('/etc/kubernetes/pipe')).rejects.toMatchObject({ code: 'io_error' });
    await expect(t.host.writeFileAtomic('/etc/kubernetes/pipe', 'x')).rejects.toMatchObject({
      code: 'io_error',
    });
    expect(await t.host.hashFile('/etc/kubernetes/pipe')).toBeUndefined();
  });
});
