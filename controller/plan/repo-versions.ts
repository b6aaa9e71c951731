import { KctlError } from '../../proto/errors.js';
import type { SpecIssue } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import type { PackagesAvailableArgs, PackagesAvailableResult } from '../../proto/package-index.js';
import {
  KUBERNETES_APT_LIST,
  KUBERNETES_PACKAGES,
  KUBERNETES_YUM_REPO,
  kubePackageVersion,
} from '../render/packages.js';

/** One repository the plan installs kube packages from, the host that reads its index, and what it must offer. */
export interface RepoNeed {
  format: 'deb' | 'rpm';
  repoUrl: string;
  /** hosts whose specs use this repository, in plan order: the first one reads the index */
  hosts: string[];
  /** package name -> pinned versions */
  want: Map<string, Set<string>>;
}

const KUBE_PACKAGES: ReadonlySet<string> = new Set([...KUBERNETES_PACKAGES, 'cri-tools', 'kubernetes-cni']);

/** The Kubernetes repository a host spec's repo file points at (https only), or undefined. */
export function kubeRepoOf(spec: HostSpec): { format: 'deb' | 'rpm'; repoUrl: string } | undefined {
  if (spec.packagesFrom === 'bundle') return undefined;
  for (const f of spec.files) {
    if (f.path === KUBERNETES_APT_LIST) {
      // `deb [options] URL /`: pkgs.k8s.io repositories are flat (suite `/`)
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(https:\/\/\S+)\s+\/\s*$/m.exec(f.content);
      if (m?.[1]) return { format: 'deb', repoUrl: m[1] };
    }
    if (f.path === KUBERNETES_YUM_REPO) {
      const m = /^baseurl=(https:\/\/\S+)\s*$/m.exec(f.content);
      if (m?.[1]) return { format: 'rpm', repoUrl: m[1] };
    }
  }
  return undefined;
}

/**
 * The repositories the specs install kube packages at `kubernetesVersion` from, grouped so each
 * index is read once. Only the target version is asked for: a stage of an upgrade keeps the
 * kubelet held at the version it runs (installed, never fetched again) while its repo file already
 * names the new minor's repository, which does not carry the old version.
 */
export function repoNeeds(
  specs: ReadonlyArray<{ host: string; spec: HostSpec }>,
  kubernetesVersion: string,
): RepoNeed[] {
  const byRepo = new Map<string, RepoNeed>();
  for (const { host, spec } of specs) {
    const repo = kubeRepoOf(spec);
    if (!repo) continue;
    const target = kubePackageVersion(kubernetesVersion, repo.format);
    const pinned = spec.packages.filter(
      (p) =>
        KUBE_PACKAGES.has(p.name) &&
        p.version !== undefined &&
        (p.version === target || p.version.startsWith(`${target}-`)),
    );
    if (pinned.length === 0) continue;
    const key = `${repo.format} ${repo.repoUrl}`;
    let need = byRepo.get(key);
    if (!need) byRepo.set(key, (need = { ...repo, hosts: [], want: new Map() }));
    if (!need.hosts.includes(host)) need.hosts.push(host);
    for (const p of pinned) {
      let set = need.want.get(p.name);
      if (!set) need.want.set(p.name, (set = new Set()));
      set.add(p.version as string);
    }
  }
  return [...byRepo.values()];
}

/** Same rule as the agent's: deb pins are exact, an rpm pin may leave out the release. */
function offers(format: 'deb' | 'rpm', available: readonly string[], want: string): boolean {
  if (format === 'deb') return available.includes(want);
  const plain = want.replace(/^0:/, '');
  return available.some((v) => v === plain || v.startsWith(`${plain}-`));
}

/** A few of the versions on offer, the ones nearest the wanted minor first. */
function offered(available: readonly string[], want: string): string {
  const minor = /^(\d+\.\d+)\./.exec(want)?.[1];
  const same = minor === undefined ? [] : available.filter((v) => v.startsWith(`${minor}.`));
  const shown = (same.length > 0 ? same : available).slice(-8);
  return shown.length > 0 ? shown.join(', ') : 'none';
}

export type ReadIndex = (host: string, args: PackagesAvailableArgs) => Promise<PackagesAvailableResult>;

/**
 * A pinned kube package version that the configured repository (pkgs.k8s.io, or a mirror of it)
 * does not offer is found while planning, naming kubernetesVersion, instead of by apt or dnf on
 * every host in the middle of an apply. One host per repository reads its index. When no host can
 * read it (a proxy only apt knows, a repository down right now) the plan goes on with a warning:
 * apt still checks at apply time, and a plan must not fail on what it could not see.
 */
export async function checkRepoCarries(needs: readonly RepoNeed[], read: ReadIndex): Promise<SpecIssue[]> {
  const warnings: SpecIssue[] = [];
  const missing: string[] = [];
  for (const need of needs) {
    const names = [...need.want.keys()].sort();
    const host = need.hosts[0] as string;
    let result: PackagesAvailableResult;
    try {
      result = await read(host, { format: need.format, repoUrl: need.repoUrl, names });
    } catch (err) {
      warnings.push({
        path: 'packages',
        message: `could not read the package index of ${need.repoUrl} from ${host} (${(err as Error).message}); the pinned versions are checked when apt/dnf installs them`,
      });
      continue;
    }
    for (const name of names) {
      const available = result.versions[name] ?? [];
      for (const want of [...(need.want.get(name) ?? [])].sort()) {
        if (!offers(need.format, available, want))
          missing.push(`${name} ${want} (it has ${offered(available, want)})`);
      }
    }
    if (missing.length > 0) {
      const issue: SpecIssue = {
        path: 'kubernetesVersion',
        message: `the package repository ${need.repoUrl} does not offer ${missing.join('; ')}`,
      };
      throw new KctlError('invalid_spec', `kubernetesVersion: ${issue.message}`, {
        details: {
          issues: [issue],
          index: result.index,
          remedy: 'pick a version the repository has, or sync the mirror first',
        },
      });
    }
  }
  return warnings;
}
