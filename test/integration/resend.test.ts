import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostList, RunOpResponse } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  startProxy,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

/** At-least-once delivery, exactly-once execution: a command re-sent after a reconnect runs once. */
describe('a command re-sent after a reconnect', () => {
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let proxy: Awaited<ReturnType<typeof startProxy>>;

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    proxy = await startProxy(controller.port);
    const token = (
      await kctl(['token', 'create'], { env: { KCTL_CONFIG: controller.clientConfig } })
    ).stdout.trim();
    agent = await startAgentProcess({
      name: 'flaky',
      controller: { ...controller, url: `https://127.0.0.1:${proxy.port}` },
      token,
    });
    await waitFor('agent online', async () =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
    );
  }, 30_000);

  afterAll(async () => {
    await agent.proc.stop();
    await controller.proc.stop();
    await proxy.close();
    await cleanup([controller.dataDir, agent.stateDir, agent.hostRoot]);
  });

  it('does not run twice when the connection drops while it runs', async () => {
    const pending = controller.api.post(
      '/v1/admin/ops',
      { host: 'flaky', op: 'ping', args: { delayMs: 1500 }, timeoutMs: 20_000 },
      RunOpResponse,
    );
    await waitFor(
      'command running on the agent',
      () => Promise.resolve(agent.proc.output().includes('command started')),
      5000,
      20,
    );
    proxy.cut();
    const result = await pending;
    expect(result.outcome.ok).toBe(true);
    const lines = agent.proc
      .output()
      .split('\n')
      .filter((l) => l.includes(result.commandId));
    // the controller re-sent it on reconnect, the agent joined the running copy, and it ran once
    expect(
      lines.filter((l) => l.includes('command re-sent while running') || l.includes('answered from journal')),
    ).toHaveLength(1);
    expect(lines.filter((l) => l.includes('command started'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('command finished'))).toHaveLength(1);
    expect(agent.proc.output()).toMatch(/disconnected/);
  });

  it('answers a re-send after completion from the journal, across an agent restart', async () => {
    await waitFor('agent online', async () =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
    );
    const first = await controller.api.post(
      '/v1/admin/ops',
      { host: 'flaky', op: 'ping', args: {} },
      RunOpResponse,
    );
    expect(first.replayed).toBe(false);
    await agent.proc.stop();
    agent.start();
    await waitFor('agent back online', async () =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
    );
    // the journal survived the restart: the entry for the command is still on disk
    const { readFile } = await import('node:fs/promises');
    const entry = JSON.parse(
      await readFile(`${agent.stateDir}/state/journal/${first.commandId}.json`, 'utf8'),
    ) as { status: string };
    expect(entry.status).toBe('done');
  });
});
