import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import { AgentFrame, parseJson, type ControllerFrame } from '../proto/wire.js';
import { PROTOCOL_VERSION, KCTL_VERSION } from '../proto/version.js';
import type { WireError } from '../proto/errors.js';
import type { Store, HostRecord } from './store/store.js';
import type { AgentRegistry, AgentSession } from './registry.js';
import type { ControllerMetrics } from './metrics.js';
import { directSeenRecorder, type SeenRecorder } from './last-seen.js';

/** WebSocket close codes kctl uses; 1008 is the standard "policy violation" (S8). */
export const CloseCode = {
  policy: 1008,
  protocolMismatch: 4000,
  revoked: 4003,
  duplicate: 4009,
  helloTimeout: 4008,
  heartbeatTimeout: 4010,
  shutdown: 1001,
} as const;

const HELLO_TIMEOUT_MS = 10_000;

/**
 * One agent connection after TLS and authorisation: hello/welcome, heartbeats both ways, and the
 * frames that answer commands. Every frame is parsed by its schema; a bad frame is answered with a
 * typed error, counted, and the connection closed with 1008; the process never throws on input.
 */
export class AgentEndpoint {
  constructor(
    private readonly deps: {
      store: Store;
      registry: AgentRegistry;
      metrics: ControllerMetrics;
      log: Logger;
      heartbeatIntervalMs: number;
      /** batches heartbeat times (controller/last-seen.ts); without it every heartbeat is one UPDATE */
      lastSeen?: SeenRecorder;
    },
  ) {
    this.lastSeen = deps.lastSeen ?? directSeenRecorder(deps.store);
  }

  private readonly lastSeen: SeenRecorder;

