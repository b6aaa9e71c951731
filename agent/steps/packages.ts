import { KctlError } from '../../proto/errors.js';
import type { Change } from '../../proto/results.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { Host } from '../host/host.js';
import type { Step } from './step.js';

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
      if (name && version && status?.startsWith('ii')) out.set(name, version);
    }
  } else {
    const r = await host.run('rpm', ['-q', '--qf', '%{NAME}\\t%{VERSION}\\n', '--', ...names], {
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

async function heldPackages(host: Host, pm: PackageManager): Promise<Set<string>> {
  if (pm === 'apt') {
    const r = await host.run('apt-mark', ['showhold'], { allowFailure: true, timeoutMs: 60_000 });
    return new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    );
  }
  const r = await host.run('dnf', ['versionlock', 'list'], { allowFailure: true, timeoutMs: 60_000 });
  return new Set(
    r.stdout
      .split('\n')
      .map((l) =>
        l
          .replace(/-\d.*$/, '')
          .replace(/^\d+:/, '')
          .trim(),
      )
      .filter((l) => l !== ''),
  );
}

/**
 * Packages at exact versions, then held (apt-mark hold / dnf versionlock) so that an unattended
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
      p.version === undefined ? !installed.has(p.name) : installed.get(p.name) !== p.version,
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
    const held = await heldPackages(host, pm);
    for (const p of packages)
      if (p.hold && !held.has(p.name)) changes.push({ kind: 'package-hold', name: p.name });
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
    // dpkg must not be killed half-way: long timeouts, and a held lock is retryable, not a failure
    if (install.length > 0) {
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
      } else {
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
    }
    const hold = changes
      .filter((c) => c.kind === 'package-hold')
      .map((c) => (c.kind === 'package-hold' ? c.name : ''));
    if (hold.length > 0) {
      if (pm === 'apt') await host.run('apt-mark', ['hold', '--', ...hold], { timeoutMs: 60_000 });
      else await host.run('dnf', ['versionlock', 'add', '--', ...hold], { timeoutMs: 120_000 });
    }
    for (const c of changes) {
      if (c.kind === 'service' && c.action === 'enable')
        await host.run('systemctl', ['enable', '--', c.unit], { timeoutMs: 60_000 });
      if (c.kind === 'service' && c.action === 'start')
        await host.run('systemctl', ['start', '--', c.unit], { timeoutMs: 120_000 });
    }
  },
});
