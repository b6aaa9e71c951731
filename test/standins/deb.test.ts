import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDIN_CLUSTER_DIR, buildStandinDebs, standinDebVersion, type StandinDeb } from './deb.js';

const field = (deb: string, name: string) =>
  execFileSync('dpkg-deb', ['--field', deb, name], { encoding: 'utf8' }).trim();
const contents = (deb: string) => execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });

describe('kube stand-in .debs', () => {
  let out: string;
  let debs: StandinDeb[];
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'kctl-standin-debs-test-'));
    debs = await buildStandinDebs(out, { version: 'v1.31.2' });
  }, 120_000);
  afterAll(async () => rm(out, { recursive: true, force: true }));

  it('versions follow pkgs.k8s.io (1.31.2-1.1), bad versions are refused', () => {
    expect(standinDebVersion('v1.31.2')).toBe('1.31.2-1.1');
    expect(standinDebVersion('1.30.0', '2.1')).toBe('1.30.0-2.1');
    expect(() => standinDebVersion('v1.31')).toThrow(/v1\.31\.2/);
  });

  it('kubeadm, kubelet, kubectl and the common package, each named a stand-in, on Debian nodejs', () => {
    expect(debs.map((d) => `${d.name}=${d.version}`)).toEqual([
      'kctl-standin-common=1.0',
      'kubeadm=1.31.2-1.1',
      'kubelet=1.31.2-1.1',
      'kubectl=1.31.2-1.1',
      'cri-tools=1.31.0-1.1',
      'kubernetes-cni=1.5.1-1.1',
    ]);
    for (const d of debs) {
      expect(field(d.path, 'Description')).toContain('STAND-IN');
      expect(field(d.path, 'Architecture')).toBe('all');
    }
    for (const d of debs.slice(1, 4)) {
      expect(field(d.path, 'Depends')).toContain('nodejs (>= 18)');
      // >=, not =: a pinned install of an older version must not need an older common package
      expect(field(d.path, 'Depends')).toContain('kctl-standin-common (>= 1.0)');
      // the command on PATH points at the bundle, whose package.json makes it CommonJS
      expect(contents(d.path)).toContain(`./usr/bin/${d.name} -> /usr/lib/kctl-standins/${d.name}/${d.name}`);
      expect(contents(d.path)).toContain(`./usr/lib/kctl-standins/${d.name}/package.json`);
    }
    expect(field(debs[1]!.path, 'Depends')).toContain('kubelet');
  });

  it("declares the real packages' Depends: the kubelet's tools, kubeadm's cri-tools and kubernetes-cni", () => {
    const depends = (name: string) => field(debs.find((d) => d.name === name)!.path, 'Depends');
    for (const p of [
      'iptables (>= 1.4.21)',
      'conntrack',
      'ebtables',
      'ethtool',
      'socat',
      'iproute2',
      'util-linux',
      'mount',
      'kubernetes-cni',
    ])
      expect(depends('kubelet')).toContain(p);
    for (const p of ['kubelet', 'kubectl', 'cri-tools', 'kubernetes-cni'])
      expect(depends('kubeadm')).toContain(p);
    for (const name of ['cri-tools', 'kubernetes-cni']) {
      expect(field(debs.find((d) => d.name === name)!.path, 'Description')).toContain('STAND-IN');
    }
  });

  it('the kubelet ships its unit; the common package names the shared cluster directory (a conffile)', () => {
    const kubelet = debs.find((d) => d.name === 'kubelet')!;
    expect(contents(kubelet.path)).toContain('./lib/systemd/system/kubelet.service');
    const common = debs[0]!;
    expect(contents(common.path)).toContain('./etc/kctl-standin/cluster-dir');
    expect(execFileSync('dpkg-deb', ['--info', common.path, 'conffiles'], { encoding: 'utf8' })).toBe(
      '/etc/kctl-standin/cluster-dir\n',
    );
    const text = execFileSync(
      'sh',
      ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./etc/kctl-standin/cluster-dir', '-', common.path],
      {
        encoding: 'utf8',
      },
    );
    expect(text).toBe(`${STANDIN_CLUSTER_DIR}\n`);
  });

  it('each start of the kubelet unit runs `kubelet --standin-start` once, so a restart runs it again', () => {
    const kubelet = debs.find((d) => d.name === 'kubelet')!;
    const unit = execFileSync(
      'sh',
      [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./lib/systemd/system/kubelet.service',
        '-',
        kubelet.path,
      ],
      { encoding: 'utf8' },
    );
    expect(unit).toContain(
      '\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/bin/kubelet --standin-start\n',
    );
    // systemd refuses Restart= other than "no" on a oneshot unit
    expect(unit).not.toMatch(/^Restart=/m);
    expect(unit).toContain('ConditionPathExists=/var/lib/kubelet/config.yaml');
  });
});
