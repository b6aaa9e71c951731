import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KctlError } from '../proto/errors.js';
import { withinHostCgroup } from './cgroups.js';
import { execInLeader, hostLeaderPid } from './exec.js';
import {
  hostRootPaths,
  newMachineId,
  NSPAWN_ENV,
  nspawnArgs,
  prepareHostRoot,
  writeHostIdentity,
  type LabBind,
  type LabStorage,
} from './host-root.js';
import {
  LAB_BRIDGE,
  LAB_BRIDGE_ADDRESS,
  LAB_PREFIX_LENGTH,
  MAX_LAB_HOSTS,
  createBridge,
  createHostLink,
  hostLink,
  isolationProblems,
  linkExists,
  listLabNetns,
  readIsolationFacts,
} from './network.js';
import { BOOT_PROGRAMS, requirePrograms } from './prereqs.js';
import { isSameProcess, spawnDetached } from './processes.js';
import { ensureBaseRootfs } from './rootfs.js';
import { defaultLabSeed, labHostPlan, labNetworkConfig, type LabHostPlan, type LabSeed } from './seed.js';
import { DEFAULT_LAB_DIR, readLabState, writeLabState, type LabHostState, type LabState } from './state.js';
import { labDown } from './teardown.js';
import { acquireLabLock, releaseLabLock } from './lab-lock.js';

export interface LabUpOptions {
  n: number;
  dir?: string;
  cacheDir?: string;
  /** host names, default lab-1..lab-N */
  names?: string[];
  /** the NoCloud seed of each host; default: hostname and lab address only */
  seedFor?: (host: LabHostPlan) => LabSeed | Promise<LabSeed>;
  /**
   * Called once the bridge and its address (LAB_BRIDGE_ADDRESS) exist, before any host is made:
   * where a controller that listens on the bridge is started, so seeds can point at it.
   */
  afterNetwork?: () => Promise<void>;
  /** directories of this machine bind-mounted into every host */
  binds?: LabBind[];
  storage?: LabStorage;
  /** capabilities on top of systemd-nspawn's default set */
  capabilities?: string[];
  /** for all hosts to be up and cloud-init done; default 5 min */
  timeoutMs?: number;
  /** install systemd-container/mmdebstrap with apt when missing (root only) */
  installMissing?: boolean;
  /** leave a failed lab in place for debugging instead of taking it down */
  keepOnFailure?: boolean;
  log?: (msg: string) => void;
}

export interface LabUpResult {
  state: LabState;
  timings: { baseMs: number; baseBuilt: boolean; createMs: number; bootMs: number; totalMs: number };
}

export const DEFAULT_CAPABILITIES = ['CAP_NET_ADMIN'];

export function defaultHostNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `lab-${i + 1}`);
}

