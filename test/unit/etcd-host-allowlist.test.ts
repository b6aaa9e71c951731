import { describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { checkWritablePath } from '../../agent/host/paths.js';
import { ensureEtcdPki } from '../../controller/etcd/pki.js';
import { controlPlaneEtcdFiles, etcdHostSpec } from '../../controller/plan/etcd-host-spec.js';

/**
 * Every file kctl renders for etcd.mode managed is one the agent may write (S16's allow-list).
 * The booted-lab e2e (test/e2e/etcd-managed.e2e.test.ts) found /etc/default/etcd and the
 * etcd.service drop-in refused by a real agent; this keeps the two lists together without a lab.
 */
const MEMBERS = [
  { name: 'etcd-1', address: '198.18.0.21' },
  { name: 'etcd-2', address: '198.18.0.22' },
  { name: 'etcd-3', address: '198.18.0.23' },
];
const spec = ClusterSpec.parse({
  apiVersion: 'kctl.dev/v1alpha1',
  kind: 'Cluster',
  name: 'allow',
  kubernetesVersion: 'v1.31.2',
  controlPlaneEndpoint: { host: '198.18.0.100', port: 6443 },
  ha: { mode: 'external-lb' },
  etcd: { mode: 'managed' },
  packages: { source: 'bundle' },
  hosts: [
    ...MEMBERS.map((m) => ({ ...m, role: 'etcd' })),
    { name: 'cp-1', role: 'control-plane', address: '198.18.0.11' },
  ],
});

describe('managed etcd files are inside the agent write allow-list', () => {
  it.each(['new', 'existing'] as const)('an etcd member (initial cluster state %s)', async (state) => {
    const { pki } = await ensureEtcdPki(undefined, MEMBERS);
    const host = etcdHostSpec(spec, MEMBERS[0]!, {
      members: MEMBERS,
      initialClusterState: state,
      pki,
      packageFormat: 'deb',
    });
    const paths = host.files.map((f) => f.path);
    expect(paths).toContain('/etc/default/etcd');
    expect(paths).toContain('/etc/systemd/system/etcd.service.d/10-kctl.conf');
    // packages.source bundle: apt must read the synced bundle (the e2e found etcd-server unlocatable)
    expect(host.packagesFrom).toBe('bundle');
    expect(paths).toContain('/etc/apt/sources.list.d/kubernetes.list');
    for (const p of paths) expect(() => checkWritablePath(p), p).not.toThrow();
  });

  it("a control plane's etcd client files", async () => {
    const { pki } = await ensureEtcdPki(undefined, MEMBERS);
    const files = controlPlaneEtcdFiles(spec, pki);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => checkWritablePath(f.path), f.path).not.toThrow();
  });
});
