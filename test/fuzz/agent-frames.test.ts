import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../proto/logging.js';
import type { HostFacts } from '../../proto/facts.js';
import { AgentConnection } from '../../agent/connection.js';
import type { CommandExecutor } from '../../agent/executor.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { startFakeController, type FakeController } from './fake-controller.js';

/**
 * Regression (found by test/fuzz/live-agent.test.ts): the agent parsed binary WebSocket frames as
 * JSON and acted on them, where the protocol is text frames only (the controller already refused
 * binary frames from agents). Now a binary frame is answered with a typed error and closed with 1008.
 */
describe('the agent connection and binary frames', () => {
  let fake: FakeController;
  let connection: AgentConnection;
  const executor = { handle: vi.fn(), cancel: vi.fn() };

  beforeAll(async () => {
    fake = await startFakeController({ hostId: 'h-bin', hostName: 'bin' });
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    connection = new AgentConnection({
      controller: fake.url,
      identity: {
        hostId: 'h-bin',
        hostName: 'bin',
        caPem: fake.caPem,
        certPem: await fake.signCsr(csrPem),
        keyPem,
      },
      heartbeatIntervalMs: 1000,
      reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
      facts: () => Promise.resolve({ hostname: 'bin' } as HostFacts),
      log: createLogger({ name: 'test', destination: new PassThrough() }),
    });
    connection.start(executor as unknown as CommandExecutor);
  });
  afterAll(async () => {
    await connection.stop();
    await fake.close();
  });

  it.each([
    [
      'a command',
      {
        type: 'command',
        id: 'c-1',
        hostId: 'h-bin',
        op: 'ping',
        args: {},
        issuedAt: 1,
        expiresAt: Date.now() + 60_000,
      },
    ],
    ['a cancel', { type: 'cancel', id: 'c-1' }],
  ])('refuses %s sent as a binary frame: typed error, close 1008, nothing run', async (_what, frame) => {
    const { ws, conn } = await fake.session();
    const from = fake.received.length;
    ws.send(Buffer.from(JSON.stringify(frame)), { binary: true });
    await vi.waitFor(() => expect(fake.closeCode(conn)).toBe(1008), { timeout: 5000 });
    const replies = fake.received.slice(from).filter((r) => r.conn === conn && r.frame.type === 'error');
    expect(replies.map((r) => r.frame)).toEqual([
      {
        type: 'error',
        error: { code: 'invalid_frame', message: 'binary frames are not accepted', retryable: false },
      },
    ]);
    expect(executor.handle).not.toHaveBeenCalled();
    expect(executor.cancel).not.toHaveBeenCalled();
    // and it reconnects
    await fake.session();
  });
});
