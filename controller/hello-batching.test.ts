import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
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
import { readsAfterFlush } from './store/reads-after-flush.js';

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

const hello = (facts: HostFacts, agentVersion = '0.0.1'): string =>
  JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion, facts });

function makeStore(ids: string[]): SqliteStore {
  const store = new SqliteStore(':memory:');
  for (const id of ids)
    store.createHost({
      id,
      name: id,
      labels: {},
      state: 'active',
      certSerial: '01',
      certNotAfter: 0,
      enrolledAt: 0,
    });
  return store;
}

/** Log lines the endpoint wrote, parsed. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines: Array<{ msg?: string }> } {
  const lines: Array<{ msg?: string }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as { msg?: string });
      done();
    },
  });
  return { log: createLogger({ name: 'test', destination, level: 'debug' }), lines };
}

function attachingRegistry(): { registry: AgentRegistry; attach: ReturnType<typeof vi.fn> } {
  const attach = vi.fn(() => 'attached');
  const registry = { attach, detach: () => undefined, recheck: () => 'current' } as unknown as AgentRegistry;
  return { registry, attach };
}

/** Issue 12, finding 12: hellos are written like heartbeats, in batches, and readers still see them. */
describe('hello writes', () => {
  let wss: WebSocketServer;
  let port: number;
  const ids = ['h-1', 'h-2', 'h-3'];
  const sqlite = makeStore(ids);
  const store = sqliteAsAsyncStore(sqlite);
  const { log } = capturedLog();
  const writer = new FactsWriter({ store, log, flushEveryMs: 60_000 });
  const reader = readsAfterFlush(store, () => writer.flush());
  let next = 0;

  beforeAll(async () => {
    const endpoint = new AgentEndpoint({
      store,
      registry: attachingRegistry().registry,
      metrics: new ControllerMetrics(),
      log,
      heartbeatIntervalMs: 60_000,
      facts: writer,
      lastSeen: { note: () => undefined, forget: () => undefined },
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => {
      const id = ids[next++ % ids.length] ?? 'h-1';
      endpoint.onConnection(ws, { id, name: id, certSerial: '01' }, `127.0.0.${next}`);
    });
    await new Promise((r) => wss.once('listening', r));
    const a = wss.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(async () => {
    await new Promise<void>((r) => wss.close(() => r()));
    await store.close();
  });

  const connect = async (facts: HostFacts): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.on('error', () => undefined);
    await new Promise((r) => ws.once('open', r));
    const welcome = new Promise((r) => ws.once('message', r));
    ws.send(hello(facts));
    await welcome;
    return ws;
  };

  it('makes no store write per hello, then one transaction for all of them at the flush', async () => {
    const transaction = vi.spyOn(store, 'transaction');
    const write = vi.spyOn(sqlite, 'recordHostSeen');
    const sockets = await Promise.all(ids.map((_, i) => connect({ ...FACTS, cpus: i + 1 })));
    expect(write).not.toHaveBeenCalled();
    expect(writer.pendingCount()).toBe(3);
    await writer.flush();
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledTimes(3);
    const byCpus = sqlite
      .listHosts()
      .map((h) => [h.facts?.cpus, h.agentVersion, h.lastIp?.startsWith('127.0.0.')] as const)
      .sort();
    expect(byCpus).toEqual([
      [1, '0.0.1', true],
      [2, '0.0.1', true],
      [3, '0.0.1', true],
    ]);
    for (const ws of sockets) ws.close();
    transaction.mockRestore();
    write.mockRestore();
  });

  it('a reader of host rows right after the welcome sees the hello (flush before read)', async () => {
    const ws = await connect({ ...FACTS, kernel: '6.9-after-hello' });
    expect(writer.pendingCount()).toBe(1);
    const seen = (await reader.listHosts()).find((h) => h.facts?.kernel === '6.9-after-hello');
    expect(seen?.agentVersion).toBe('0.0.1');
    expect(writer.pendingCount()).toBe(0);
    // reads that need no facts do not break the batch up
    const ws2 = await connect({ ...FACTS, kernel: '7.0' });
    await reader.getHostState('h-1');
    expect(writer.pendingCount()).toBe(1);
    expect((await reader.getHost(ids[(next - 1) % ids.length] ?? ''))?.facts?.kernel).toBe('7.0');
    ws.close();
    ws2.close();
  });

  it('a facts frame after a pending hello keeps the hello address and agent version', async () => {
    writer.noteHello('h-1', { at: 10, ip: '10.0.0.1', agentVersion: '9.9.9', facts: FACTS });
    writer.note('h-1', { ...FACTS, kernel: '6.5' }, 5);
    await writer.flush();
    expect(sqlite.getHost('h-1')).toMatchObject({
      lastIp: '10.0.0.1',
      agentVersion: '9.9.9',
      lastSeenAt: 10,
      facts: { kernel: '6.5' },
    });
  });
});

/** A stand-in WebSocket: frames are delivered by the test, in the state the test chose. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  sent: string[] = [];
  closedWith: number | undefined;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code: number): void {
    this.closedWith = code;
    this.readyState = 2;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

/**
 * Issue 12, finding 12: in a storm, hellos already queued on sockets that were closing were still
 * processed ("agent online" and a host write for a socket about to go). Nothing is done for them.
 */
describe('a hello read from a socket that is closing', () => {
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    const sqlite = makeStore(['h-1']);
    const store = sqliteAsAsyncStore(sqlite);
    const { log, lines } = capturedLog();
    const writer = new FactsWriter({ store, log, flushEveryMs: 60_000 });
    const { registry, attach } = attachingRegistry();
    const metrics = new ControllerMetrics();
    const endpoint = new AgentEndpoint({
      store,
      registry,
      metrics,
      log,
      heartbeatIntervalMs: 60_000,
      facts: writer,
      lastSeen: { note: () => undefined, forget: () => undefined },
    });
    const ws = new FakeSocket();
    endpoint.onConnection(ws as unknown as WebSocket, { id: 'h-1', name: 'h', certSerial: '01' }, '10.0.0.1');
    const nothingDone = (): void => {
      expect(attach).not.toHaveBeenCalled();
      expect(writer.pendingCount()).toBe(0);
      expect(lines.filter((l) => l.msg === 'agent online')).toEqual([]);
      expect(ws.sent.some((f) => f.includes('"welcome"'))).toBe(false);
      // nothing was noted, so there is nothing to flush
      void writer.flush();
      expect(sqlite.getHost('h-1')?.facts).toBeNull();
      expect(metrics.framesRejected.get('hello_after_close')).toBe(1);
      sqlite.close();
    };
    return { ws, nothingDone, attach, writer, store, lines };
  };

  it.each([
    ['closing (the peer sent its close, or gave up)', 2],
    ['closed', 3],
  ])('is dropped when the socket is %s', (_what, state) => {
    const { ws, nothingDone } = setup();
    ws.readyState = state;
    ws.emit('message', Buffer.from(hello(FACTS)), false);
    nothingDone();
  });

  it('is dropped once the hello timer closed the connection (4008)', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate'],
    });
    const { ws, attach, writer, lines, store } = setup();
    await vi.advanceTimersByTimeAsync(10_000);
    // the timer decides after queued I/O was read (two turns of setImmediate)
    await vi.advanceTimersByTimeAsync(10);
    expect(ws.closedWith).toBe(4008);
    ws.emit('message', Buffer.from(hello(FACTS)), false);
    expect(attach).not.toHaveBeenCalled();
    expect(writer.pendingCount()).toBe(0);
    expect(lines.filter((l) => l.msg === 'agent online')).toEqual([]);
    await store.close();
  });

  it('is taken when the socket is open (the control case)', async () => {
    const { ws, attach, writer, lines, store } = setup();
    ws.emit('message', Buffer.from(hello(FACTS)), false);
    expect(attach).toHaveBeenCalledTimes(1);
    expect(writer.pendingCount()).toBe(1);
    expect(lines.filter((l) => l.msg === 'agent online')).toHaveLength(1);
    ws.emit('close', 1000);
    await store.close();
  });
});
