import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HostList } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

/** This machine's kernel has no IP_VS (no /proc/modules, no ip_vs under /proc/net): the finding must show. */
const noIpvs =
  !existsSync('/proc/net/ip_vs') &&
  !(existsSync('/proc/modules') && readFileSync('/proc/modules', 'utf8').includes('ip_vs'));

describe.skipIf(!noIpvs)('kctl preflight against an agent on this machine (kernel without IP_VS)', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let dir: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });
  const name = hostname().toLowerCase();

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const token = (await kctl(['token', 'create'], { env: env() })).stdout.trim();
    agent = await startAgentProcess({ name, controller, token, hostRoot: '/' });
    await waitFor(
      'agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      20_000,
    );
    dir = await tempDir('preflight');
  }, 60_000);

  afterAll(async () => {
    await agent.proc.stop();
    await controller.proc.stop();
    await cleanup([controller.dataDir, agent.stateDir, dir]);
  });

  it('fails the kube-proxy ipvs module check with the remedy to use iptables or nftables', async () => {
    const file = join(dir, 'cluster.yaml');
    await writeFile(
      file,
      `apiVersion: kctl.dev/v1alpha1\nkind: Cluster\nname: real\nkubernetesVersion: v1.33.2\ncontrolPlaneEndpoint: {host: 127.0.0.1}\nkubeProxy: {mode: ipvs}\ncni: {plugin: none}\nhosts:\n  - {name: ${name}, role: control-plane}\n`,
    );
    const r = await kctl(['preflight', '-f', file], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/KernelModules-KubeProxy\s+fail/);
    expect(r.stdout).toMatch(/ip_vs/);
    expect(r.stdout).toMatch(/use kube-proxy mode iptables or nftables, or a kernel with IP_VS/);

    const json = await kctl(['preflight', '-f', file, '-o', 'json'], { env: env() });
    const report = JSON.parse(json.stdout) as {
      hosts: Array<{ results: Array<{ id: string; status: string }>; durationMs: number }>;
    };
    expect(report.hosts[0]?.results.find((c) => c.id === 'KernelModules-KubeProxy')?.status).toBe('fail');
    expect(report.hosts[0]?.durationMs).toBeLessThan(1000);
  });
});
