import { KctlError } from '../../proto/errors.js';
import type { SpecIssue } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { rpmVersionsIn } from '../bundle/rpm-repo.js';

/** `apt/kubeadm_1.31.3-1.1_all.deb` -> kubeadm 1.31.3-1.1: the .deb files an offline bundle carries. */
export function debVersionsIn(paths: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of paths) {
    const m = /(?:^|\/)([a-z0-9][a-z0-9+.-]*)_([^_/]+)_[a-z0-9]+\.deb$/.exec(p);
    if (!m) continue;
    const [, name = '', version = ''] = m;
    let set = out.get(name);
    if (!set) out.set(name, (set = new Set()));
    set.add(version);
  }
  return out;
}

/**
 * A pinned kube package the offline bundle does not carry is found while planning, naming
 * kubernetesVersion, rather than by apt on every host half-way through an apply.
 */
export function checkBundleCarries(specs: readonly HostSpec[], bundlePaths: readonly string[]): void {
  const have = debVersionsIn(bundlePaths);
  const rpms = rpmVersionsIn(bundlePaths);
  for (const [name, versions] of rpms) have.set(name, new Set([...(have.get(name) ?? []), ...versions]));
  // rpm pins leave the release out: 1.31.2 is met by 1.31.2-150500.1.1, as dnf resolves it
  const carries = (name: string, version: string): boolean =>
    have.get(name)?.has(version) === true ||
    [...(rpms.get(name) ?? [])].some((v) => v.startsWith(`${version}-`));
  const missing = new Map<string, string[]>();
  for (const spec of specs) {
    if (spec.packagesFrom !== 'bundle') continue;
    for (const p of spec.packages) {
      if (!p.name.startsWith('kube') || p.version === undefined) continue;
      if (carries(p.name, p.version)) continue;
      missing.set(`${p.name} ${p.version}`, [...(have.get(p.name) ?? [])].sort());
    }
  }
  if (missing.size === 0) return;
  const list = [...missing.entries()].map(
    ([want, has]) => `${want} (the bundle has ${has.length > 0 ? has.join(', ') : 'none'})`,
  );
  const issue: SpecIssue = {
    path: 'kubernetesVersion',
    message: `the offline bundle does not carry ${list.join('; ')}`,
  };
  throw new KctlError('invalid_spec', `kubernetesVersion: ${issue.message}`, {
    details: {
      issues: [issue],
      remedy: 'rebuild the bundle with kctl bundle build --deb ... for this version',
    },
  });
}
