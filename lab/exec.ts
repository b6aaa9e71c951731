import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { KctlError } from '../proto/errors.js';
import { LAB_PATH } from './prereqs.js';
import { childrenOf, isSameProcess } from './processes.js';
import { DEFAULT_LAB_DIR, readLabState, type LabHostState } from './state.js';

/**
 * Runs a program inside a lab host with nsenter into the namespaces of the host's init (its mount
 * namespace makes "/" the host's root). This works without systemd as the machine's PID 1, where
 * `systemd-run --machine` and `machinectl shell` cannot. The program gets a fixed, minimal
 * environment, not ours.
 */
export interface LabExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LabExecOptions {
  dir?: string;
  input?: string;
  timeoutMs?: number;
}

export const HOST_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/root',
  DEBIAN_FRONTEND: 'noninteractive',
};

/**
 * The host's init as seen from here, or undefined when the host is not running (yet). Until
 * systemd-nspawn's child has set up the container and exec'd systemd, it is still
 * "systemd-nspawn": entering it then would see a half-made container.
 */
export async function hostLeaderPid(host: LabHostState): Promise<number | undefined> {
  if (host.nspawn === undefined || !(await isSameProcess(host.nspawn))) return undefined;
  for (const child of await childrenOf(host.nspawn.pid)) {
    const comm = await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'systemd') return child;
  }
  return undefined;
}

/** `--root` and `--wd` without a value take the target's: `--wd=/` would open *our* "/". */
export function nsenterArgs(leaderPid: number, argv: string[]): string[] {
  return ['--target', String(leaderPid), '--all', '--root', '--wd', '--', ...argv];
}

/** Runs argv in the host whose init has this pid; non-zero exits are results, not throws. */
export async function execInLeader(
  leaderPid: number,
  argv: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<LabExecResult> {
  const r = await execa('nsenter', nsenterArgs(leaderPid, argv), {
    env: { ...HOST_ENV, PATH: `${HOST_ENV.PATH}:${LAB_PATH}` },
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
    timeout: opts.timeoutMs ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  });
  return {
    exitCode: r.exitCode ?? (r.timedOut ? 124 : 255),
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

/** `labExec('lab-1', ['systemctl', 'is-active', 'containerd'])` */
export async function labExec(
  name: string,
  argv: string[],
  opts: LabExecOptions = {},
): Promise<LabExecResult> {
  const dir = opts.dir ?? DEFAULT_LAB_DIR;
  const state = await readLabState(dir);
  const host = state?.hosts.find((h) => h.name === name);
  if (!host) {
    throw new KctlError('unknown_host', `No lab host "${name}" in "${dir}"`, {
      details: { hosts: state?.hosts.map((h) => h.name) ?? [] },
    });
  }
  const leader = await hostLeaderPid(host);
  if (leader === undefined) throw new KctlError('host_offline', `Lab host "${name}" is not running`);
  return execInLeader(leader, argv, opts);
}
