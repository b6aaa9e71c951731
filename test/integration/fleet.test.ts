import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditList, HostList, RunOpResponse } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

/**
 * Issue 2's "done when": a real controller and 3 real agent processes on loopback, each with its
 * own state dir and host root, enrolled with one token; a controller kill -9 and restart brings all
 * three back online within 10 s without enrolling again.
 */
describe('a controller with three agents on loopback', () => {
  let controller: ControllerHandle;
  const agents: AgentHandle[] = [];
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const created = await kctl(
      ['token', 'create', '--ttl', '10m', '--uses', '3', '--labels', 'role=worker'],
      { env: env() },
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    for (const name of ['node-a', 'node-b', 'node-c']) {
      agents.push(await startAgentProcess({ name, controller, token }));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.proc.stop()));
    await controller?.proc.stop();
    await cleanup([controller.dataDir, ...agents.flatMap((a) => [a.stateDir, a.hostRoot])]);
  });

  const onlineNames = async (): Promise<string[]> => {
    const { hosts } = await controller.api.get('/v1/admin/hosts', HostList, 2000);
    return hosts
      .filter((h) => h.online)
      .map((h) => h.name)
      .sort();
  };

  it('enrolls all three with one token and lists them online with kctl hosts -o json', async () => {
    await waitFor('3 hosts online', async () => (await onlineNames()).length === 3, 20_000);
    const r = await kctl(['hosts', '-o', 'json'], { env: env() });
    expect(r.code).toBe(0);
    const hosts = HostList.shape.hosts.parse(JSON.parse(r.stdout));
    expect(hosts.map((h) => h.name).sort()).toEqual(['node-a', 'node-b', 'node-c']);
    for (const h of hosts) {
      expect(h.online).toBe(true);
      expect(h.os).toBe('Debian GNU/Linux 12 (bookworm)');
      expect(h.kernel).toBe('6.1.0-27-amd64');
      expect(h.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
      expect(h.ip).toBe('127.0.0.1');
      expect(h.labels).toEqual({ role: 'worker' });
    }
    const table = await kctl(['hosts'], { env: env() });
    expect(table.stdout).toMatch(/^NAME\s+STATUS\s+LAST SEEN\s+IP\s+OS\s+KERNEL\s+AGENT/);
    expect(table.stdout).toMatch(/node-a\s+online/);
  });

  it('stores the agent key and certificate 0600 in the state dir', async () => {
    for (const a of agents) {
      for (const f of ['agent.key', 'agent.crt', 'identity.json']) {
        const s = await stat(join(a.stateDir, 'state', f));
        expect(s.mode & 0o777).toBe(0o600);
      }
      expect((await stat(join(a.stateDir, 'state'))).mode & 0o777).toBe(0o700);
    }
  });

  it('the token is used up after three enrollments and is never in any log', async () => {
    const list = await kctl(['token', 'list', '-o', 'json'], { env: env() });
    const tokens = JSON.parse(list.stdout) as Array<{ usesLeft: number }>;
    expect(tokens[0]?.usesLeft).toBe(0);
    const keyPems = await Promise.all(
      agents.map((a) => readFile(join(a.stateDir, 'state', 'agent.key'), 'utf8')),
    );
    for (const a of agents) {
      const config = await readFile(a.configFile, 'utf8');
      const token = /token: (\S+)/.exec(config)?.[1] ?? 'missing';
      expect(a.proc.output()).not.toContain(token);
      expect(controller.proc.output()).not.toContain(token);
      expect(token.length).toBe(23);
    }
    for (const pem of keyPems) {
      const body = pem.split('\n')[1] ?? 'x';
      for (const a of agents) expect(a.proc.output()).not.toContain(body);
      expect(controller.proc.output()).not.toContain(body);
    }
  });

  it('runs a typed op on a host and refuses an unknown op with a typed error', async () => {
    const ok = await controller.api.post(
      '/v1/admin/ops',
      { host: 'node-a', op: 'ping', args: {} },
      RunOpResponse,
    );
    expect(ok.outcome.ok).toBe(true);
    await expect(
      controller.api.post(
        '/v1/admin/ops',
        { host: 'node-a', op: 'shell.exec', args: { cmd: 'id' } },
        RunOpResponse,
      ),
    ).rejects.toMatchObject({ code: 'unknown_op' });
    const bad = await controller.api.post(
      '/v1/admin/ops',
      { host: 'node-a', op: 'ping', args: { delayMs: 'soon' } },
      RunOpResponse,
    );
    expect(bad.outcome).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    if (!bad.outcome.ok) expect(bad.outcome.error.message).toContain('args.delayMs');
  });

  it('brings all three back online within 10 s after the controller is killed and restarted, without enrolling again', async () => {
    const before = (await controller.api.get('/v1/admin/hosts', HostList)).hosts.map((h) => h.id).sort();
    await controller.proc.stop('SIGKILL');
    await controller.start();
    const t0 = Date.now();
    await waitFor('3 hosts online again', async () => (await onlineNames()).length === 3, 10_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const after = (await controller.api.get('/v1/admin/hosts', HostList)).hosts.map((h) => h.id).sort();
    expect(after).toEqual(before);
    const { entries } = await controller.api.get('/v1/admin/audit?limit=1000', AuditList);
    expect(entries.filter((e) => e.action === 'host.enroll')).toHaveLength(3);
  });

  it('an agent stops cleanly on SIGTERM and the controller sees it offline at once', async () => {
    const agent = agents[2]!;
    const code = await agent.proc.stop('SIGTERM');
    expect(code).toBe(0);
    expect(agent.proc.output()).toMatch(/"msg":"stopping"/);
    await waitFor('node-c offline', async () => !(await onlineNames()).includes('node-c'), 2000);
  });
});
