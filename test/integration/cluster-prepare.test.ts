import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
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

/** Issue 3: plan -> apply -> plan on temp host roots, through a real controller and real agents. */
describe('host preparation through kctl plan and apply', () => {
  let controller: ControllerHandle;
  const agents: AgentHandle[] = [];
  let dir: string;
  let clusterFile: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const token = (await kctl(['token', 'create', '--uses', '2'], { env: env() })).stdout.trim();
    agents.push(await startAgentProcess({ name: 'prep-cp', controller, token }));
    agents.push(await startAgentProcess({ name: 'prep-w', controller, token }));
    await waitFor(
      'agents online',
      async () =>
        (await controller.api.get('/v1/admin/hosts', HostList)).hosts.filter((h) => h.online).length === 2,
      20_000,
    );
    dir = await tempDir('cluster');
    clusterFile = join(dir, 'cluster.yaml');
    await writeFile(
      clusterFile,
      [
        'apiVersion: kctl.dev/v1alpha1',
        'kind: Cluster',
        'name: prep',
        'kubernetesVersion: v1.31.2',
        'controlPlaneEndpoint: {host: k8s-api.prep.internal, address: 10.9.9.9}',
        'cni: {plugin: none}',
        'packages: {source: preinstalled}',
        'hosts:',
        '  - {name: prep-cp, role: control-plane}',
        '  - {name: prep-w, role: worker}',
        '',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.proc.stop()));
    await controller.proc.stop();
    await cleanup([controller.dataDir, dir, ...agents.flatMap((a) => [a.stateDir, a.hostRoot])]);
  });

  it('plan shows the changes, apply makes them, and a second plan shows none', async () => {
    const plan = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('== Prepare hosts');
    expect(plan.stdout).toContain('~ sysctl net.ipv4.ip_forward: 0 -> 1');
    expect(plan.stdout).toContain('+ file /etc/sysctl.d/99-kctl.conf');
    expect(plan.stdout).toContain('+net.ipv4.ip_forward = 1');
    expect(plan.stdout).toContain('+10.9.9.9 k8s-api.prep.internal');
    // nothing was touched by plan
    expect(await readFile(join(agents[0]!.hostRoot, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('0\n');

    const apply = await kctl(['apply', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/== Prepare hosts: 2 task\(s\)/);
    expect(apply.stdout).toMatch(/apply succeeded/);
    for (const a of agents) {
      expect(await readFile(join(a.hostRoot, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('1\n');
      expect(await readFile(join(a.hostRoot, 'etc/sysctl.d/99-kctl.conf'), 'utf8')).toContain(
        'net.bridge.bridge-nf-call-iptables = 1',
      );
      expect(await readFile(join(a.hostRoot, 'etc/hosts'), 'utf8')).toContain(
        '10.9.9.9 k8s-api.prep.internal',
      );
    }

    const status = await kctl(['status'], { env: env() });
    expect(status.stdout).toMatch(/cluster prep: apply \S+ succeeded/);
    expect(status.stdout).toMatch(/Prepare hosts\s+\[#{20}\] 2\/2/);

    const again = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
    expect(again.stdout).toContain('cluster prep: no changes.');
    const second = await kctl(['apply', '-f', clusterFile, '--phases', 'prepare', '-o', 'json'], {
      env: env(),
    });
    const events = second.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; status?: string });
    // a second apply says so, and runs no host task
    expect(events).toEqual([{ type: 'no-changes', cluster: 'prep' }]);
    expect(second.code).toBe(0);
  });

  it('refuses a saved plan once the hosts have moved on', async () => {
    const saved = join(dir, 'plan.json');
    await writeFile(join(agents[1]!.hostRoot, 'proc/sys/net/ipv4/ip_forward'), '0\n');
    const plan = await kctl(['plan', '-f', clusterFile, '--phases', 'prepare', '-o', saved], { env: env() });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('prep-w: converge host');
    // someone changes the host after the plan was reviewed
    await writeFile(join(agents[1]!.hostRoot, 'etc/hosts'), '127.0.0.1 localhost\n10.1.1.1 other\n');
    const apply = await kctl(['apply', saved], { env: env() });
    expect(apply.code).toBe(1);
    expect(apply.stdout + apply.stderr).toMatch(/no longer matches the hosts/);
    expect(await readFile(join(agents[1]!.hostRoot, 'proc/sys/net/ipv4/ip_forward'), 'utf8')).toBe('0\n');
    // a fresh plan applies
    const fresh = join(dir, 'fresh.json');
    await kctl(['plan', '-f', clusterFile, '--phases', 'prepare', '-o', fresh], { env: env() });
    const ok = await kctl(['apply', fresh], { env: env() });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('reports every invalid field of cluster.yaml with its path and touches nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      (await readFile(clusterFile, 'utf8'))
        .replace('role: worker', 'role: boss')
        .replace('v1.31.2', 'v1.20.0'),
    );
    const r = await kctl(['plan', '-f', bad], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('hosts[1].role');
    const unknown = join(dir, 'unknown.yaml');
    await writeFile(unknown, (await readFile(clusterFile, 'utf8')).replace('name: prep-w', 'name: ghost'));
    const u = await kctl(['apply', '-f', unknown, '--phases', 'prepare'], { env: env() });
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('hosts[1]: no enrolled host is named "ghost"');
  });
});
