import { execa } from 'execa';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { prepPackages } from '../plan/host-spec.js';
import { bundleRemedy, hostsByRole, noteMissing, type MissingPackage } from '../plan/bundle-packages.js';
import { haproxyKeepalivedPackages } from '../render/haproxy-keepalived-inputs.js';
import type { PackageFormat } from '../render/types.js';
import { BUILD_PATH } from './build-programs.js';
import { addVersion, bundleCarries, type BundleContents } from './bundle-coverage.js';

/**
 * The packages etcd hosts install (etcd.mode managed; controller/plan/etcd-host-spec.ts): Debian's
 * etcd-server and etcd-client. On rpm hosts kctl installs no etcd (it must be preinstalled).
 */
export const MANAGED_ETCD_PACKAGES = ['etcd-server', 'etcd-client'] as const;

/** The name a hosts[] entry goes by in a message: its host name, or its index and selector. */
function entryName(spec: ClusterSpec, index: number): string {
  const h = spec.hosts[index];
  if (h?.name !== undefined) return h.name;
  const labels = Object.entries(h?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `hosts[${index}] (selector ${labels})`;
}

/**
 * What a host of each hosts[] entry installs from the bundle, for one package format, as the plan
 * builds its HostSpec (prepPackages, haproxyKeepalivedPackages, the etcd member's packages): the
 * packages `kctl bundle build -f cluster.yaml` must put in. packages.source is taken as bundle.
 */
export function clusterBundleNeeds(
  cluster: ClusterSpec,
  format: PackageFormat,
): Array<Pick<HostSpec, 'hostName' | 'role' | 'packages'>> {
  const spec: ClusterSpec = { ...cluster, packages: { source: 'bundle' } };
  const dedicated = spec.hosts.some((h) => h.role === 'lb');
  return spec.hosts.map((h, i) => {
    let packages: HostSpec['packages'] = [];
    if (h.role === 'control-plane' || h.role === 'worker')
      packages = [
        ...prepPackages(spec, format).packages,
        ...haproxyKeepalivedPackages(spec, h.role, dedicated).packages,
      ];
    else if (h.role === 'lb') packages = haproxyKeepalivedPackages(spec, 'lb', true).packages;
    else if (spec.etcd.mode === 'managed' && format === 'deb')
      packages = MANAGED_ETCD_PACKAGES.map((name) => ({ name, hold: true }));
    return { hostName: entryName(spec, i), role: h.role, packages };
  });
}

/** What a build's inputs put into the bundle, known before anything is fetched. */
export interface BuildInputs {
  formats: readonly PackageFormat[];
  /** names (or name=version) apt fetches with their dependencies: --package and the --debs' Depends */
  fetched: readonly string[];
  /** the --deb files' Package and Version */
  debs: ReadonlyArray<{ name: string; version: string }>;
  /** the --rpm files' NAME and VERSION-RELEASE */
  rpms: ReadonlyArray<{ name: string; version: string }>;
  /** --base-rootfs: packages installed there, which apt does not fetch and the hosts already have */
  installed?: ReadonlySet<string>;
}

/**
 * The packages cluster.yaml's hosts install that a build with these inputs would not carry, per
 * format. A name apt fetches counts for any version (`name=version` for that version); what apt
 * adds as dependencies is not known before fetching and not needed: only HostSpec.packages is.
 */
export function buildMissing(cluster: ClusterSpec, inputs: BuildInputs): MissingPackage[] {
  // a cluster that does not install from the bundle asks nothing of its packages (-f for --images)
  if (cluster.packages.source !== 'bundle') return [];
  const contents: BundleContents = { deb: new Map(), rpm: new Map() };
  const anyVersion = new Set<string>(inputs.installed ?? []);
  for (const f of inputs.fetched) {
    const [name = '', version] = f.split('=');
    if (version === undefined) anyVersion.add(name);
    else addVersion(contents.deb, name, version);
  }
  for (const d of inputs.debs) addVersion(contents.deb, d.name, d.version);
  for (const r of inputs.rpms) addVersion(contents.rpm, r.name, r.version);
  const missing = new Map<string, MissingPackage>();
  for (const format of inputs.formats) {
    for (const host of clusterBundleNeeds(cluster, format)) {
      for (const p of host.packages) {
        if (format === 'deb' && anyVersion.has(p.name)) continue;
        if (bundleCarries(contents, format, p.name, p.version)) continue;
        noteMissing(missing, contents, format, p, host.hostName, host.role);
      }
    }
  }
  return [...missing.values()];
}

/** Refuses a build that would leave out packages cluster.yaml's hosts install, naming each and who needs it. */
export function checkBuildCovers(cluster: ClusterSpec, file: string, inputs: BuildInputs): void {
  const missing = buildMissing(cluster, inputs);
  if (missing.length === 0) return;
  const list = missing.map((m) => {
    const want = m.version === undefined ? m.name : `${m.name} ${m.version}`;
    const has = m.has.length > 0 ? `; the inputs have ${m.has.join(', ')}` : '';
    return `${m.format ?? ''} ${want} (needed by ${hostsByRole(m.hosts)}${has})`;
  });
  throw new KctlError(
    'invalid_args',
    `-f ${file}: the bundle would not carry what the cluster's hosts install: ${list.join('; ')}`,
    {
      details: {
        file,
        missing: missing.map((m) => ({
          format: m.format,
          name: m.name,
          ...(m.version !== undefined ? { version: m.version } : {}),
          hosts: [...m.hosts.keys()],
        })),
        remedy: bundleRemedy(missing).replace('rebuild the bundle with', 'add to'),
      },
    },
  );
}

/** The packages dpkg's status file lists as installed (`Status: install ok installed`). */
export function installedIn(status: string): Set<string> {
  const out = new Set<string>();
  for (const stanza of status.split(/\n\s*\n/)) {
    const name = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    if (name !== undefined && /^Status:.*\binstalled$/m.test(stanza)) out.add(name);
  }
  return out;
}

/** Package and Version of each --deb file, from its control data (a file name proves nothing). */
export async function debNamesAndVersions(
  paths: readonly string[],
): Promise<Array<{ name: string; version: string }>> {
  const out: Array<{ name: string; version: string }> = [];
  for (const path of paths) {
    const r = await execa('dpkg-deb', ['--show', '--showformat=${Package}\\t${Version}\\n', path], {
      env: { PATH: BUILD_PATH, LANG: 'C.UTF-8' },
      extendEnv: false,
      reject: false,
    });
    const [name = '', version = ''] = r.stdout.trim().split('\t');
    if (r.exitCode !== 0 || name === '')
      throw new KctlError('invalid_args', `--deb "${path}" is not a Debian package`);
    out.push({ name, version });
  }
  return out;
}
