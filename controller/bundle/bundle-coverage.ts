import type { PackageFormat } from '../render/types.js';
import { rpmVersionsIn } from './rpm-repo.js';

/**
 * What an offline bundle carries, by package format, and whether it carries a package a host
 * installs: the one judgement behind the plan-time check (controller/plan/bundle-packages.ts) and
 * `kctl bundle build -f cluster.yaml` (bundle-needs.ts).
 */
export interface BundleContents {
  /** DIR/apt: package name -> versions */
  deb: Map<string, Set<string>>;
  /** DIR/rpm: package name -> version-release */
  rpm: Map<string, Set<string>>;
}

/** `apt/kubeadm_1.31.3-1.1_all.deb` -> kubeadm 1.31.3-1.1: the .deb files an offline bundle carries. */
export function debVersionsIn(paths: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of paths) {
    const m = /(?:^|\/)([a-z0-9][a-z0-9+.-]*)_([^_/]+)_[a-z0-9]+\.deb$/.exec(p);
    if (!m) continue;
    const [, name = '', version = ''] = m;
    addVersion(out, name, version);
  }
  return out;
}

/** The bundle's packages from its manifest's file paths. */
export function bundleContentsOf(paths: readonly string[]): BundleContents {
  return { deb: debVersionsIn(paths), rpm: rpmVersionsIn(paths) };
}

export function addVersion(map: Map<string, Set<string>>, name: string, version: string): void {
  let set = map.get(name);
  if (!set) map.set(name, (set = new Set()));
  set.add(version);
}

/** The versions of a name in the repository a host of this format reads (both when unknown). */
export function versionsOf(
  contents: BundleContents,
  format: PackageFormat | undefined,
  name: string,
): string[] {
  const deb = format === 'rpm' ? [] : [...(contents.deb.get(name) ?? [])];
  const rpm = format === 'deb' ? [] : [...(contents.rpm.get(name) ?? [])];
  return [...new Set([...deb, ...rpm])].sort();
}

/**
 * A versioned package: that version (an rpm pin leaves the release out, so 1.31.2 is met by
 * 1.31.2-150500.1.1, as dnf resolves it); an unversioned one: any version of that name.
 */
export function bundleCarries(
  contents: BundleContents,
  format: PackageFormat | undefined,
  name: string,
  version: string | undefined,
): boolean {
  const deb = format === 'rpm' ? undefined : contents.deb.get(name);
  const rpm = format === 'deb' ? undefined : contents.rpm.get(name);
  if (version === undefined) return (deb?.size ?? 0) > 0 || (rpm?.size ?? 0) > 0;
  return (
    deb?.has(version) === true || [...(rpm ?? [])].some((v) => v === version || v.startsWith(`${version}-`))
  );
}

/** The cluster.yaml field that makes hosts install a package: what an error about it names. */
export function fieldNeeding(name: string): string {
  if (name.startsWith('kube')) return 'kubernetesVersion';
  if (name === 'haproxy' || name === 'keepalived') return 'ha.mode';
  if (name.startsWith('etcd-')) return 'etcd.mode';
  return 'packages.source';
}
