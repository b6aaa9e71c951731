import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../proto/logging.js';
import { MAX_FRAME_BYTES } from '../proto/version.js';
import { AgentEndpoint, wsRejectReason } from './agent-endpoint.js';
import { ControllerMetrics } from './metrics.js';
import type { AgentRegistry } from './registry.js';
import type { AsyncStore, HostRecord } from './store/store.js';

/**
 * Regression (found by test/fuzz/live-controller.test.ts): violations that ws itself catches
 * (too many fragments, invalid UTF-8) closed the connection but were not counted as rejected frames.
 */
describe('frames that ws refuses before the endpoint parses them', () => {
  let wss: WebSocketServer;
  let port: number;
  const metrics = new ControllerMetrics();

  beforeAll(async () => {
    const endpoint = new AgentEndpoint({
      // no hello is ever accepted here, so store and registry are never reached
      store: {} as AsyncStore,
      registry: {} as AgentRegistry,
      metrics,
      log: createLogger({ name: 'test', destination: new PassThrough() }),
      heartbeatIntervalMs: 60_000,
    });
    // the limits the controller's server sets (controller/server.ts)
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      maxFragments: 64,
      maxBufferedChunks: 256,
    });
    wss.on('connection', (ws) =>
      endpoint.onConnection(ws, { id: 'h-1', name: 'h' } as HostRecord, '127.0.0.1'),
    );
    await new Promise((r) => wss.once('listening', r));
    const a = wss.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  it.each([
    [
      '65 fragments',
      1008,
      'too_many_buffered_parts',
      (ws: WebSocket) => {
        for (let i = 0; i < 65; i++) ws.send('x', { fin: i === 64 });
      },
    ],
    [
      'invalid UTF-8 in a text frame',
      1007,
      'invalid_utf8',
      (ws: WebSocket) => {
        ws.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
      },
    ],
    [
      'a frame over maxPayload',
      1009,
      'frame_too_large',
      (ws: WebSocket) => {
        ws.send('x'.repeat(MAX_FRAME_BYTES + 1));
      },
    ],
  ])('%s closes with %i and counts reason %s', async (_what, code, reason, send) => {
    const before = metrics.framesRejected.get(reason) ?? 0;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.on('error', () => undefined);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    send(ws);
    expect(await closed).toBe(code);
    expect(metrics.framesRejected.get(reason)).toBe(before + 1);
  });

  it('does not count a socket error that is no frame', () => {
    expect(
      wsRejectReason(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    ).toBeUndefined();
  });
});
