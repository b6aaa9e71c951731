/**
 * Load generator for the scale benchmark, in its own process: N agent connections with mutual TLS,
 * each with its own pre-made identity, speaking the real protocol (proto/wire.ts): hello with facts,
 * heartbeats at the interval the welcome names, and results for `ping` commands. In raw mode (the
 * `ws` baseline) each connection sends the same hello, waits for its echo, then echoes the
 * server's fan-out messages. Driven over IPC by
 * bench/controller-scale.ts.
 *
 *   node --import tsx bench/scale-loadgen.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WebSocket, type RawData } from 'ws';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { ControllerFrame, parseJson, type AgentFrame } from '../proto/wire.js';
import { KCTL_VERSION, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../proto/version.js';
import type { HostFacts } from '../proto/facts.js';
import { factsFor, readIdentities, type BenchIdentity } from './scale-identities.js';
import { loopbackSource } from './scale-stats.js';
import { processStats, reply, type LoadgenRequest, type ServerMode } from './scale-ipc.js';

const CONNECT_TIMEOUT_MS = 30_000;
const ATTEMPTS = 3;

interface Conn {
  ws: WebSocket;
  timers: NodeJS.Timeout[];
}

const conns: Conn[] = [];
const runId = randomUUID();
let closing = false;
let heartbeatsSent = 0;
let commandsAnswered = 0;
let unexpectedCloses = 0;
let template: HostFacts | undefined;

function send(ws: WebSocket, frame: AgentFrame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

/**
 * Answers a command. The load generator stands in for N machines on one core, so it does no more
 * per command than it must: the frame's id and op are read from its start (CommandFrame's keys
 * come in schema order) and the result is a template; any other frame is parsed with the real
 * schema. Otherwise the fan-out would measure the load generator's validation, serialised, not
 * the controller (a real agent validates on its own CPU).
 */
const COMMAND = /^\{"type":"command","id":"([A-Za-z0-9._-]+)","hostId":"[^"]+","op":"([a-z.A-Z0-9]+)"/;

function answer(ws: WebSocket, id: string, op: string): void {
  commandsAnswered++;
  const outcome =
    op === 'ping'
      ? `{"ok":true,"value":{"pong":true,"ranAt":${Date.now()},"runId":"${runId}"}}`
      : `{"ok":false,"error":{"code":"unknown_op","message":"load generator answers ping only","retryable":false}}`;
  if (ws.readyState === WebSocket.OPEN)
    ws.send(`{"type":"result","id":"${id}","replayed":false,"outcome":${outcome}}`);
}

function rawBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Opens one connection; resolves once it is usable (welcome received, or open in raw mode). */
function open(
  mode: ServerMode,
  port: number,
  identity: BenchIdentity,
  index: number,
  caPem: string,
  sources: number,
  facts: HostFacts,
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${mode === 'kctl' ? '/v1/agent' : '/'}`, {
      ca: [caPem],
      cert: identity.certPem,
      key: identity.keyPem,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      followRedirects: false,
      localAddress: loopbackSource(index, sources),
    });
    const conn: Conn = { ws, timers: [] };
    let ready = false;
    const settle = (err?: Error): void => {
      if (ready) return;
      ready = true;
      if (err) {
        ws.terminate();
        reject(err);
      } else resolve(conn);
    };
    ws.on('unexpected-response', (_req, res) => settle(new Error(`HTTP ${res.statusCode} on upgrade`)));
    ws.on('error', (err) => settle(err));
    ws.on('close', (code) => {
      for (const t of conn.timers) clearTimeout(t);
      if (!ready) settle(new Error(`closed with ${code} before it was ready`));
      else if (!closing) unexpectedCloses++;
    });
    // raw mode sends the same hello and is ready when the server has echoed it: the same bytes flow
    // as on an agent connection before it counts as connected
    ws.on('open', () =>
      send(ws, { type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: KCTL_VERSION, facts }),
    );
    ws.on('message', (data: RawData) => {
      if (mode === 'raw') {
        const head = rawBuffer(data).toString('utf8', 0, 20);
        if (head.startsWith('{"type":"command"')) ws.send(data);
        else if (head.startsWith('{"type":"hello"')) settle();
        return;
      }
      const buffer = rawBuffer(data);
      const command = COMMAND.exec(buffer.toString('utf8', 0, Math.min(buffer.length, 300)));
      if (command) return answer(ws, command[1]!, command[2]!);
      const parsed = parseJson(buffer, ControllerFrame, 'controller frame');
      if (!parsed.ok) {
        settle(new Error(parsed.error.message));
        return;
      }
      const frame = parsed.value;
      switch (frame.type) {
        case 'welcome': {
          const every = frame.heartbeatIntervalMs;
          // agents connect at different times: spread the heartbeats over the interval
          const first = setTimeout(() => {
            const beat = (): void => {
              heartbeatsSent++;
              send(ws, { type: 'heartbeat', seq: heartbeatsSent, sentAt: Date.now() });
            };
            beat();
            conn.timers.push(setInterval(beat, every));
          }, Math.random() * every);
          conn.timers.push(first);
          settle();
          return;
        }
        case 'command': // a command whose frame did not start as expected
          answer(ws, frame.id, frame.op);
          return;
        case 'heartbeat':
        case 'cancel':
          return;
        case 'error':
          settle(new Error(`controller error: ${frame.error.code}: ${frame.error.message}`));
          return;
      }
    });
    const timer = setTimeout(() => settle(new Error('not ready in time')), CONNECT_TIMEOUT_MS);
    timer.unref();
  });
}

async function connectAll(m: Extract<LoadgenRequest, { type: 'connect' }>): Promise<void> {
  closing = false;
  const started = performance.now();
  template ??= await gatherFacts(new LocalHost({ root: '/' }), { kubeletTimeoutMs: 2000 });
  const facts = template;
  const from = m.from ?? 0;
  const identities = readIdentities(m.identitiesFile, from + m.n).slice(from);
  if (identities.length < m.n)
    throw new Error(`only ${from + identities.length} identities in ${m.identitiesFile}`);
  const caPem = readFileSync(m.caFile, 'utf8');
  const errors = new Map<string, number>();
  let ok = 0;
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < identities.length) {
      const k = next++;
      const identity = identities[k] as BenchIdentity;
      const i = from + k;
      for (let attempt = 1; ; attempt++) {
        try {
          conns.push(await open(m.mode, m.port, identity, i, caPem, m.sources, factsFor(i, facts)));
          ok++;
          break;
        } catch (err) {
          const message = (err as Error).message;
          if (attempt >= ATTEMPTS) {
            failed++;
            errors.set(message, (errors.get(message) ?? 0) + 1);
            break;
          }
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  reply({
    type: 'connected',
    ok,
    failed,
    errors: [...errors].map(([message, count]) => `${count}× ${message}`).slice(0, 5),
    ms: performance.now() - started,
  });
}

function closeAll(): void {
  closing = true;
  for (const c of conns.splice(0)) {
    for (const t of c.timers) clearTimeout(t);
    c.ws.terminate();
  }
  reply({ type: 'closed' });
}

process.on('message', (m: LoadgenRequest) => {
  switch (m.type) {
    case 'connect':
      connectAll(m).catch((err: Error) =>
        reply({ type: 'connected', ok: 0, failed: m.n, errors: [err.message], ms: 0 }),
      );
      return;
    case 'stats':
      reply({
        type: 'stats',
        ...processStats(),
        open: conns.filter((c) => c.ws.readyState === WebSocket.OPEN).length,
        heartbeatsSent,
        commandsAnswered,
        unexpectedCloses,
      });
      return;
    case 'close':
      closeAll();
      return;
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