  onConnection(ws: WebSocket, host: HostRecord, ip: string | null): void {
    const log = this.deps.log.child({ hostId: host.id, host: host.name });
    let session: AgentSession | undefined;
    let lastFrameAt = Date.now();
    let heartbeatSeq = 0;

    const helloTimer = setTimeout(() => {
      if (!session) {
        this.sendError(ws, { code: 'invalid_frame', message: 'no hello within 10 s', retryable: true });
        ws.close(CloseCode.helloTimeout, 'hello timeout');
      }
    }, HELLO_TIMEOUT_MS);

    const heartbeat = setInterval(() => {
      if (Date.now() - lastFrameAt > this.deps.heartbeatIntervalMs * 3) {
        log.warn({ silentMs: Date.now() - lastFrameAt }, 'agent heartbeat timeout');
        ws.close(CloseCode.heartbeatTimeout, 'heartbeat timeout');
        setTimeout(() => ws.terminate(), 1000).unref();
        return;
      }
      if (session) this.send(ws, { type: 'heartbeat', seq: heartbeatSeq++, sentAt: Date.now() });
    }, this.deps.heartbeatIntervalMs);

    const reject = (error: WireError, reason: string): void => {
      this.deps.metrics.rejectFrame(reason);
      log.warn({ code: error.code, reason }, 'frame rejected');
      this.sendError(ws, error);
      ws.close(CloseCode.policy, error.message.slice(0, 120));
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      lastFrameAt = Date.now();
      if (isBinary)
        return reject(
          { code: 'invalid_frame', message: 'binary frames are not accepted', retryable: false },
          'binary',
        );
      const parsed = parseJson(rawToBuffer(data), AgentFrame, 'agent frame');
      if (!parsed.ok) return reject(parsed.error, parsed.error.code);
      const frame = parsed.value;

      if (!session) {
        if (frame.type !== 'hello') {
          return reject(
            { code: 'invalid_frame', message: `expected hello, got ${frame.type}`, retryable: false },
            'no_hello',
          );
        }
        if (frame.protocolVersion !== PROTOCOL_VERSION) {
          this.deps.metrics.rejectFrame('protocol_mismatch');
          const message = `protocol version mismatch: agent speaks ${frame.protocolVersion}, controller speaks ${PROTOCOL_VERSION}`;
          log.warn(
            { agentProtocol: frame.protocolVersion, controllerProtocol: PROTOCOL_VERSION },
            'protocol mismatch',
          );
          this.sendError(ws, { code: 'protocol_mismatch', message, retryable: false });
          ws.close(CloseCode.protocolMismatch, 'protocol mismatch');
          return;
        }
        clearTimeout(helloTimer);
        const candidate: AgentSession = {
          hostId: host.id,
          hostName: host.name,
          ws,
          ip,
          connectedAt: Date.now(),
          lastFrameAt: Date.now(),
        };
        if (this.deps.registry.attach(candidate) === 'duplicate') {
          this.deps.metrics.refuseConnection('duplicate');
          this.deps.store.audit({
            actor: `host:${host.id}`,
            action: 'connection.duplicate',
            target: host.name,
            details: { ip },
          });
          log.error({ ip }, 'second live connection for host refused');
          this.sendError(ws, {
            code: 'duplicate_connection',
            message: `host "${host.name}" already has a live connection`,
            retryable: true,
          });
          ws.close(CloseCode.duplicate, 'duplicate connection');
          return;
        }
        session = candidate;
        this.deps.metrics.connectionsAccepted++;
        this.lastSeen.forget(host.id);
        this.deps.store.recordHostSeen(host.id, {
          at: Date.now(),
          ip,
          agentVersion: frame.agentVersion,
          facts: frame.facts,
        });
        this.send(ws, {
          type: 'welcome',
          protocolVersion: PROTOCOL_VERSION,
          controllerVersion: KCTL_VERSION,
          hostId: host.id,
          hostName: host.name,
          heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
        });
        log.info({ ip, agentVersion: frame.agentVersion }, 'agent online');
        return;
      }

      session.lastFrameAt = lastFrameAt;
      switch (frame.type) {
        case 'hello':
          return reject(
            { code: 'invalid_frame', message: 'hello sent twice', retryable: false },
            'hello_twice',
          );
        case 'heartbeat':
          this.deps.metrics.heartbeatsReceived++;
          this.lastSeen.note(host.id, lastFrameAt, ip);
          return;
        case 'progress':
          this.deps.registry.handleProgress(host.id, frame);
          return;
        case 'result':
          this.deps.registry.handleResult(host.id, frame);
          return;
        case 'error':
          log.warn({ error: frame.error, inReplyTo: frame.inReplyTo }, 'agent reported error');
          return;
      }
    });

    ws.on('close', (code: number) => {
      clearTimeout(helloTimer);
      clearInterval(heartbeat);
      if (session) {
        this.deps.registry.detach(host.id, ws);
        this.lastSeen.note(host.id, Date.now(), null);
        log.info({ code }, 'agent offline');
      }
    });
    ws.on('error', (err: Error) => {
      // ws raises protocol violations here and then closes (1009 over maxPayload, 1007 for invalid
      // UTF-8, 1008 for too many fragments...): each is a rejected frame, counted like the others
      const reason = wsRejectReason(err);
      if (reason) this.deps.metrics.rejectFrame(reason);
      log.warn({ err: err.message, reason }, 'agent socket error');
    });
  }

  private send(ws: WebSocket, frame: ControllerFrame): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  }

  private sendError(ws: WebSocket, error: WireError): void {
    this.send(ws, { type: 'error', error });
  }
}

/** The rejected-frame reason for an error ws raised on a peer's bytes; undefined for a socket error. */
export function wsRejectReason(err: Error & { code?: unknown }): string | undefined {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || /max payload|too big/i.test(err.message))
    return 'frame_too_large';
  if (typeof err.code === 'string' && /^WS_ERR_[A-Z0-9_]+$/.test(err.code))
    return err.code.slice('WS_ERR_'.length).toLowerCase();
  return undefined;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
