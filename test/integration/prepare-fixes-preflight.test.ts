import { describe, expect, it } from 'vitest';
import { BINARY_RULES } from '../../agent/checks/binaries.js';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { prepPackages } from '../../controller/plan/host-spec.js';
import { FIXED_BY_PREPARE } from '../../controller/plan/resolved-cluster.js';
import { PREFLIGHT_TOOL_PACKAGES_DEB } from '../../controller/render/preflight-tools.js';
import { REAL_DEPENDS } from '../standins/deb.js';

/**
 * Issue 14 part 6: every FileExisting check apply skips before prepare ("fixed by prepare") is
 * really fixed by it. On deb hosts prepare installs the package of each program itself (the
 * kubelet's Depends need not carry conntrack: pkgs.k8s.io dropped it in 1.31.14), and the stand-in
 * kubelet depends on the same packages, so a bundle built from it carries them (the lab suite's
 * bundle-closure test checks that the bundle installs them on its own).
 */
const spec = (packages: object) =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.0.100' },
    packages,
    hosts: [{ name: 'cp-1', role: 'control-plane' }],
  });
const skipped = FIXED_BY_PREPARE.filter((c) => c.startsWith('FileExisting-')).map((c) =>
  c.slice('FileExisting-'.length),
);
const ESSENTIAL = 'coreutils';

describe('the FileExisting checks apply skips are fixed by prepare', () => {
  it('names a package for every program kubeadm looks for', () => {
    for (const rule of BINARY_RULES) expect(PREFLIGHT_TOOL_PACKAGES_DEB[rule.name], rule.name).toBeDefined();
    for (const name of skipped)
      expect(
        BINARY_RULES.map((r) => r.name),
        name,
      ).toContain(name);
  });

  it.each([
    { source: 'upstream' },
    { source: 'bundle' },
    { source: 'mirror', url: 'https://mirror.example' },
  ])(
    'prepare installs the package of each skipped program on a deb host (packages.source $source)',
    (packages) => {
      const names = prepPackages(spec(packages), 'deb').packages.map((p) => p.name);
      for (const program of skipped) {
        const pkg = PREFLIGHT_TOOL_PACKAGES_DEB[program] ?? '';
        if (pkg !== ESSENTIAL) expect(names, `${program} (${pkg})`).toContain(pkg);
      }
    },
  );

  it('the stand-in kubelet depends on each of those packages, so a bundle from it carries them', () => {
    const depends = REAL_DEPENDS.kubelet.map((d) => d.split(' ')[0]);
    for (const program of skipped) {
      const pkg = PREFLIGHT_TOOL_PACKAGES_DEB[program] ?? '';
      if (pkg !== ESSENTIAL) expect(depends, `${program} (${pkg})`).toContain(pkg);
    }
  });
});
