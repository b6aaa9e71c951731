/**
 * The server under test in the scale benchmark, in its own process so that its memory and CPU are
 * its own: either the real kctl controller (startController: mutual TLS, the agent endpoint, the
 * registry, the SQLite store) or a raw `ws` server over the same mutual TLS that only echoes.
 * Driven over IPC by bench/controller-scale.ts; run with --expose-gc.
 *
 *   node --expose-gc --import tsx bench/scale-server.ts kctl|raw DATA_DIR LOG_FILE [STORE]
 *
 * STORE: a postgres:// connection string, for a controller replica (bench/replica-fanout.ts);
 * without it the data dir's SQLite store.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { startController } from '../controller/main.js';
import { MAX_FRAME_BYTES } from '../proto/version.js';
import { summarize } from './scale-stats.js';
import { processStats, reply, type FanoutResult, type ServerMode, type ServerRequest } from './scale-ipc.js';

const mode = process.argv[2] as ServerMode;
const dataDir = process.argv[3] ?? '';
const logFile = process.argv[4] ?? '/dev/null';
const store = process.argv[5];
if ((mode !== 'kctl' && mode !== 'raw') || dataDir === '') {
  process.stderr.write('usage: scale-server.ts kctl|raw DATA_DIR [LOG_FILE]\n');
  process.exit(2);
}

interface Target {
  port: number;
  online(): number;
  heartbeats(): number;
  fanout(timeoutMs: number, hostIds?: string[]): Promise<FanoutResult>;
  stop(): Promise<void>;
}

async function kctlTarget(): Promise<Target> {
  const log = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: false }));
  const c = await startController({
    dataDir,
    listen: '127.0.0.1:0',
    webListen: false,
    log,
    ...(store !== undefined ? { store } : {}),
  });
  return {
    port: c.port,
    online: () => c.registry.onlineCount(),
    heartbeats: () => c.metrics.heartbeatsReceived,
    // the path `ping` and every plan/apply command take: registry.sendCommand per host, the reply
    // validated against the op's result schema by the registry
    async fanout(timeoutMs, hostIds) {
      const ids =
        hostIds ?? (await c.store.listHosts()).filter((h) => c.registry.isOnline(h.id)).map((h) => h.id);
      const sinceStart: number[] = [];
      const roundTrip: number[] = [];
      const failureSamples: string[] = [];
      let failures = 0;
      const fail = (why: string): void => {
        failures++;
        if (failureSamples.length < 5) failureSamples.push(why);
      };
      const t0 = performance.now();
      const pending = ids.map((id) =>
        c.registry.sendCommand(id, 'ping', {}, { timeoutMs }).then(
          (r) => {
            const value = r.outcome.ok ? (r.outcome.value as { pong?: unknown }) : undefined;
            if (value?.pong !== true) return fail(JSON.stringify(r.outcome).slice(0, 200));
            sinceStart.push(performance.now() - t0);
            roundTrip.push(r.durationMs);
          },
          (err: Error) => fail(err.message),
        ),
      );
      const issueMs = performance.now() - t0;
      await Promise.all(pending);
      return {
        type: 'fanout',
        hosts: ids.length,
        sinceStart: summarize(sinceStart),
        roundTrip: summarize(roundTrip),
        issueMs,
        failures,
        failureSamples,
      };
    },
    stop: () => c.close(),
  };
}

async function rawTarget(): Promise<Target> {
  const read = (name: string): string => readFileSync(join(dataDir, name), 'utf8');
  const server = createServer({
    cert: read('server.crt'),
    key: read('server.key'),
    ca: [read('ca.crt')],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
    clientTracking: false,
  });
  const clients = new Set<WebSocket>();
  let onReply: ((ws: WebSocket, data: RawData) => boolean) | undefined;
  let received = 0;
  wss.on('connection', (ws) => {
    clients.add(ws);
    ws.on('message', (data, isBinary) => {
      received++;
      if (onReply?.(ws, data)) return;
      ws.send(data, { binary: isBinary }); // an echo server
    });
    ws.on('close', () => clients.delete(ws));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    online: () => clients.size,
    heartbeats: () => received,
    async fanout(timeoutMs) {
      const sinceStart: number[] = [];
      const sentAt = new Map<WebSocket, number>();
      const t0 = performance.now();
      let failures = 0;
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          failures = sentAt.size;
          resolve();
        }, timeoutMs);
        onReply = (ws, data) => {
          if (!sentAt.has(ws)) return false;
          const frame = JSON.parse(rawText(data)) as { type?: unknown };
          if (frame.type !== 'command') return false;
          sinceStart.push(performance.now() - t0);
          sentAt.delete(ws);
          if (sentAt.size === 0) {
            clearTimeout(timer);
            resolve();
          }
          return true;
        };
      });
      let k = 0;
      const hosts = clients.size;
      for (const ws of clients) {
        sentAt.set(ws, performance.now());
        ws.send(
          JSON.stringify({ type: 'command', id: `c${k++}`, op: 'ping', args: {}, issuedAt: Date.now() }),
        );
      }
      const issueMs = performance.now() - t0;
      await done;
      onReply = undefined;
      return {
        type: 'fanout',
        hosts,
        sinceStart: summarize(sinceStart),
        roundTrip: summarize([]),
        issueMs,
        failures,
        failureSamples: failures > 0 ? [`${failures} echoes missing after ${timeoutMs} ms`] : [],
      };
    },
    async stop() {
      for (const ws of clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

let profiles = 0;
/**
 * With KCTL_BENCH_CPU_PROF=DIR, each fan-out round is profiled on its own (V8's sampling profiler
 * through the inspector) and written to DIR/fanout-MODE-HOSTS-K.cpuprofile, so connect and idle time do
 * not drown it.
 */
async function profiled(run: () => Promise<FanoutResult>): Promise<FanoutResult> {
  const dir = process.env.KCTL_BENCH_CPU_PROF;
  if (!dir) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const result = await run();
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(
    join(dir, `fanout-${mode}-${result.hosts}-${++profiles}.cpuprofile`),
    JSON.stringify(profile),
  );
  session.disconnect();
  return result;
}

const gc = (globalThis as { gc?: () => void }).gc;
const target = mode === 'kctl' ? await kctlTarget() : await rawTarget();

process.on('message', (m: ServerRequest) => {
  switch (m.type) {
    case 'stats':
      if (m.gc) for (let i = 0; i < 3; i++) gc?.();
      reply({
        type: 'stats',
        ...processStats(),
        online: target.online(),
        heartbeatsReceived: target.heartbeats(),
      });
      return;
    case 'fanout':
      void profiled(() => target.fanout(m.timeoutMs, m.hostIds)).then(reply);
      return;
    case 'stop':
      void target.stop().finally(() => {
        reply({ type: 'stopped' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 200).unref();
      });
      return;
  }
});
// the driver going away takes this process with it: the benchmark stops by itself
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready', port: target.port });
