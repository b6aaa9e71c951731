import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HostList, RunOpResponse } from '../../proto/admin-api.js';
import type { HostSpecInput } from '../../proto/host-spec.js';
import type { StepPlan, StepReport } from '../../proto/results.js';
import { buildBundle } from '../../controller/bundle/build.js';
import { writeManifest } from '../../controller/bundle/manifest.js';
import {
  cleanup,
  kctl,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A tiny real Debian package, made with dpkg-deb (no network). */
export async function makeDeb(dir: string, name: string, version: string): Promise<string> {
  const root = join(dir, `${name}-pkg`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/share/doc', name), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN/control'),
    `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: kctl tests <t@kctl.invalid>\nDescription: kctl bundle test package\n`,
  );
  await writeFile(join(root, 'usr/share/doc', name, 'README'), `${name} ${version}\n`);
  const out = join(dir, `${name}_${version}_all.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '--build', root, out], { env: { PATH: '/usr/bin:/bin' } });
  return out;
}

/**
 * Issue 4, offline bundle, end to end on loopback: kctl bundle build, a real controller serving it,
 * a real agent syncing it into a temp host root through its own mTLS connection.
 */
describe('offline bundle: controller to agent', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let work: string;
  let bundle: string;
  const tool = Buffer.alloc(5 * 1024 * 1024, 0x42); // past the 1 MiB frame cap: streamed
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });
  const spec: HostSpecInput = {
    hostName: 'bundle-h1',
    role: 'worker',
    kubernetesVersion: 'v1.31.2',
    kubeProxyMode: 'iptables',
    swap: 'keep',
    packagesFrom: 'bundle',
  };
  const op = async (name: 'host.plan' | 'host.apply'): Promise<RunOpResponse> =>
    controller.api.post(
      '/v1/admin/ops',
      { host: 'bundle-h1', op: name, args: { spec }, timeoutMs: 120_000 },
      RunOpResponse,
      130_000,
    );
  const bundleStep = <T extends { stepId: string }>(items: T[]): T | undefined =>
    items.find((s) => s.stepId === 'bundle-sync');

  beforeAll(async () => {
    work = await tempDir('bundle-e2e');
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    bundle = join(controller.dataDir, 'bundle');
    const deb = await makeDeb(work, 'kctl-test-tool', '1.0');
    // tiny packages under the kube names, so that a plan from this bundle finds the versions it pins
    const kube = await Promise.all(
      ['kubeadm', 'kubelet', 'kubectl'].map((n) => makeDeb(work, n, '1.31.2-1.1')),
    );
    // and under the names prepare installs unversioned: a bundle host lacking them is refused while planning
    const prep = [
      'containerd',
      'runc',
      'conntrack',
      'ebtables',
      'ethtool',
      'iproute2',
      'iptables',
      'mount',
      'socat',
      'util-linux',
    ];
    const prepDebs = await Promise.all(prep.map((n) => makeDeb(work, n, '1.0')));
    await buildBundle({
      outDir: bundle,
      packages: [],
      debs: [deb, ...kube, ...prepDebs],
      installMissing: true,
    });
    await mkdir(join(bundle, 'bin'), { recursive: true });
    await writeFile(join(bundle, 'bin/tool'), tool);
    await writeManifest(bundle);
    expect((await kctl(['bundle', 'verify', bundle])).code).toBe(0);
    // the default: <data-dir>/bundle is served when it is there at start
    await controller.proc.stop();
    await controller.start();
    const token = (await kctl(['token', 'create'], { env: env() })).stdout.trim();
    agent = await startAgentProcess({ name: 'bundle-h1', controller, token });
    await waitFor(
      'agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      20_000,
    );
  }, 180_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await cleanup([work, controller.dataDir, agent.stateDir, agent.hostRoot]);
  });

  it('plan shows the downloads, apply syncs and checks every file, and a second run is empty', async () => {
    const plan = await op('host.plan');
    expect(plan.outcome.ok, JSON.stringify(plan.outcome)).toBe(true);
    const steps = (plan.outcome as { value: { steps: StepPlan[] } }).value.steps;
    const changes = bundleStep(steps)?.changes ?? [];
    const paths = changes.map((c) => ('path' in c ? c.path : ''));
    expect(paths).toEqual(
      expect.arrayContaining([
        '/var/lib/kctl/bundle/apt/InRelease',
        '/var/lib/kctl/bundle/apt/Packages',
        '/var/lib/kctl/bundle/apt/kctl-bundle.gpg',
        '/var/lib/kctl/bundle/apt/pool/kctl-test-tool_1.0_all.deb',
        '/var/lib/kctl/bundle/bin/tool',
        '/etc/apt/keyrings/kctl-bundle.gpg',
      ]),
    );
    // plan touched nothing
    expect(await readdir(join(agent.hostRoot, 'var/lib')).catch(() => [])).not.toContain('kctl');

    const apply = await op('host.apply');
    expect(apply.outcome.ok, JSON.stringify(apply.outcome)).toBe(true);
    const reports = (apply.outcome as { value: { reports: StepReport[] } }).value.reports;
    expect(bundleStep(reports)?.status, JSON.stringify(bundleStep(reports)?.error)).toBe('applied');
    const root = join(agent.hostRoot, 'var/lib/kctl/bundle');
    expect(sha(await readFile(join(root, 'bin/tool')))).toBe(sha(tool));
    expect(await readFile(join(root, 'apt/pool/kctl-test-tool_1.0_all.deb'))).toEqual(
      await readFile(join(bundle, 'apt/pool/kctl-test-tool_1.0_all.deb')),
    );
    expect(await readFile(join(agent.hostRoot, 'etc/apt/keyrings/kctl-bundle.gpg'))).toEqual(
      await readFile(join(bundle, 'apt/kctl-bundle.gpg')),
    );

    const again = await op('host.plan');
    expect(bundleStep((again.outcome as { value: { steps: StepPlan[] } }).value.steps)?.changes).toEqual([]);
  });

  it('kctl plan with packages.source bundle shows the bundle files and the local apt source', async () => {
    // apt and friends inside this host root are stubs: plan only reads them (nothing is installed)
    const hostRoot = await makeHostRoot('bundle-plan');
    const bin = join(hostRoot, 'usr/bin');
    await mkdir(bin, { recursive: true });
    const stubs: Record<string, string> = {
      'dpkg-query': 'exit 1',
      'apt-get': 'exit 0',
      'apt-mark': 'exit 0',
      systemctl: 'echo disabled; exit 1',
    };
    for (const [name, body] of Object.entries(stubs)) {
      await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(bin, name), 0o755);
    }
    const token = (await kctl(['token', 'create'], { env: env() })).stdout.trim();
    const planner = await startAgentProcess({
      name: 'bundle-plan',
      controller,
      token,
      hostRoot,
      extra: { programPath: [bin] },
    });
    try {
      await waitFor(
        'second agent online',
        async () =>
          (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some(
            (h) => h.name === 'bundle-plan' && h.online,
          ),
        20_000,
      );
      const clusterFile = join(work, 'cluster.yaml');
      await writeFile(
        clusterFile,
        [
          'apiVersion: kctl.dev/v1alpha1',
          'kind: Cluster',
          'name: offline',
          'kubernetesVersion: v1.31.2',
          'controlPlaneEndpoint: {host: 10.9.9.9}',
          'ha: {mode: external-lb}',
          'cni: {plugin: none}',
          'packages: {source: bundle}',
          'hosts:',
          '  - {name: bundle-plan, role: control-plane}',
          '',
        ].join('\n'),
      );
      const plan = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
      expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(
        /\+ bundle file \/var\/lib\/kctl\/bundle\/apt\/pool\/kctl-test-tool_1\.0_all\.deb \(\d+ bytes, sha256 [0-9a-f]{12}…\)/,
      );
      expect(plan.stdout).toContain('+ bundle file /var/lib/kctl/bundle/bin/tool (5242880 bytes');
      expect(plan.stdout).toContain('+ file /etc/apt/keyrings/kctl-bundle.gpg (mode 644)');
      expect(plan.stdout).toContain(
        '+deb [signed-by=/etc/apt/keyrings/kctl-bundle.gpg] file:/var/lib/kctl/bundle/apt ./',
      );
      // a version the bundle does not carry is refused while planning, not by apt on the host
      await writeFile(clusterFile, (await readFile(clusterFile, 'utf8')).replace('v1.31.2', 'v1.31.3'));
      const missing = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        'kubernetesVersion: the offline bundle does not carry kubelet 1.31.3-1.1 (the bundle has 1.31.2-1.1)',
      );
    } finally {
      await planner.proc.stop();
      await cleanup([planner.stateDir, hostRoot]);
    }
  });

  it('a file tampered with on the controller after signing is refused, and the good copy stays', async () => {
    // a new version is published and signed, then the served bytes are altered behind the manifest
    const next = Buffer.alloc(tool.length, 0x43);
    await writeFile(join(bundle, 'bin/tool'), next);
    await writeManifest(bundle);
    const tampered = Buffer.from(next);
    tampered[12345] = 0x44;
    await writeFile(join(bundle, 'bin/tool'), tampered);

    const apply = await op('host.apply');
    const reports = (apply.outcome as { value: { reports: StepReport[] } }).value.reports;
    const report = bundleStep(reports);
    expect(report?.status).toBe('failed');
    expect(report?.error?.message).toMatch(
      /"\/var\/lib\/kctl\/bundle\/bin\/tool": SHA-256 does not match the signed manifest/,
    );
    const root = join(agent.hostRoot, 'var/lib/kctl/bundle');
    expect(sha(await readFile(join(root, 'bin/tool')))).toBe(sha(tool));
    expect((await readdir(join(root, 'bin'))).filter((n) => n.includes('kctl-tmp'))).toEqual([]);

    // the controller serves the right bytes again: the next apply converges
    await writeFile(join(bundle, 'bin/tool'), next);
    const fixed = await op('host.apply');
    const ok = bundleStep((fixed.outcome as { value: { reports: StepReport[] } }).value.reports);
    expect(ok?.status, JSON.stringify(ok?.error)).toBe('applied');
    expect(sha(await readFile(join(root, 'bin/tool')))).toBe(sha(next));
  });
});
