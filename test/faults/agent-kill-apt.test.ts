import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { StateDir } from '../../agent/host/state-dir.js';
import { MutatingRunLock } from '../../agent/mutating-run-lock.js';
import { applySteps } from '../../agent/steps/converge.js';
import { packagesStep } from '../../agent/steps/packages.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { aptHost, dpkgStatus, makeFlatAptRepo } from '../fixtures/apt-host.js';
import type { TempHost } from '../fixtures/temp-host.js';
import { cleanup, startProcess, tempDir, waitFor } from '../integration/harness.js';

/**
 * Finding 10 of issue 12 for package installs: the agent is killed with SIGKILL while apt-get
 * installs a package (the real apt-get and dpkg of this machine, confined to a temp host root by
 * test/fixtures/apt-host.ts) whose postinst sleeps. The "agent" is a child process
 * (test/faults/apt-install-child.ts) applying the packages step as the agent does; the successor
 * is a new MutatingRunLock on the same state dir, then the same step applied again.
 */
const PKG = 'kctl-slow';
/** the packages step's query for packages a cut-short dpkg left (agent/steps/packages.ts, dpkgInterruption) */
const UNFINISHED_QUERY = '-f=${db:Status-Abbrev}\\t${Package}\\n';
const PACKAGES: HostSpec['packages'] = [{ name: PKG, version: '1.0', hold: true }];
// maintainer scripts run outside a chroot (the root has no /bin/sh), with DPKG_ROOT set to the root
const POSTINST = [
  '#!/bin/sh',
  'set -e',
  'if [ "$1" = configure ]; then',
  '  d="$DPKG_ROOT/var/lib/kctl-test"',
  '  echo start >> "$d/postinst.log"',
  '  sleep "$(cat "$d/postinst-sleep" 2>/dev/null || echo 0)"',
  // as real postinsts do (deb-systemd-helper's "Created symlink ..."): output after the wait
  '  echo "kctl-slow configured"',
  '  echo end >> "$d/postinst.log"',
  'fi',
  '',
].join('\n');

let dir: string;
let t: TempHost | undefined;
let child: ReturnType<typeof startProcess> | undefined;
let states = 0;

beforeAll(async () => {
  for (const p of ['apt-get', 'dpkg', 'dpkg-deb', 'dpkg-scanpackages']) {
    const found = await execa('sh', ['-c', `command -v ${p}`], { reject: false });
    if (found.exitCode !== 0) {
      throw new Error(`${p} is missing: install the Debian packages apt, dpkg and dpkg-dev`);
    }
  }
  dir = await tempDir('apt-kill');
  const stage = join(dir, 'stage');
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  await writeFile(
    join(stage, 'DEBIAN/control'),
    `Package: ${PKG}\nVersion: 1.0\nArchitecture: all\nMaintainer: kctl tests <t@kctl.invalid>\nDescription: a package whose postinst takes its time (kctl test)\n`,
  );
  await writeFile(join(stage, 'DEBIAN/postinst'), POSTINST);
  await chmod(join(stage, 'DEBIAN/postinst'), 0o755);
  await mkdir(join(dir, 'repo'));
  await execa('dpkg-deb', ['--root-owner-group', '--build', stage, join(dir, 'repo', `${PKG}_1.0_all.deb`)]);
  await makeFlatAptRepo(join(dir, 'repo'));
}, 60_000);
afterAll(async () => {
  await cleanup([dir]);
});
afterEach(async () => {
  await child?.stop('SIGKILL');
  child = undefined;
  await t?.cleanup();
  t = undefined;
});

async function setup(postinstSleepS: number): Promise<{ state: StateDir; testDir: string }> {
  t = await aptHost({
    flatRepos: [join(dir, 'repo')],
    programs: {
      dpkg: { script: 'exec /usr/bin/dpkg --root="$KCTL_HOST_ROOT" --force-script-chrootless "$@"' },
    },
  });
  // apt takes its locks as on a host (the fixture turns them off): a second apt-get beside a running
  // one is refused, and apt-get refuses to run over an interrupted dpkg ("dpkg was interrupted")
  const conf = join(t.root, 'etc/apt/kctl-test-apt.conf');
  await writeFile(conf, (await readFile(conf, 'utf8')).replace('Debug::NoLocking "1";\n', ''));
  const testDir = join(t.root, 'var/lib/kctl-test');
  await writeFile(join(testDir, 'postinst-sleep'), `${postinstSleepS}\n`);
  const state = new StateDir(join(dir, `state-${++states}`));
  return { state, testDir };
}

const postinstLog = async (testDir: string): Promise<string[]> =>
  (await readFile(join(testDir, 'postinst.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

/** Starts the "agent" and kills it with SIGKILL once the package's postinst runs. */
async function killAgentDuringPostinst(
  mode: 'agent' | 'piped',
  state: StateDir,
  testDir: string,
): Promise<void> {
  child = startProcess([
    'test/faults/apt-install-child.ts',
    mode,
    t!.root,
    state.dir,
    JSON.stringify(PACKAGES),
  ]);
  await waitFor(
    'postinst started',
    async () => (await postinstLog(testDir)).includes('start') || child!.proc.exitCode !== null,
    20_000,
    20,
  );
  expect(child.output()).not.toMatch(/^(applied|failed)/m);
  await child.stop('SIGKILL');
}

/** The dpkg processes working on this root (the postinst they run is not one of them). */
async function dpkgOf(root: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0] === '/usr/bin/dpkg' && argv.includes(`--root=${root}`)) pids.push(Number(entry));
  }
  return pids;
}

