import { Command } from 'commander';
import { KctlError } from '../proto/errors.js';
import { hostLeaderPid, execInLeader } from './exec.js';
import { labUp } from './hosts.js';
import {
  BOOT_PROGRAMS,
  ROOTFS_PROGRAMS,
  checkPrograms,
  describeMissing,
  type LabProgram,
} from './prereqs.js';
import { DEFAULT_CACHE_DIR } from './rootfs.js';
import { DEFAULT_LAB_DIR, readLabState } from './state.js';
import { labDown } from './teardown.js';
import { renderTable } from '../proto/text-table.js';

/** Output only; the lab commands need no controller client. */
export interface LabCliOutput {
  out(text: string): void;
  err(text: string): void;
}

const stdio: LabCliOutput = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Refuses early, before any work, with what is missing and the apt-get line that fixes it. */
async function requireLabHost(programs: LabProgram[], installMissing: boolean): Promise<void> {
  const report = await checkPrograms(programs);
  if (installMissing && report.isRoot) return; // labUp installs them
  const problem = describeMissing(report);
  if (problem) {
    throw new KctlError(report.isRoot ? 'not_found' : 'forbidden', problem.message, {
      details: { remedy: problem.remedy },
    });
  }
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new KctlError('invalid_args', `lab up: N must be a positive integer, not "${value}"`);
  return n;
}

/** `kctl lab up N`, `kctl lab down`, `kctl lab status`: the fleet lab of booted Debian hosts. */
export function labCommand(io: LabCliOutput = stdio): Command {
  const lab = new Command('lab').description(
    'a fleet lab: N booted Debian hosts (systemd-nspawn) on a private bridge',
  );
  lab
    .command('up')
    .description(
      'build (or reuse) the base root filesystem and boot N hosts; waits for systemd and cloud-init',
    )
    .argument('<N>', 'number of hosts', parseCount)
    .option('--dir <dir>', 'lab directory (state, host files)', DEFAULT_LAB_DIR)
    .option('--cache-dir <dir>', 'where the base root filesystem is cached', DEFAULT_CACHE_DIR)
    .option('--storage <kind>', 'overlay (default) or copy', 'overlay')
    .option('--install-missing', 'apt-get install systemd-container and mmdebstrap when missing')
    .action(
      async (
        n: number,
        opts: { dir: string; cacheDir: string; storage: string; installMissing?: boolean },
      ) => {
        if (opts.storage !== 'overlay' && opts.storage !== 'copy') {
          throw new KctlError('invalid_args', `--storage: "${opts.storage}" must be overlay or copy`);
        }
        await requireLabHost([...BOOT_PROGRAMS, ...ROOTFS_PROGRAMS], opts.installMissing === true);
        const { state, timings } = await labUp({
          n,
          dir: opts.dir,
          cacheDir: opts.cacheDir,
          storage: opts.storage,
          installMissing: opts.installMissing === true,
          log: (m) => io.err(`${m}\n`),
        });
        io.out(
          renderTable(
            ['HOST', 'ADDRESS', 'MACHINE-ID'],
            state.hosts.map((h) => [h.name, h.address, h.machineId]),
          ),
        );
        io.out(
          `lab up: ${state.hosts.length} hosts in ${(timings.totalMs / 1000).toFixed(1)}s ` +
            `(base ${timings.baseBuilt ? 'built' : 'cached'} ${(timings.baseMs / 1000).toFixed(1)}s); ` +
            `bridge ${state.bridge.name} ${state.bridge.address}/${state.bridge.prefixLength}\n`,
        );
      },
    );
  lab
    .command('down')
    .description('remove every host, namespace, link, mount, process and directory the lab made')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .action(async (opts: { dir: string }) => {
      await requireLabHost(BOOT_PROGRAMS, false);
      const { removed } = await labDown({ dir: opts.dir });
      for (const r of removed) io.out(`removed ${r}\n`);
      io.out(removed.length === 0 ? 'lab down: nothing to remove\n' : 'lab down: done\n');
    });
  lab
    .command('status')
    .description('the hosts of the lab and whether each is running')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .action(async (opts: { dir: string }) => {
      const state = await readLabState(opts.dir);
      if (!state) {
        io.out(`no lab in ${opts.dir}\n`);
        return;
      }
      const rows: string[][] = [];
      for (const h of state.hosts) {
        const leader = await hostLeaderPid(h);
        const sys =
          leader === undefined
            ? 'stopped'
            : (
                await execInLeader(leader, ['systemctl', 'is-system-running'], { timeoutMs: 10_000 })
              ).stdout.trim();
        rows.push([h.name, h.address, sys, leader === undefined ? '-' : String(leader)]);
      }
      io.out(renderTable(['HOST', 'ADDRESS', 'STATE', 'INIT-PID'], rows));
    });
  return lab;
}
