import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostFile } from '../../proto/host-spec.js';
import { parseClusterSpec } from '../spec/parse.js';
import { renderPrepareFiles } from './prepare-files.js';

const full = (() => {
  const r = parseClusterSpec(
    readFileSync(join(import.meta.dirname, '../../test/fixtures/cluster/full.yaml'), 'utf8'),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
})();

describe('prepare-phase files', () => {
  it.each(['deb', 'rpm'] as const)(
    'for %s hosts are containerd, registry, crictl and repo files',
    (packageFormat) => {
      const files = renderPrepareFiles(full, { packageFormat });
      expect(files.map((f) => f.path)).toEqual([
        '/etc/containerd/config.toml',
        '/etc/containerd/certs.d/docker.io/hosts.toml',
        '/etc/containerd/certs.d/mirror.example.internal/hosts.toml',
        '/etc/containerd/certs.d/mirror.example.internal/ca.crt',
        '/etc/crictl.yaml',
        packageFormat === 'deb'
          ? '/etc/apt/sources.list.d/kubernetes.list'
          : '/etc/yum.repos.d/kubernetes.repo',
      ]);
    },
  );

  it('produces files the HostSpec schema accepts, a registry with a port included', () => {
    const spec = {
      ...full,
      runtime: {
        containerd: {
          ...full.runtime.containerd,
          registryMirrors: { 'registry.example:5000': ['https://m.example'] },
        },
      },
    };
    for (const f of renderPrepareFiles(spec, { packageFormat: 'deb' })) {
      expect(HostFile.safeParse(f).success, f.path).toBe(true);
    }
  });
});