/** Maintainer scripts dpkg started for this root (DPKG_ROOT in their environment). */
async function postinstsOf(root: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const env = (await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '')).split('\0');
    if (env.includes(`DPKG_ROOT=${root}`) && env.includes('DPKG_MAINTSCRIPT_NAME=postinst'))
      pids.push(Number(entry));
  }
  return pids;
}

function recordingLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as never) });
  return { log, lines };
}

describe('agent kill -9 during a package install (real apt and dpkg in a temp root)', () => {
  it(
    'the install runs to its end without the agent; the successor waits for it, then only holds the package',
    { timeout: 45_000 },
    async () => {
      const { state, testDir } = await setup(2);
      await killAgentDuringPostinst('agent', state, testDir);
      const killedAt = Date.now();

      const { log, lines } = recordingLog();
      const successor = new MutatingRunLock({ state, log, pollMs: 50 });
      const messages: string[] = [];
      await successor.waitForOrphan(t!.host, (p) => messages.push(p.message), new AbortController().signal);
      // it waited: the postinst had most of its 2 s still to go when the agent died
      expect(Date.now() - killedAt).toBeGreaterThan(800);
      expect(messages[0]).toMatch(/^waiting for apt-get \(pid \d+\) started before the agent restarted$/);
      expect(await postinstLog(testDir)).toEqual(['start', 'end']);
      expect((await dpkgStatus(t!.root))[PKG]).toEqual(['1.0', 'ii']);
      expect(
        lines.find((l) => l.msg === 'apt-get started before the agent restarted has ended'),
      ).toMatchObject({
        program: 'apt-get',
        exitCode: 0,
      });

      const [report] = await applySteps(successor.guard(t!.host), [packagesStep(PACKAGES, [])]);
      expect([report?.status, report?.error?.message]).toEqual(['applied', undefined]);
      expect((await dpkgStatus(t!.root))[PKG]).toEqual(['1.0', 'hi']);
      const installs = (await t!.calls()).filter((c) => c.program === 'apt-get' && c.args[0] === 'install');
      expect(installs).toHaveLength(1); // the orphan's: the successor found nothing left to install
      expect(await postinstLog(testDir)).toEqual(['start', 'end']);
      expect(await readdir(state.path('run'))).toEqual([]);
    },
  );

  it(
    'a dpkg killed half-way is repaired with dpkg --configure -a before the install is tried again, and the package is held',
    { timeout: 45_000 },
    async () => {
      const { state, testDir } = await setup(1);
      await killAgentDuringPostinst('agent', state, testDir);
      // as if the machine went down with it: dpkg dies in the middle of the postinst
      const victims = await dpkgOf(t!.root);
      expect(victims.length).toBeGreaterThan(0);
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      await writeFile(join(testDir, 'postinst-sleep'), '0\n');

      const { log, lines } = recordingLog();
      const successor = new MutatingRunLock({ state, log, pollMs: 50 });
      await successor.waitForOrphan(t!.host, () => undefined, new AbortController().signal);
      // apt-get saw its dpkg killed; the successor reads how the run ended
      expect(
        lines.find((l) => l.msg === 'apt-get started before the agent restarted has ended'),
      ).toMatchObject({
        exitCode: 100,
      });
      expect((await dpkgStatus(t!.root))[PKG]).toEqual(['1.0', 'iF']); // half-configured
      // what makes apt-get refuse ("E: dpkg was interrupted, you must manually run 'dpkg --configure -a'")
      expect(
        (await readdir(join(t!.root, 'var/lib/dpkg/updates'))).filter((f) => /^\d+$/.test(f)),
      ).not.toEqual([]);
      // the killed dpkg's postinst lives on for its sleep (or dies writing to apt's closed pty):
      // the log stays deterministic once it is gone
      await waitFor(
        'orphaned postinst gone',
        async () => (await postinstsOf(t!.root)).length === 0,
        10_000,
        20,
      );
      const leftByKill = await postinstLog(testDir);

      const before = (await t!.calls()).length;
      const [report] = await applySteps(successor.guard(t!.host), [packagesStep(PACKAGES, [])]);
      expect([report?.status, report?.error?.message]).toEqual(['applied', undefined]);
      const after = (await t!.calls())
        .slice(before)
        .filter(
          (c) =>
            ['apt-get', 'apt-mark'].includes(c.program) ||
            (c.program === 'dpkg' && c.args.includes('--configure')) ||
            (c.program === 'dpkg-query' && c.args[1] === UNFINISHED_QUERY),
        )
        .filter((c) => c.args[0] !== 'showhold')
        .map(
          (c) =>
            `${c.program} ${c.args
              .filter((a) => !a.startsWith('--status-fd'))
              .slice(0, 3)
              .join(' ')}`,
        );
      // the check for unfinished packages, the repair, the check again; then the install as planned
      const check = `dpkg-query -W ${UNFINISHED_QUERY}`;
      expect(after.slice(0, 3)).toEqual([check, 'dpkg --force-confold --configure -a', check]);
      expect(after.filter((c) => c.startsWith('apt-'))).toEqual([
        'apt-get update -q',
        'apt-get install -y -q',
        `apt-mark hold -- ${PKG}`,
      ]);
      // --configure -a ran the postinst again, to its end
      expect(await postinstLog(testDir)).toEqual([...leftByKill, 'start', 'end']);
      expect((await dpkgStatus(t!.root))[PKG]).toEqual(['1.0', 'hi']);
      expect(await readdir(state.path('run'))).toEqual([]);
    },
  );
});
