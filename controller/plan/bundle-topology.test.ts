import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { parseTopology } from '../../test/fixtures/bundle-topology.js';
import { ensureEtcdPki } from '../etcd/pki.js';
import { bundleRepoFiles, prepareHostSpec } from './host-spec.js';
import { etcdHostSpec } from './etcd-host-spec.js';
import { lbHostSpec } from './lb-host-spec.js';
import { checkBundleCarries, packagesToInstall } from './bundle-packages.js';

const members = [{ name: 'etcd-1', address: '10.0.0.21' }];
const { pki } = await ensureEtcdPki(undefined, members);

/** Every HostSpec the plan sends for this cluster, built by the planners themselves. */
function hostSpecs(spec: ClusterSpec): HostSpec[] {
  const byRole = (role: string) =>
    spec.hosts.filter((h) => h.role === role).map((h) => ({ name: h.name ?? '', address: h.address }));
  const controlPlanes = byRole('control-plane');
  const balancers = byRole('lb');
  const nodes = spec.hosts
    .filter((h) => h.role === 'control-plane' || h.role === 'worker')
    .map((h, i) =>
      prepareHostSpec(
        spec,
        {
          name: h.name ?? '',
          role: h.role as 'control-plane' | 'worker',
          first: i === 0,
          address: h.address,
        },
        // the prepare phase's files carry the bundle's repository file (render/prepare-files.ts)
        {
          packageFormat: 'deb',
          controlPlanes,
          loadBalancers: balancers,
          files: bundleRepoFiles(spec, 'deb'),
        },
      ),
    );
  const etcd = members.map((m) =>
    etcdHostSpec(spec, m, { members, initialClusterState: 'new', pki, packageFormat: 'deb' }),
  );
  const lbs = balancers.map((b) => lbHostSpec(spec, b, { balancers, controlPlanes, packageFormat: 'deb' }));
  return [...nodes, ...etcd, ...lbs];
}

const KUBE = ['kubeadm', 'kubelet', 'kubectl'].map((n) => `apt/pool/${n}_1.31.2-1.1_amd64.deb`);
const BASE = [
  ...KUBE,
  'apt/pool/containerd_1.6.20~ds1-1+b1_amd64.deb',
  'apt/pool/runc_1.1.5+ds1-1+b1_amd64.deb',
  ...['conntrack', 'ebtables', 'ethtool', 'iproute2', 'iptables', 'mount', 'socat', 'util-linux'].map(
    (n) => `apt/pool/${n}_1.0-1_amd64.deb`,
  ),
  'apt/pool/etcd-server_3.4.23-4+b6_amd64.deb',
  'apt/pool/etcd-client_3.4.23-4+b6_amd64.deb',
  'apt/pool/haproxy_2.6.12-1_amd64.deb',
  // the dependency closure of the packages above: never asked for by itself
  'apt/pool/libssl3_3.0.11-1_amd64.deb',
];
const without = (name: string) => BASE.filter((p) => !p.includes(`/${name}_`));

function refusal(specs: HostSpec[], paths: string[]): KctlError {
  try {
    checkBundleCarries(specs, paths);
  } catch (err) {
    if (err instanceof KctlError) return err;
    throw err;
  }
  throw new Error('checkBundleCarries accepted the bundle');
}

describe('the plan-time bundle check covers every package a host of the topology installs', () => {
  it('accepts a bundle with every package of managed etcd and haproxy-keepalived', () => {
    expect(() =>
      checkBundleCarries(hostSpecs(parseTopology(false)), [
        ...BASE,
        'apt/pool/keepalived_1:2.2.7-1_amd64.deb',
      ]),
    ).not.toThrow();
  });

  it('refuses a bundle without keepalived, naming the control planes that run it, ha.mode and the remedy', () => {
    const err = refusal(hostSpecs(parseTopology(false)), BASE);
    expect(err.code).toBe('invalid_spec');
    expect(err.message).toBe(
      'ha.mode: the offline bundle does not carry keepalived (the bundle has none), needed by control-plane cp-1, cp-2',
    );
    expect(err.details?.issues).toEqual([
      { path: 'ha.mode', message: expect.stringContaining('keepalived') },
    ]);
    expect(err.details?.remedy).toMatch(/kctl bundle build -f cluster\.yaml --deb FILE .* for keepalived$/);
  });

  it('names the dedicated lb hosts when they run keepalived', () => {
    const err = refusal(hostSpecs(parseTopology(true)), BASE);
    expect(err.message).toBe(
      'ha.mode: the offline bundle does not carry keepalived (the bundle has none), needed by lb lb-1, lb-2',
    );
  });

  it('names etcd.mode and the etcd hosts for etcd-server, and packages.source for containerd, in one error', () => {
    const err = refusal(hostSpecs(parseTopology(false)), [
      ...without('etcd-server').filter((p) => !p.includes('/containerd_')),
      'apt/pool/keepalived_2.2.7-1_amd64.deb',
    ]);
    expect(err.message).toBe(
      [
        'packages.source: the offline bundle does not carry containerd (the bundle has none), needed by control-plane cp-1, cp-2 and worker w-1',
        'etcd.mode: the offline bundle does not carry etcd-server (the bundle has none), needed by etcd etcd-1',
      ].join('\n'),
    );
  });

  it('asks for an unversioned package only where the plan installs it, a pinned one everywhere', () => {
    const specs = hostSpecs(parseTopology(false));
    const installs = packagesToInstall([
      {
        id: 'prepare',
        title: 'Prepare hosts',
        tasks: [
          {
            taskId: 'prepare/cp-1',
            host: 'cp-1',
            title: 'converge host',
            pending: true,
            detail: '',
            changes: [{ kind: 'package', name: 'haproxy', from: null, to: '*' }],
          },
        ],
      },
    ]);
    // keepalived is on every host already (no package change): the bundle need not carry it
    expect(() => checkBundleCarries(specs, BASE, installs)).not.toThrow();
    expect(() => checkBundleCarries(specs, without('haproxy'), installs)).toThrow(
      'ha.mode: the offline bundle does not carry haproxy (the bundle has none), needed by control-plane cp-1',
    );
    expect(() => checkBundleCarries(specs, without('kubelet'), installs)).toThrow(
      'kubernetesVersion: the offline bundle does not carry kubelet 1.31.2-1.1 (the bundle has none), needed by control-plane cp-1, cp-2 and worker w-1',
    );
  });

  it('judges a deb host against the apt repository only', () => {
    const specs = hostSpecs(parseTopology(false));
    const paths = [...without('keepalived'), 'rpm/keepalived-2.2.8-1.el9.x86_64.rpm'];
    expect(() => checkBundleCarries(specs, paths)).toThrow('keepalived (the bundle has none)');
  });
});