/** Boots N Debian hosts and waits until each one's systemd is running and cloud-init is done. */
export async function labUp(opts: LabUpOptions): Promise<LabUpResult> {
  const started = Date.now();
  const dir = resolve(opts.dir ?? DEFAULT_LAB_DIR);
  const names = opts.names ?? defaultHostNames(opts.n);
  if (!Number.isInteger(opts.n) || opts.n < 1 || opts.n > MAX_LAB_HOSTS || names.length !== opts.n) {
    throw new KctlError('invalid_args', `lab up: N must be 1..${MAX_LAB_HOSTS} with one name per host`);
  }
  if (new Set(names).size !== names.length)
    throw new KctlError('invalid_args', 'lab up: host names must differ');
  await requirePrograms(BOOT_PROGRAMS, { installMissing: opts.installMissing ?? false });
  // held until this process's labDown (or its exit): another process's lab down would sweep ours
  await acquireLabLock({
    onWait: (pid) => opts.log?.(`lab up: waiting for process ${pid}, which is using the lab`),
  });
  if (
    (await readLabState(dir)) !== undefined ||
    (await linkExists(LAB_BRIDGE)) ||
    (await listLabNetns()).length > 0
  ) {
    await releaseLabLock();
    throw new KctlError(
      'invalid_config',
      `A lab is already up on this machine (${LAB_BRIDGE} or ${dir}/lab.json exists)`,
      {
        details: { remedy: `kctl lab down --dir ${dir}` },
      },
    );
  }
  const base = await ensureBaseRootfs({
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    installMissing: opts.installMissing ?? true,
    ...(opts.log ? { log: opts.log } : {}),
  });
  const baseMs = Date.now() - started;
  const dirCreated = !(await stat(dir).then(
    () => true,
    () => false,
  ));
  const state: LabState = {
    version: 1,
    dir,
    dirCreated,
    createdAt: new Date().toISOString(),
    baseRootfs: base.path,
    bridge: { name: LAB_BRIDGE, address: LAB_BRIDGE_ADDRESS, prefixLength: LAB_PREFIX_LENGTH },
    hosts: [],
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeLabState(state);
  try {
    await createBridge();
    const problems = isolationProblems(await readIsolationFacts());
    if (problems.length > 0) {
      throw new KctlError('invalid_config', `The lab network would not be isolated: ${problems.join('; ')}`);
    }
    await opts.afterNetwork?.();
    const storage = opts.storage ?? 'overlay';
    const suffix = randomBytes(4).toString('hex');
    for (const [i, name] of names.entries()) {
      const link = hostLink(i + 1);
      const paths = hostRootPaths(dir, name, storage);
      const host: LabHostState = {
        index: link.index,
        name,
        address: link.address,
        netns: link.netns,
        vethHost: link.vethHost,
        root: paths.root,
        storage,
        hostDir: paths.hostDir,
        machineId: newMachineId(),
        logFile: join(paths.hostDir, 'console.log'),
      };
      state.hosts.push(host);
      await writeLabState(state);
      await createHostLink(link);
      await prepareHostRoot(base.path, paths, storage);
      const plan = labHostPlan(link.index, name, link.address);
      const seed = (await opts.seedFor?.(plan)) ?? defaultLabSeed(plan, suffix);
      await writeHostIdentity(paths.root, host, {
        ...seed,
        networkConfig: seed.networkConfig ?? labNetworkConfig(plan),
      });
      const args = nspawnArgs({
        name,
        root: paths.root,
        netnsPath: link.netnsPath,
        capabilities: [...new Set([...DEFAULT_CAPABILITIES, ...(opts.capabilities ?? [])])],
        ...(opts.binds ? { binds: opts.binds } : {}),
      });
      host.nspawn = await withinHostCgroup(name, () =>
        spawnDetached('systemd-nspawn', args, host.logFile, { ...NSPAWN_ENV }),
      );
      await writeLabState(state);
      opts.log?.(`host ${name} (${link.address}) booting`);
    }
    const createMs = Date.now() - started - baseMs;
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    await Promise.all(state.hosts.map((h) => waitHostReady(h, deadline, opts.log)));
    await writeLabState(state);
    const totalMs = Date.now() - started;
    return {
      state,
      timings: { baseMs, baseBuilt: base.built, createMs, bootMs: totalMs - baseMs - createMs, totalMs },
    };
  } catch (err) {
    if (opts.keepOnFailure !== true) await labDown({ dir }).catch(() => undefined);
    throw err;
  }
}

const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

async function consoleTail(host: LabHostState): Promise<string> {
  const text = await readFile(host.logFile, 'utf8').catch(() => '');
  // strip colour codes of the boot console
  return text.replace(ANSI_COLOUR, '').split('\n').slice(-15).join('\n');
}

/** Waits for the host's init, then `systemctl is-system-running --wait`, then `cloud-init status --wait`. */
async function waitHostReady(
  host: LabHostState,
  deadline: number,
  log?: (msg: string) => void,
): Promise<void> {
  const fail = async (what: string, details: Record<string, unknown> = {}) =>
    new KctlError('timeout', `Lab host "${host.name}" ${what}`, {
      details: { ...details, console: await consoleTail(host), remedy: `see ${host.logFile}` },
    });
  let leader: number | undefined;
  while (leader === undefined) {
    if (host.nspawn === undefined || !(await isSameProcess(host.nspawn)))
      throw await fail('exited while booting');
    leader = await hostLeaderPid(host);
    if (Date.now() > deadline) throw await fail('did not start its init in time');
    if (leader === undefined) await sleep(100);
  }
  host.leaderPid = leader;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw await fail('did not finish booting in time');
    // bounded tries: a call made while the host's systemd is still starting may not return
    const r = await execInLeader(leader, ['systemctl', 'is-system-running', '--wait'], {
      timeoutMs: Math.min(left, 60_000),
    });
    const sys = r.stdout.trim();
    if (sys === 'running') break;
    if (sys === 'degraded') {
      const failed = await execInLeader(leader, [
        'systemctl',
        '--failed',
        '--plain',
        '--no-legend',
        '--no-pager',
      ]);
      throw await fail('booted degraded', { failedUnits: failed.stdout.trim() });
    }
    if (host.nspawn !== undefined && !(await isSameProcess(host.nspawn)))
      throw await fail('exited while booting');
    await sleep(300);
  }
  const ci = await execInLeader(leader, ['cloud-init', 'status', '--wait', '--long'], {
    timeoutMs: Math.max(1000, deadline - Date.now()),
  });
  if (!/^status: done$/m.test(ci.stdout))
    throw await fail('did not finish cloud-init', { cloudInit: ci.stdout.trim() });
  log?.(`host ${host.name} up`);
}
