import { KctlError } from '../../proto/errors.js';
import type { SpecIssue } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { PlanView } from '../../proto/plan-api.js';
import {
  bundleCarries,
  bundleContentsOf,
  fieldNeeding,
  versionsOf,
  type BundleContents,
} from '../bundle/bundle-coverage.js';
import { KUBERNETES_APT_LIST, KUBERNETES_YUM_REPO } from '../render/packages.js';
import type { PackageFormat } from '../render/types.js';

export { debVersionsIn } from '../bundle/bundle-coverage.js';

/** A package some hosts install from the bundle and the bundle lacks. */
export interface MissingPackage {
  name: string;
  version: string | undefined;
  format: PackageFormat | undefined;
  /** what the bundle has of that name */
  has: string[];
  /** host name -> its role */
  hosts: Map<string, string>;
}

/** The repository file a bundle host gets says which of the bundle's repositories it reads. */
function formatOf(spec: HostSpec): PackageFormat | undefined {
  if (spec.files.some((f) => f.path === KUBERNETES_APT_LIST)) return 'deb';
  if (spec.files.some((f) => f.path === KUBERNETES_YUM_REPO)) return 'rpm';
  return undefined;
}

/** host name -> the packages its planned tasks install or move (the agent's `package` changes). */
export function packagesToInstall(phases: PlanView['phases']): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const t of phases.flatMap((p) => p.tasks)) {
    for (const c of t.changes) {
      if (c.kind !== 'package') continue;
      let set = out.get(t.host);
      if (!set) out.set(t.host, (set = new Set()));
      set.add(c.name);
    }
  }
  return out;
}

/**
 * Every package a bundle host's spec lists that the bundle does not carry. A pinned version is
 * judged on every such host; an unversioned package (containerd, haproxy, etcd-server...) only where
 * the host would install it (`installs`, from the plan's changes: a package the host already has is
 * not fetched), or on every such host when `installs` is not given. What the bundle's apt repository
 * carries besides (the dependency closure) is never asked for: only HostSpec.packages is.
 */
export function bundleMissing(
  specs: readonly HostSpec[],
  contents: BundleContents,
  installs?: ReadonlyMap<string, ReadonlySet<string>>,
): MissingPackage[] {
  const missing = new Map<string, MissingPackage>();
  for (const spec of specs) {
    if (spec.packagesFrom !== 'bundle') continue;
    const format = formatOf(spec);
    for (const p of spec.packages) {
      if (p.version === undefined && installs && installs.get(spec.hostName)?.has(p.name) !== true) continue;
      if (bundleCarries(contents, format, p.name, p.version)) continue;
      noteMissing(missing, contents, format, p, spec.hostName, spec.role);
    }
  }
  return [...missing.values()];
}

/** `control-plane cp-1, cp-2 and lb lb-1`, at most 5 names per role. */
/** Records that `hostName` needs package `p`, which the bundle lacks: one entry per name, version and format. */
export function noteMissing(
  missing: Map<string, MissingPackage>,
  contents: BundleContents,
  format: PackageFormat | undefined,
  p: { name: string; version?: string | undefined },
  hostName: string,
  role: string,
): void {
  const key = `${p.name}\0${p.version ?? ''}\0${format ?? ''}`;
  let m = missing.get(key);
  if (!m) {
    m = {
      name: p.name,
      version: p.version,
      format,
      has: versionsOf(contents, format, p.name),
      hosts: new Map(),
    };
    missing.set(key, m);
  }
  m.hosts.set(hostName, role);
}

export function hostsByRole(hosts: ReadonlyMap<string, string>): string {
  const byRole = new Map<string, string[]>();
  for (const [host, role] of hosts) byRole.set(role, [...(byRole.get(role) ?? []), host]);
  return [...byRole.entries()]
    .map(([role, names]) => {
      const shown = names.slice(0, 5).join(', ');
      return `${role} ${shown}${names.length > 5 ? ` and ${names.length - 5} more` : ''}`;
    })
    .join(' and ');
}

function describeMissing(m: MissingPackage): string {
  const want = m.version === undefined ? m.name : `${m.name} ${m.version}`;
  const has = m.has.length > 0 ? m.has.join(', ') : 'none';
  return `${want} (the bundle has ${has}), needed by ${hostsByRole(m.hosts)}`;
}

/** The build flags that put these packages in a bundle (a host of unknown format: the deb flags). */
export function bundleRemedy(missing: ReadonlyArray<Pick<MissingPackage, 'name' | 'format'>>): string {
  const names = (rpm: boolean) => [
    ...new Set(missing.filter((m) => (m.format === 'rpm') === rpm).map((m) => m.name)),
  ];
  const deb = names(false);
  const rpm = names(true);
  const parts = [
    ...(deb.length > 0 ? [`--deb FILE (or --package NAME for apt to fetch) for ${deb.join(', ')}`] : []),
    ...(rpm.length > 0 ? [`--format rpm --rpm FILE for ${rpm.join(', ')}`] : []),
  ];
  return `rebuild the bundle with kctl bundle build -f cluster.yaml ${parts.join('; ')}`;
}

/**
 * A package a bundle host installs that the offline bundle does not carry is found while planning,
 * naming the cluster.yaml field that asks for it and the hosts that need it, rather than by apt or
 * dnf ("unable to locate package") on a host half-way through an apply.
 */
export function checkBundleCarries(
  specs: readonly HostSpec[],
  bundlePaths: readonly string[],
  installs?: ReadonlyMap<string, ReadonlySet<string>>,
): void {
  const missing = bundleMissing(specs, bundleContentsOf(bundlePaths), installs);
  if (missing.length === 0) return;
  const byField = new Map<string, MissingPackage[]>();
  for (const m of missing) {
    const field = fieldNeeding(m.name);
    byField.set(field, [...(byField.get(field) ?? []), m]);
  }
  const issues: SpecIssue[] = [...byField.entries()].map(([path, list]) => ({
    path,
    message: `the offline bundle does not carry ${list.map(describeMissing).join('; ')}`,
  }));
  throw new KctlError('invalid_spec', issues.map((i) => `${i.path}: ${i.message}`).join('\n'), {
    details: { issues, remedy: bundleRemedy(missing) },
  });
}
