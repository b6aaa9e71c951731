import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KctlError } from '../../proto/errors.js';
import { parseTopology, topologyYaml } from '../../test/fixtures/bundle-topology.js';
import { runKctl } from '../cli/program.js';
import type { CliContext } from '../cli/context.js';
import {
  buildMissing,
  checkBuildCovers,
  clusterBundleNeeds,
  installedIn,
  type BuildInputs,
} from './bundle-needs.js';

const KUBE_DEBS = ['kubeadm', 'kubelet', 'kubectl'].map((name) => ({ name, version: '1.31.2-1.1' }));
const inputs = (over: Partial<BuildInputs> = {}): BuildInputs => ({
  formats: ['deb'],
  // the default --package list and the kube .debs' Depends
  fetched: [
    'containerd',
    'runc',
    'conntrack',
    'iptables',
    'iproute2',
    'ebtables',
    'ethtool',
    'socat',
    'mount',
    'util-linux',
  ],
  debs: KUBE_DEBS,
  rpms: [],
  ...over,
});

describe('kctl bundle build -f cluster.yaml: the inputs cover what the topology installs', () => {
  it('lists per hosts[] entry what a host of that role installs', () => {
    const needs = clusterBundleNeeds(parseTopology(true), 'deb');
    const names = (host: string) => needs.find((n) => n.hostName === host)?.packages.map((p) => p.name);
    expect(names('cp-1')).toContain('kubeadm');
    expect(names('cp-1')).not.toContain('keepalived');
    expect(names('lb-1')).toEqual(['haproxy', 'keepalived']);
    expect(names('etcd-1')).toEqual(['etcd-server', 'etcd-client']);
    // rpm hosts preinstall etcd: kctl installs it from Debian's package only
    expect(
      clusterBundleNeeds(parseTopology(true), 'rpm').find((n) => n.hostName === 'etcd-1')?.packages,
    ).toEqual([]);
  });

  it('refuses inputs without keepalived, naming it, the control planes and the remedy', () => {
    const spec = parseTopology(false);
    const fetched = [...inputs().fetched, 'haproxy', 'etcd-server', 'etcd-client'];
    let err: unknown;
    try {
      checkBuildCovers(spec, 'cluster.yaml', inputs({ fetched }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).code).toBe('invalid_args');
    expect((err as KctlError).message).toBe(
      "-f cluster.yaml: the bundle would not carry what the cluster's hosts install: deb keepalived (needed by control-plane cp-1, cp-2)",
    );
    expect((err as KctlError).details?.remedy).toMatch(/--package NAME for apt to fetch\) for keepalived/);
    expect(() =>
      checkBuildCovers(spec, 'cluster.yaml', inputs({ fetched: [...fetched, 'keepalived'] })),
    ).not.toThrow();
  });

  it('names the lb hosts, the etcd hosts and a kube version the --debs do not have', () => {
    const missing = buildMissing(
      parseTopology(true),
      inputs({ debs: KUBE_DEBS.map((d) => ({ ...d, version: '1.31.1-1.1' })) }),
    );
    const shown = missing.map((m) => `${m.name} ${m.version ?? '*'} ${[...m.hosts.keys()].join(',')}`);
    expect(shown).toEqual([
      'kubelet 1.31.2-1.1 cp-1,cp-2,w-1',
      'kubeadm 1.31.2-1.1 cp-1,cp-2,w-1',
      'kubectl 1.31.2-1.1 cp-1,cp-2,w-1',
      'etcd-server * etcd-1',
      'etcd-client * etcd-1',
      'haproxy * lb-1,lb-2',
      'keepalived * lb-1,lb-2',
    ]);
    expect(missing[0]?.has).toEqual(['1.31.1-1.1']);
  });

  it('judges an rpm build by its --rpm files (the release left out of the pin)', () => {
    const rpms = ['kubeadm', 'kubelet', 'kubectl', 'containerd', 'runc', 'haproxy'].map((name) => ({
      name,
      version: name.startsWith('kube') ? '1.31.2-150500.1.1' : '1.0-1.el9',
    }));
    const missing = buildMissing(parseTopology(false), inputs({ formats: ['rpm'], rpms }));
    expect(missing.map((m) => `${m.format} ${m.name}`)).toEqual(['rpm keepalived']);
  });
});

function captureContext(): CliContext & { stdout: string; stderr: string } {
  const ctx = {
    exitCode: 0,
    stdout: '',
    stderr: '',
    out: (t: string) => void (ctx.stdout += t),
    err: (t: string) => void (ctx.stderr += t),
    client: () => Promise.reject(new Error('no client in this test')),
  };
  return ctx;
}

/** A tiny real Debian package (dpkg-deb, no network). */
async function makeDeb(dir: string, name: string, version: string): Promise<string> {
  const root = join(dir, `${name}-pkg`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN/control'),
    `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: kctl tests <t@kctl.invalid>\nDescription: test\n`,
  );
  const out = join(dir, `${name}_${version}_all.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '--build', root, out], { env: { PATH: '/usr/bin:/bin' } });
  return out;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('kctl bundle build -f', () => {
  it('refuses, before fetching or writing anything, a build whose inputs leave out keepalived', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kctl-bundle-needs-'));
    dirs.push(dir);
    const cluster = join(dir, 'cluster.yaml');
    await writeFile(cluster, topologyYaml(false));
    const debs = await Promise.all(
      ['kubeadm', 'kubelet', 'kubectl'].map((n) => makeDeb(dir, n, '1.31.2-1.1')),
    );
    const out = join(dir, 'bundle');
    const ctx = captureContext();
    const args = ['bundle', 'build', '-f', cluster, '--out', out, ...debs.flatMap((d) => ['--deb', d])];
    const pkgs = ['containerd', 'runc', 'haproxy', 'etcd-server', 'etcd-client', 'conntrack', 'iptables'];
    const more = ['iproute2', 'ebtables', 'ethtool', 'socat', 'mount', 'util-linux'];
    const code = await runKctl([...args, ...[...pkgs, ...more].flatMap((p) => ['--package', p])], ctx);
    expect(code).toBe(1);
    expect(ctx.stderr).toContain(
      `-f ${cluster}: the bundle would not carry what the cluster's hosts install: deb keepalived (needed by control-plane cp-1, cp-2)`,
    );
    expect(await readdir(out).catch(() => 'absent')).toBe('absent');
  });
});

describe('what a build need not carry', () => {
  it('asks nothing of a cluster that does not install from the bundle', () => {
    const spec = { ...parseTopology(false), packages: { source: 'upstream' as const } };
    expect(buildMissing(spec, inputs({ fetched: [], debs: [] }))).toEqual([]);
  });

  it('counts what --base-rootfs has installed (apt does not fetch it, the hosts have it)', () => {
    const status = [
      'Package: keepalived\nStatus: install ok installed\nVersion: 1:2.2.7-1',
      'Package: haproxy\nStatus: deinstall ok config-files\nVersion: 2.6.12-1',
    ].join('\n\n');
    const installed = installedIn(status);
    expect([...installed]).toEqual(['keepalived']);
    const fetched = [...inputs().fetched, 'etcd-server', 'etcd-client'];
    const missing = buildMissing(parseTopology(false), inputs({ fetched, installed }));
    expect(missing.map((m) => m.name)).toEqual(['haproxy']);
  });
});
