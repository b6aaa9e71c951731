import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../proto/logging.js';
import type { HostFacts } from '../proto/facts.js';
import { PROTOCOL_VERSION } from '../proto/version.js';
import { AgentEndpoint } from './agent-endpoint.js';
import { ControllerMetrics } from './metrics.js';
import type { AgentRegistry } from './registry.js';
import { SqliteStore } from './store/sqlite-store.js';
import { sqliteAsAsyncStore } from './store/sqlite-async-store.js';
import { FactsWriter } from './store/facts-writer.js';

const FACTS: HostFacts = {
  hostname: 'h',
  machineId: 'm',
  productUuid: 'u',
  macs: [],
  ips: ['127.0.0.1'],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
  kubeletVersion: 'v1.31.2',
};

/** Issue 13 part 1: the controller's side of a facts frame. */
describe('facts frames', () => {
  let wss: WebSocketServer;
  let port: number;
  const store = new SqliteStore(':memory:');
  const log = createLogger({ name: 'test', destination: new PassThrough() });
  const writer = new FactsWriter({ store: sqliteAsAsyncStore(store), log, flushEveryMs: 60_000 });

  beforeAll(async () => {
    store.createHost({
      id: 'h-1',
      name: 'h',
      labels: {},
      state: 'active',
      certSerial: '01',
      certNotAfter: 0,
      enrolledAt: 0,
    });
    const registry = {
      attach: () => 'attached',
      detach: () => undefined,
      recheck: () => 'current',
    } as unknown as AgentRegistry;
    const endpoint = new AgentEndpoint({
      store: sqliteAsAsyncStore(store),
      registry,
      metrics: new ControllerMetrics(),
      log,
      heartbeatIntervalMs: 60_000,
      facts: writer,
      // heartbeat times are not what this test is about (and would outlive the store at the end)
      lastSeen: { note: () => undefined, forget: () => undefined },
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => {
      const host = store.getHost('h-1');
      if (host) endpoint.onConnection(ws, host, '127.0.0.1');
    });
    await new Promise((r) => wss.once('listening', r));
    const a = wss.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(async () => {
    await new Promise<void>((r) => wss.close(() => r()));
    store.close();
  });

  const connect = async (): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.on('error', () => undefined);
    await new Promise((r) => ws.once('open', r));
    const welcome = new Promise((r) => ws.once('message', r));
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: '0.0.0',
        facts: FACTS,
      }),
    );
    await welcome;
    return ws;
  };

  it('merges changed and removed keys, and writes them only at the batch flush', async () => {
    const ws = await connect();
    ws.send(JSON.stringify({ type: 'facts', changed: { kernel: '6.2' }, removed: [] }));
    ws.send(
      JSON.stringify({
        type: 'facts',
        changed: { kubePackages: { kubelet: '1.32.0-1.1' } },
        removed: ['kubeletVersion'],
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    // the hello's facts wait in the same batch (issue 12, finding 12): one pending row for the host
    expect(store.getHost('h-1')?.facts).toBeNull();
    expect(writer.pendingCount()).toBe(1);
    await writer.flush();
    const facts = store.getHost('h-1')?.facts;
    expect(facts).toEqual({
      ...FACTS,
      kernel: '6.2',
      kubePackages: { kubelet: '1.32.0-1.1' },
      kubeletVersion: undefined,
    });
    expect(facts && 'kubeletVersion' in facts).toBe(false);
    ws.close();
  });

  it.each([
    ['removes a required fact', { type: 'facts', changed: {}, removed: ['hostname'] }],
    ['names a fact that does not exist', { type: 'facts', changed: { shoeSize: 44 }, removed: [] }],
    ['carries a bad value', { type: 'facts', changed: { cpus: -1 }, removed: [] }],
  ])('refuses a frame that %s (1008), and writes nothing', async (_what, frame) => {
    const ws = await connect();
    await writer.flush();
    const closed = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    ws.send(JSON.stringify(frame));
    expect(await closed).toBe(1008);
    expect(writer.pendingCount()).toBe(0);
  });
});
