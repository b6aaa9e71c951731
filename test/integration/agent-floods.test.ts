import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../controller/close-codes.js';
import { DEFAULT_AGENT_LIMITS } from '../../controller/rate-limit.js';
import {
  connectFakeAgent,
  enrollFakeAgent,
  helloFrame,
  openAgentChannel,
  startInProcessController,
  type InProcessController,
} from './fake-agent.js';

/**
 * Issue 12, finding 3: an enrolled agent cannot make the controller process unbounded work or log.
 * Frames per connection, hellos and reconnects per host are rate limited (typed close 4029 or
 * HTTP 429, counted in kctl_agent_rate_limited_total), and what a peer's frame puts in the log is
 * capped and sampled. A well-behaved pace never reaches a limit.
 */
describe('floods from an enrolled agent', () => {
  let c: InProcessController;

  beforeAll(async () => {
    c = await startInProcessController();
  }, 30_000);
  afterAll(async () => {
    await c.close();
  });

  const limited = (limit: string): number => c.controller.metrics.rateLimited.get(limit) ?? 0;

  it('100,000 heartbeats in a burst close the connection with 4029 after about a thousand', async () => {
    const cred = await enrollFakeAgent(c, 'flood-hb');
    const agent = await connectFakeAgent(c, cred);
    const before = c.controller.metrics.heartbeatsReceived;
    for (let i = 0; i < 100_000 && agent.isOpen(); i++)
      agent.ws.send(JSON.stringify({ type: 'heartbeat', seq: i, sentAt: Date.now() }));
    const closed = await agent.closed;
    expect(closed.code).toBe(CloseCode.rateLimited);
    expect(agent.frames.find((f) => f.type === 'error')).toMatchObject({ error: { code: 'rate_limited' } });
    const processed = c.controller.metrics.heartbeatsReceived - before;
    expect(processed).toBeGreaterThanOrEqual(DEFAULT_AGENT_LIMITS.frames.capacity - 1);
    expect(processed).toBeLessThan(DEFAULT_AGENT_LIMITS.frames.capacity * 2);
    expect(limited('frames')).toBeGreaterThanOrEqual(1);
    const metrics = await fetchMetrics();
    expect(metrics).toMatch(/^kctl_agent_rate_limited_total\{limit="frames"\} [1-9]/m);
  });

  it('a flood of reconnects with hello is cut to the per-host budget', { timeout: 40_000 }, async () => {
    const cred = await enrollFakeAgent(c, 'flood-rc');
    const m = c.controller.metrics;
    const hellos = (): number => m.connectionsAccepted + (m.connectionsRefused.get('duplicate') ?? 0);
    const before = hellos();
    const started = Date.now();
    let attempts = 0;
    let refused429 = 0;
    const budgetAt = (seconds: number): number =>
      DEFAULT_AGENT_LIMITS.reconnects.capacity + DEFAULT_AGENT_LIMITS.reconnects.perSecond * seconds;
    // five seconds, or longer on a slow machine until the flood is well over the budget
    const flooding = (): boolean => {
      const s = (Date.now() - started) / 1000;
      return s < 5 || (s < 20 && attempts < 2 * budgetAt(s));
    };
    const loop = async (): Promise<void> => {
      while (flooding()) {
        attempts++;
        try {
          const s = await openAgentChannel(c, cred);
          s.ws.send(helloFrame(cred.hostName));
          await Promise.race([s.next('welcome', 5000), s.next('error', 5000)]).catch(() => undefined);
          s.ws.close();
          await s.closed;
        } catch (err) {
          if ((err as Error).message === 'HTTP 429') refused429++;
          else throw err;
        }
      }
    };
    await Promise.all([loop(), loop(), loop(), loop()]);
    const seconds = (Date.now() - started) / 1000;
    const budget = budgetAt(seconds);
    process.stderr.write(
      `reconnect flood: ${attempts} attempts in ${seconds.toFixed(1)} s, ${hellos() - before} hellos served, ${refused429} refused with 429\n`,
    );
    expect(attempts).toBeGreaterThan(budget);
    expect(hellos() - before).toBeLessThanOrEqual(Math.ceil(budget) + 4);
    expect(refused429).toBeGreaterThan(0);
    expect(limited('reconnects')).toBe(refused429);
  });

  it('20 error frames of 1 MB each add a few lines to the log, not megabytes', async () => {
    const cred = await enrollFakeAgent(c, 'flood-err');
    const agent = await connectFakeAgent(c, cred);
    const logBefore = c.logText().length;
    const big = {
      type: 'error',
      error: {
        code: 'io_error',
        message: 'm'.repeat(8000),
        details: { blob: 'x'.repeat(1_000_000) },
        retryable: false,
      },
    };
    for (let i = 0; i < 20; i++) agent.ws.send(JSON.stringify(big));
    // a heartbeat after them: once it is counted, all 20 were handled
    const hb = c.controller.metrics.heartbeatsReceived;
    agent.ws.send(JSON.stringify({ type: 'heartbeat', seq: 1, sentAt: Date.now() }));
    await waitUntil(() => c.controller.metrics.heartbeatsReceived > hb);
    const grown = c.logText().length - logBefore;
    expect(grown).toBeLessThan(16 * 1024);
    const lines = c
      .logText()
      .slice(logBefore)
      .split('\n')
      .filter((l) => l.includes('agent reported error'));
    expect(lines).toHaveLength(5);
    expect(lines[0]).toContain('more chars');
    expect(agent.isOpen()).toBe(true);
    agent.ws.close();
    await agent.closed;
  });

  it('a well-behaved pace, bursts included, reaches no limit', async () => {
    const cred = await enrollFakeAgent(c, 'steady');
    const agent = await connectFakeAgent(c, cred);
    const before = { ...Object.fromEntries(c.controller.metrics.rateLimited) };
    // a burst of progress frames (a converge reporting every step) and then a steady 100 frames a second
    for (let i = 0; i < 800; i++)
      agent.ws.send(JSON.stringify({ type: 'progress', id: 'c-1', message: `step ${i}` }));
    for (let t = 0; t < 20; t++) {
      for (let i = 0; i < 10; i++)
        agent.ws.send(JSON.stringify({ type: 'heartbeat', seq: i, sentAt: Date.now() }));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(agent.isOpen()).toBe(true);
    expect(Object.fromEntries(c.controller.metrics.rateLimited)).toEqual(before);
    agent.ws.close();
    expect((await agent.closed).code).not.toBe(CloseCode.rateLimited);
  });

  async function fetchMetrics(): Promise<string> {
    const { renderPrometheus } = await import('../../controller/metrics.js');
    return renderPrometheus(c.controller.metrics, { hostsByState: {}, agentsOnline: 0 });
  }
});

async function waitUntil(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
