import { KctlError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';
import { restartChanges } from './restarts.js';

export type PackageManager = 'apt' | 'dnf';

/** shown in plans for a package without a pinned version: the repository's candidate */
export const ANY_VERSION = '(repository candidate)';

/** apt on Debian/Ubuntu, dnf (or yum through dnf) on the RPM family; the host's files decide. */
export async function detectPackageManager(host: Host): Promise<PackageManager | undefined> {
  const pm = await findPackageManager(host);
  // a package manager from outside a test host root would change this machine, not that host
  const binary = pm && (await host.which(pm === 'apt' ? 'apt-get' : 'dnf'));
  if (binary && host.root !== '/' && !binary.startsWith(`${host.root.replace(/\/$/, '')}/`)) {
    throw new KctlError(
      'step_failed',
      `Refusing to run ${binary} for host root ${host.root}: it would install on this machine`,
    );
  }
  return pm;
}

async function findPackageManager(host: Host): Promise<PackageManager | undefined> {
  if ((await host.which('dpkg-query')) && (await host.which('apt-get'))) return 'apt';
  if (await host.which('dnf')) return 'dnf';
  return undefined;
}

/**
 * Whether an installed version satisfies a pin. apt: exact. rpm: the pin may leave out the release
 * (`1.31.2` is met by `1.31.2-150500.1.1`, as `dnf install kubeadm-1.31.2` resolves it).
 */
export function versionMatches(pm: PackageManager, installed: string | undefined, want: string): boolean {
  if (installed === undefined) return false;
  return pm === 'apt' ? installed === want : installed === want || installed.startsWith(`${want}-`);
}

/** Installed versions by name: apt's Version, rpm's VERSION-RELEASE. */
export async function installedVersions(
  host: Host,
  pm: PackageManager,
  names: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (names.length === 0) return out;
  if (pm === 'apt') {
    const r = await host.run(
      'dpkg-query',
      ['-W', '-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n', '--', ...names],
      { allowFailure: true, timeoutMs: 60_000 },
    );
    for (const line of r.stdout.split('\n')) {
      const [name, version, status] = line.split('\t');
      // the second letter is the installed state: a held package reads `hi`, not `ii`
      if (name && version && status?.[1] === 'i') out.set(name, version);
    }
  } else {
    const r = await host.run('rpm', ['-q', '--qf', '%{NAME}\\t%{VERSION}-%{RELEASE}\\n', '--', ...names], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    for (const line of r.stdout.split('\n')) {
      const [name, version] = line.split('\t');
      if (name && version && !line.includes('not installed')) out.set(name, version);
    }
  }
  return out;
}

/**
 * What holds packages on this host. apt: `apt-mark hold` (by name). dnf: the versionlock plugin,
 * which locks one version-release per name; without the plugin, the `exclude=` lines of the repo
 * files and dnf.conf (kctl's kubernetes.repo excludes the kube packages, as the kubeadm guide does).
 */
export interface Holds {
  mechanism: 'apt-mark' | 'versionlock' | 'exclude';
  /** held name -> the version-release it is locked at (versionlock only) */
  held: Map<string, string | undefined>;
}

/** `kubelet-0:1.31.2-150500.1.1.*` (dnf 4 versionlock list): name, epoch, version, release. */
const VERSIONLOCK_ENTRY = /^([^\s!#][^\s]*)-(\d+):([^\s-]+)-([^\s]+?)\.\*$/;

/**
 * `dnf versionlock list`: dnf 4 prints one `name-epoch:version-release.*` line per lock; dnf 5 prints
 * blocks of `Package name: kubelet` and conditions such as `evr = 1.31.2-150500.1.1` (from
 * libdnf5's VersionlockPackage::to_string; not run here, dnf 5 is not packaged for Debian).
 */
export function parseVersionlockList(stdout: string): Map<string, string | undefined> {
  const held = new Map<string, string | undefined>();
  let dnf5Name: string | undefined;
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const m = VERSIONLOCK_ENTRY.exec(line);
    if (m?.[1] && m[3] && m[4]) {
      held.set(m[1], `${m[3]}-${m[4]}`);
      continue;
    }
    const name = /^Package name: (\S+)/.exec(line)?.[1];
    if (name !== undefined) {
      dnf5Name = name;
      held.set(name, undefined);
      continue;
    }
    const evr = /^evr ==? (\S+)$/.exec(line)?.[1];
    if (evr !== undefined && dnf5Name !== undefined) held.set(dnf5Name, evr.replace(/^\d+:/, ''));
  }
  return held;
}

export async function heldPackages(host: Host, pm: PackageManager): Promise<Holds> {
  if (pm === 'apt') {
    const r = await host.run('apt-mark', ['showhold'], { allowFailure: true, timeoutMs: 60_000 });
    const names = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    return { mechanism: 'apt-mark', held: new Map(names.map((n) => [n, undefined])) };
  }
  const r = await host.run('dnf', ['-q', 'versionlock', 'list'], { allowFailure: true, timeoutMs: 120_000 });
  if (r.exitCode === 0) {
    return { mechanism: 'versionlock', held: parseVersionlockList(r.stdout) };
  }
  if (!/no such command/i.test(r.stdout + r.stderr)) {
    throw new KctlError(
      'program_failed',
      `dnf versionlock list exited with ${r.exitCode}: ${r.stderr.trim()}`,
    );
  }
  return { mechanism: 'exclude', held: new Map([...(await dnfExcludes(host))].map((n) => [n, undefined])) };
}

/** Package names in `exclude=` / `excludepkgs=` lines of dnf.conf and the repo files (globs are not expanded). */
async function dnfExcludes(host: Host): Promise<Set<string>> {
  const files = [
    '/etc/dnf/dnf.conf',
    ...(await host.listDir('/etc/yum.repos.d'))
      .filter((f) => f.endsWith('.repo'))
      .map((f) => `/etc/yum.repos.d/${f}`),
  ];
  const names = new Set<string>();
  for (const f of files) {
    for (const line of ((await host.readFile(f)) ?? '').split('\n')) {
      const m = /^\s*(?:exclude|excludepkgs)\s*=\s*(.*)$/.exec(line);
      for (const n of m?.[1]?.split(/[\s,]+/) ?? []) if (n !== '') names.add(n);
    }
  }
  return names;
}

/**
 * Packages at exact versions, then held (apt-mark hold / dnf versionlock, or the repo's exclude=
 * without the plugin) so that an unattended
 * upgrade never moves Kubernetes; then services enabled and started.
 */
export const packagesStep = (
  packages: HostSpec['packages'],
  services: HostSpec['services'],
  dependsOn: string[] = [],
): Step => ({
  id: 'packages',
  title: 'packages',
  dependsOn,
  async diff(host) {
    const pm = await detectPackageManager(host);
    if (!pm) {
      throw new KctlError('step_failed', 'No supported package manager on this host (need apt or dnf)');
    }
    const changes: Change[] = [];
    const installed = await installedVersions(
      host,
      pm,
      packages.map((p) => p.name),
    );
    const missing = packages.filter((p) =>
      p.version === undefined
        ? !installed.has(p.name)
        : !versionMatches(pm, installed.get(p.name), p.version),
    );
    if (missing.length > 0)
      changes.push({ kind: 'package-index', reason: `${missing.length} package(s) to install` });
    for (const p of missing)
      changes.push({
        kind: 'package',
        name: p.name,
        from: installed.get(p.name) ?? null,
        to: p.version ?? ANY_VERSION,
      });
    // the running service still has the old binary: restarted once everything is in place
    for (const p of missing)
      changes.push(
        ...restartChanges(p.restarts, `package ${p.name} ${installed.has(p.name) ? 'changed' : 'installed'}`),
      );
    const holds = await heldPackages(host, pm);
    for (const p of packages) {
      if (!p.hold) continue;
      const held = holds.held.has(p.name);
      // a version lock on another version than the pinned one is a hold to renew (after the install)
      const stale =
        held &&
        holds.mechanism === 'versionlock' &&
        p.version !== undefined &&
        !versionMatches(pm, holds.held.get(p.name), p.version);
      if (!held || stale) changes.push({ kind: 'package-hold', name: p.name });
    }
    for (const s of services) {
      const enabled = await host.run('systemctl', ['is-enabled', '--', s.unit], {
        allowFailure: true,
        timeoutMs: 30_000,
      });
      const active = s.start
        ? await host.run('systemctl', ['is-active', '--', s.unit], { allowFailure: true, timeoutMs: 30_000 })
        : undefined;
      if (enabled.stdout.trim() !== 'enabled')
        changes.push({ kind: 'service', unit: s.unit, action: 'enable' });
      if (active && active.stdout.trim() !== 'active')
        changes.push({ kind: 'service', unit: s.unit, action: 'start' });
    }
    return changes;
  },
  async apply(host, changes) {
    const pm = await detectPackageManager(host);
    if (!pm) throw new KctlError('step_failed', 'No supported package manager on this host');
    const install = changes.filter((c): c is Extract<Change, { kind: 'package' }> => c.kind === 'package');
    const wantHeld = new Set(packages.filter((p) => p.hold).map((p) => p.name));
    const holdsBefore = await heldPackages(host, pm);
    // installing a held package drops its hold (apt-get with --allow-change-held-packages resets the
    // dpkg selection to `install`; dnf needs the version lock removed first): a package that is to be
    // held is held again after the install, whether or not the plan showed a hold change for it
    const hold = [
      ...new Set([
        ...changes.filter((c) => c.kind === 'package-hold').map((c) => c.name),
        ...install.filter((c) => wantHeld.has(c.name)).map((c) => c.name),
      ]),
    ];
    // what was held before this apply is held again even when the install fails half-way
    const heldAgainOnFailure = [...new Set([...install.map((c) => c.name), ...hold])].filter((n) =>
      holdsBefore.held.has(n),
    );
    if (holdsBefore.mechanism === 'versionlock') {
      // versionlock hides every other version of a locked name, even from --disableexcludes=all:
      // unlock what moves or gets a new lock first, lock again after the install
      if (heldAgainOnFailure.length > 0)
        await host.run('dnf', ['-q', 'versionlock', 'delete', '--', ...heldAgainOnFailure], {
          timeoutMs: 120_000,
        });
    }
    // a crash may have cut an earlier install short: the package database is repaired before the retry
    if (install.length > 0 || hold.length > 0) await repairInterruptedInstall(host, pm, install);
    try {
      await installPackages(host, pm, install);
    } catch (err) {
      await holdPackages(host, pm, holdsBefore, heldAgainOnFailure).catch(() => undefined);
      throw err;
    }
    await holdPackages(host, pm, holdsBefore, hold);
    for (const c of changes) {
      if (c.kind === 'service' && c.action === 'enable')
        await host.run('systemctl', ['enable', '--', c.unit], { timeoutMs: 60_000 });
      if (c.kind === 'service' && c.action === 'start')
        await host.run('systemctl', ['start', '--', c.unit], { timeoutMs: 120_000 });
    }
  },
});

/** dpkg's journal of status changes not yet merged into its status file: non-empty after a dpkg killed mid-run */
const DPKG_UPDATES_DIR = '/var/lib/dpkg/updates';

/**
 * dpkg's status letters (second of db:Status-Abbrev) of a package whose install or removal was cut
 * short in a way `dpkg --configure -a` finishes: unpacked, half-configured, awaiting or pending
 * triggers. (Half-installed, `H`, needs the package installed again, which the apt-get install
 * after the repair does.)
 */
const UNFINISHED = new Map([
  ['U', 'unpacked'],
  ['F', 'half-configured'],
  ['W', 'triggers-awaited'],
  ['t', 'triggers-pending'],
]);

/**
 * What a dpkg run cut short leaves (the agent's host killed or rebooted, dpkg killed): packages
 * in a state `dpkg --configure -a` finishes, or entries in dpkg's updates journal; apt-get then
 * refuses to run ("dpkg was interrupted, you must manually run 'dpkg --configure -a'"). This is
 * the part of `dpkg --audit` that is about interruption: --audit also lists packages whose file
 * lists or checksums are missing, which --configure -a does not change. Empty when consistent.
 */
export async function dpkgInterruption(host: Host): Promise<string[]> {
  const found: string[] = [];
  const journal = (await host.listDir(DPKG_UPDATES_DIR)).filter((f) => /^\d+$/.test(f));
  if (journal.length > 0) found.push(`${journal.length} unmerged entries in ${DPKG_UPDATES_DIR}`);
  const r = await host.run('dpkg-query', ['-W', '-f=${db:Status-Abbrev}\\t${Package}\\n'], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  for (const line of r.stdout.split('\n')) {
    const [abbrev, name] = line.split('\t');
    const state = UNFINISHED.get(abbrev?.[1] ?? '');
    if (state !== undefined && name) found.push(`${name} ${state}`);
  }
  return found;
}

/**
 * Names that rpm lists at two versions: what a dnf transaction killed between installing the new
 * package and erasing the old one leaves (rpm itself releases its lock when it dies, and dnf 4
 * has no command that completes a transaction; `dnf remove --duplicates` removes the older copy).
 */
export async function rpmDuplicates(host: Host, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const r = await host.run('rpm', ['-q', '--qf', '%{NAME}\\n', '--', ...names], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const seen = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const name = line.trim();
    if (name !== '' && !name.includes(' ')) seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([name]) => name);
}

/**
 * Repairs what an install cut short by a crash left, before the install is tried again. The
 * program that was cut short has ended by now: it ran detached and recorded (MutatingRunLock), and
 * a restarted agent waits for it before it runs this. apt: `dpkg --configure -a` (it finishes
 * unpacked and half-configured packages and merges the updates journal), as apt-get's own message
 * asks. dnf: `dnf remove --duplicates` when a package is installed twice.
 */
async function repairInterruptedInstall(
  host: Host,
  pm: PackageManager,
  install: ReadonlyArray<Extract<Change, { kind: 'package' }>>,
): Promise<void> {
  if (pm === 'dnf') {
    const twice = await rpmDuplicates(
      host,
      install.map((c) => c.name),
    );
    if (twice.length > 0) await host.run('dnf', ['remove', '-y', '--duplicates'], { timeoutMs: 1_800_000 });
    return;
  }
  const before = await dpkgInterruption(host);
  if (before.length === 0) return;
  await host.run('dpkg', ['--force-confold', '--configure', '-a'], { timeoutMs: 1_800_000 });
  const after = await dpkgInterruption(host);
  if (after.length > 0) {
    throw new KctlError(
      'step_failed',
      `dpkg on this host was interrupted and is still not consistent after dpkg --configure -a: ${after.join(', ')}`,
      {
        details: {
          found: before,
          remaining: after,
          remedy: 'run dpkg --audit on the host and fix what it lists',
        },
      },
    );
  }
}

/** Installs the planned versions. dpkg must not be killed half-way: long timeouts. */
async function installPackages(
  host: Host,
  pm: PackageManager,
  install: ReadonlyArray<Extract<Change, { kind: 'package' }>>,
): Promise<void> {
  if (install.length === 0) return;
  if (pm === 'apt') {
    await host.run('apt-get', ['update', '-q'], { timeoutMs: 600_000 });
    await host.run(
      'apt-get',
      [
        'install',
        '-y',
        '-q',
        '--allow-downgrades',
        '--allow-change-held-packages',
        '-o',
        'Dpkg::Options::=--force-confold',
        '--',
        ...install.map((c) => (c.to === ANY_VERSION ? c.name : `${c.name}=${c.to}`)),
      ],
      { timeoutMs: 1_800_000 },
    );
    return;
  }
  await host.run(
    'dnf',
    [
      'install',
      '-y',
      '--disableexcludes=all',
      '--',
      ...install.map((c) => (c.to === ANY_VERSION ? c.name : `${c.name}-${c.to}`)),
    ],
    { timeoutMs: 1_800_000 },
  );
}

/** apt-mark hold, or a dnf version lock on the installed version; the repo's exclude= needs nothing. */
async function holdPackages(
  host: Host,
  pm: PackageManager,
  holds: Holds,
  names: readonly string[],
): Promise<void> {
  if (names.length === 0) return;
  if (pm === 'apt') {
    await host.run('apt-mark', ['hold', '--', ...names], { timeoutMs: 60_000 });
    return;
  }
  if (holds.mechanism === 'versionlock') {
    await host.run('dnf', ['-q', 'versionlock', 'add', '--', ...names], { timeoutMs: 120_000 });
    return;
  }
  const unheld = names.filter((n) => !holds.held.has(n));
  if (unheld.length > 0) {
    throw new KctlError(
      'step_failed',
      `Cannot hold ${unheld.join(', ')}: dnf has no versionlock plugin and no exclude= line lists them`,
      { details: { remedy: "install dnf's versionlock plugin (python3-dnf-plugin-versionlock)" } },
    );
  }
}
