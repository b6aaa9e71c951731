import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { HostList, PreflightResponse, RunOpResponse } from '../../proto/admin-api.js';
import {
  REPO,
  cleanup,
  kctl,
  makeHostRoot,
  startControllerProcess,
  startProcess,
  tempDir,
  waitFor,
  type ControllerHandle,
  type Proc,
} from './harness.js';

const TEN_MINUTES = 600_000;

/**
 * A real agent process whose wall clock runs 10 minutes ahead of the controller's (Date is shifted
 * by a preload; the monotonic clock and TLS keep real time). Commands must still run (freshness is
 * judged on the controller's clock, measured over the channel), the agent must report its offset,
 * and preflight must warn about it (ClockOffset).
 */
describe('an agent whose clock is 10 minutes ahead', () => {
  let controller: ControllerHandle;
  let agent: Proc;
  let work: string;
  let hostRoot: string;

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    const env = { KCTL_CONFIG: controller.clientConfig };
    const token = (await kctl(['token', 'create'], { env })).stdout.trim();
    work = await tempDir('clock-skew');
    hostRoot = await makeHostRoot('ahead');
    const configFile = join(work, 'agent.yaml');
    await writeFile(
      configFile,
      toYaml({
        controller: controller.url,
        caPin: controller.caPin,
        token,
        stateDir: join(work, 'state'),
        hostRoot,
        heartbeatIntervalMs: 500,
        reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
        logLevel: 'debug',
      }),
    );
    agent = startProcess(
      ['--import', join(REPO, 'test/fixtures/skewed-clock.ts'), 'agent/main.ts', '--config', configFile],
      { env: { KCTL_TEST_CLOCK_SKEW_MS: String(TEN_MINUTES) } },
    );
    await waitFor(
      'agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nagent output:\n${agent.output().slice(-4000)}`);
    });
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await controller?.proc.stop();
    await cleanup([work, hostRoot, controller?.dataDir].filter((p) => p !== undefined));
  });

  it('runs commands: freshness is judged on the controller clock, not the host wall clock', async () => {
    for (const timeoutMs of [30_000, 2_000]) {
      const r = await controller.api.post(
        '/v1/admin/ops',
        { host: 'ahead', op: 'ping', args: {}, timeoutMs },
        RunOpResponse,
        40_000,
      );
      expect(r.outcome).toMatchObject({ ok: true });
    }
    // the agent measured its offset over the channel and says so in its log
    const line = agent
      .output()
      .split('\n')
      .find((l) => l.includes('clock differs from the controller by 30 s or more'));
    expect(line).toBeDefined();
    const offset = (JSON.parse(line ?? '{}') as { clockOffsetMs: number }).clockOffsetMs;
    expect(Math.abs(offset - TEN_MINUTES)).toBeLessThan(2000);
  }, 60_000);

  it('preflight warns with ClockOffset, naming how far ahead the host is', async () => {
    const r = await controller.api.post(
      '/v1/admin/preflight',
      { hosts: ['ahead'] },
      PreflightResponse,
      60_000,
    );
    const check = r.hosts[0]?.results?.find((c) => c.id === 'ClockOffset');
    expect(check).toMatchObject({ status: 'warn', severity: 'warning' });
    expect(check?.observed).toMatch(/^clock 600\.\d s ahead of the controller/);
  }, 90_000);
});
