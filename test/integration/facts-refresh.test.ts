import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostList } from '../../proto/admin-api.js';
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

const REFRESH_MS = 500;
/** the agent's period with its +20 % jitter, plus the controller's one-second batch flush */
const WITHIN_MS = REFRESH_MS * 1.2 + 1000;

/**
 * Issue 13 part 1: a fact that changes on an enrolled host after its hello (a kubelet package
 * installed, a unit stopped) reaches `kctl hosts` within one refresh interval.
 */
describe('facts stay current', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let bin: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });
  const host = async () => {
    const { hosts } = await controller.api.get('/v1/admin/hosts', HostList, 2000);
    return hosts.find((h) => h.name === 'facts-a');
  };

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const created = await kctl(['token', 'create', '--ttl', '10m'], { env: env() });
    expect(created.code).toBe(0);
    // a host that stands for a booted one: systemd is init, and systemctl reads unit states from a file
    const hostRoot = await makeHostRoot('facts-a', { '/run/systemd/system/.keep': '' });
    bin = await tempDir('facts-bin');
    await writeFile(join(hostRoot, 'units'), 'active\nactive\nactive\n');
    await writeFile(join(bin, 'systemctl'), `#!/bin/sh\ncat ${join(hostRoot, 'units')}\n`);
    await chmod(join(bin, 'systemctl'), 0o755);
    agent = await startAgentProcess({
      name: 'facts-a',
      controller,
      token: created.stdout.trim(),
      hostRoot,
      extra: { factsRefreshMs: REFRESH_MS, programPath: [bin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'] },
    });
    await waitFor('facts-a online', async () => (await host())?.online === true, 30_000);
  }, 90_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await cleanup([controller.dataDir, agent.stateDir, agent.hostRoot, bin]);
  });

  it('shows a kubelet package installed and a unit stopped after enrolment within one refresh', async () => {
    const before = await host();
    expect(before?.facts?.services).toEqual({
      'containerd.service': 'active',
      'kubelet.service': 'active',
      'kctl-agent.service': 'active',
    });
    expect(before?.facts?.kubePackages).toBeUndefined();

    await mkdir(join(agent.hostRoot, 'var/lib/dpkg'), { recursive: true });
    await writeFile(
      join(agent.hostRoot, 'var/lib/dpkg/status'),
      'Package: kubelet\nStatus: install ok installed\nVersion: 1.31.2-1.1\n\n' +
        'Package: kubeadm\nStatus: install ok installed\nVersion: 1.31.2-1.1\n',
    );
    await writeFile(join(agent.hostRoot, 'units'), 'failed\nactive\nactive\n');
    const changedAt = Date.now();
    await waitFor(
      'the new facts in the controller',
      async () => (await host())?.facts?.kubePackages?.kubelet === '1.31.2-1.1',
      10_000,
      50,
    );
    const tookMs = Date.now() - changedAt;
    // slack for a loaded two-core machine: the admin API round trips and the agent's own re-read
    expect(tookMs).toBeLessThan(WITHIN_MS + 2000);
    const after = await host();
    expect(after?.facts?.services?.['containerd.service']).toBe('failed');
    expect(after?.facts?.hostname).toBe('facts-a');

    const table = await kctl(['hosts'], { env: env() });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/KUBE\s+SERVICES/);
    expect(table.stdout).toMatch(/facts-a\s.*v1\.31\.2\s+containerd failed\s+-\s+-\s*$/m);
  }, 30_000);

  it('shows the last kctl health run in kctl hosts', async () => {
    const health = await kctl(['health'], { env: env() });
    // containerd is failed on the host: critical
    expect(health.code).toBe(2);
    expect(health.stdout).toContain('containerd.service');
    const table = await kctl(['hosts'], { env: env() });
    expect(table.stdout).toMatch(/KUBE\s+SERVICES\s+HEALTH\s+APPLY/);
    expect(table.stdout).toMatch(/containerd failed\s+\d+ critical\b/);
    const { hosts } = await controller.api.get('/v1/admin/hosts', HostList, 2000);
    expect(hosts[0]?.health).toMatchObject({ worst: 'critical', error: null });
    expect(hosts[0]?.lastApply).toBeNull();
  }, 30_000);
});
