import { WebSocket, type RawData } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { ControllerFrame, parseJson, type AgentFrame, type ParseResult } from '../proto/wire.js';
import {
  PROTOCOL_VERSION,
  KCTL_VERSION,
  MAX_FRAME_BYTES,
  MAX_WS_BUFFERED_CHUNKS,
  MAX_WS_FRAGMENTS,
} from '../proto/version.js';
import { WireError } from '../proto/errors.js';
import { backoffDelay, ControllerRotation } from './controller-rotation.js';

export { backoffDelay, ControllerRotation };
import type { HostFacts } from '../proto/facts.js';
import type { AgentIdentity } from './enroll.js';
import type { CommandExecutor } from './executor.js';
import {
  CLOCK_OFFSET_WARN_MS,
  systemClocks,
  type ControllerClock,
  type LocalClocks,
} from './controller-clock.js';

/**
 * Where to dial: the controller's replicas (one fleet, one CA), or a single controller (the same as
 * a list of one).
 */
export type ControllerTargets =
  | {
      controllers: readonly string[];
      /** the replica to dial first (the last one this agent was connected to); otherwise a random one */
      startAt?: string | undefined;
    }
  | { controller: string };

interface ConnectionSettings {
  /** replaced by setIdentity after a rotation */
  identity: AgentIdentity;
  heartbeatIntervalMs: number;
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  facts: () => Promise<HostFacts>;
  /** the facts a hello carried (what the controller holds from then on: agent/facts-refresh.ts) */
  onHello?: (facts: HostFacts) => void;
  log: Logger;
  random?: () => number;
  /** learns the controller's clock from the welcome (round trip from the hello) and its heartbeats */
  controllerClock?: ControllerClock;
  clocks?: LocalClocks;
  /** a session was welcomed by the controller at this URL (the agent remembers it for its next start) */
  onConnected?: (controller: string) => void;
}
export type ConnectionOptions = ConnectionSettings & ControllerTargets;

export type ConnectionState = 'connecting' | 'online' | 'waiting' | 'stopped';

/**
 * The agent's one outbound WebSocket: mutual TLS with the pinned CA only, hello/welcome,
 * heartbeats both ways, and reconnect with capped exponential backoff and full jitter, failing
 * over between the controller's replicas (ControllerRotation).
 */
export class AgentConnection {
  private ws: WebSocket | undefined;
  private readonly rotation: ControllerRotation;
  private redialSameReplica = false;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastFrameAt = 0;
  private seq = 0;
  /** monotonic time the hello of the current connection left, for the welcome's round trip */
  private helloSentMono: number | undefined;
  private stopped = false;
  state: ConnectionState = 'waiting';
  private executor: CommandExecutor | undefined;

  private readonly options: ConnectionOptions;

  constructor(options: ConnectionOptions) {
    this.options = { ...options };
    this.rotation =
      'controllers' in options
        ? new ControllerRotation(options.controllers, options.random ?? Math.random, options.startAt)
        : new ControllerRotation([options.controller], Math.random);
  }

  /** The replica HTTP calls (renewal, bundle) should use: the last that welcomed us, else the next dial. */
  controllerUrl(): string {
    return this.rotation.lastGood() ?? this.rotation.current();
  }

  /** A rotated certificate: the next connection uses it (the current one is closed and redialled). */
  setIdentity(identity: AgentIdentity): void {
    this.options.identity = identity;
    // the replica did nothing wrong: redial the same one
    if (this.ws) this.redialSameReplica = true;
    this.ws?.close(1000, 'certificate rotated');
  }

  start(executor: CommandExecutor): void {
    this.executor = executor;
    this.connect();
  }

  send(frame: AgentFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    // a result that cannot be sent now is not lost: it is journaled, and the controller re-sends the command
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'stopped';
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1001, 'agent stopping');
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000).unref();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'connecting';
    const { identity } = this.options;
    const controller = this.rotation.current();
    const log = this.options.log.child({ controller });
    log.debug('dialing');
    const url = `${controller.replace(/^https:/, 'wss:').replace(/\/$/, '')}/v1/agent`;
    const ws = new WebSocket(url, {
      ca: [identity.caPem],
      cert: identity.certPem,
      key: identity.keyPem,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      maxFragments: MAX_WS_FRAGMENTS,
      maxBufferedChunks: MAX_WS_BUFFERED_CHUNKS,
      handshakeTimeout: 10_000,
      followRedirects: false,
    });
    this.ws = ws;

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let error: WireError | undefined;
        try {
          const parsed = WireError.safeParse(
            (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown }).error,
          );
          if (parsed.success) error = parsed.data;
        } catch {
          // not our JSON: reported by status below
        }
        log.error(
          { status: res.statusCode, code: error?.code, reason: error?.message },
          'controller refused connection',
        );
        ws.terminate();
      });
    });

    ws.on('open', () => {
      void this.options
        .facts()
        .then((facts) => {
          this.helloSentMono = this.monoNow();
          this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: KCTL_VERSION, facts });
          this.options.onHello?.(facts);
        })
        .catch((err: unknown) => {
          log.error({ err: (err as Error).message }, 'cannot gather facts for hello');
          ws.close(1011, 'facts failed');
        });
    });

    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.lastFrameAt = Date.now();
      // the protocol is JSON text frames, as the controller demands of agents
      const parsed: ParseResult<ControllerFrame> = isBinary
        ? {
            ok: false,
            error: { code: 'invalid_frame', message: 'binary frames are not accepted', retryable: false },
          }
        : parseJson(
            Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer),
            ControllerFrame,
            'controller frame',
          );
      if (!parsed.ok) {
        log.warn({ code: parsed.error.code, reason: parsed.error.message }, 'frame rejected');
        this.send({ type: 'error', error: parsed.error });
        ws.close(1008, 'invalid frame');
        return;
      }
      const frame = parsed.value;
      switch (frame.type) {
        case 'welcome':
          if (frame.protocolVersion !== PROTOCOL_VERSION) {
            log.error(
              { agentProtocol: PROTOCOL_VERSION, controllerProtocol: frame.protocolVersion },
              'protocol mismatch',
            );
            ws.close(4000, 'protocol mismatch');
            return;
          }
          this.rotation.connected();
          this.state = 'online';
          this.options.onConnected?.(controller);
          this.measureClock(frame.controllerTime);
          this.startHeartbeat(ws, frame.heartbeatIntervalMs || this.options.heartbeatIntervalMs);
          log.info({ hostId: frame.hostId, controllerVersion: frame.controllerVersion }, 'connected');
          return;
        case 'heartbeat':
          this.options.controllerClock?.observeOneWay(frame.sentAt, this.monoNow());
          return;
        case 'command':
          void this.executor?.handle(frame);
          return;
        case 'cancel':
          this.executor?.cancel(frame.id);
          return;
        case 'error':
          log.error({ code: frame.error.code, reason: frame.error.message }, 'controller reported error');
          return;
      }
    });

    ws.on('close', (code: number, reason: Buffer) => {
      clearInterval(this.heartbeat);
      if (this.ws === ws) this.ws = undefined;
      if (this.stopped) return;
      this.state = 'waiting';
      // a failed dial or a lost session: the next dial goes to the next replica, after a backoff
      // drawn per attempt (full jitter, as with one controller) whose ceiling grows per full round
      const exponent = this.redialSameReplica ? 0 : this.rotation.failed();
      this.redialSameReplica = false;
      const delay = backoffDelay(
        exponent,
        this.options.reconnect.initialDelayMs,
        this.options.reconnect.maxDelayMs,
        this.options.random ?? Math.random,
      );
      log.info(
        { code, reason: reason.toString(), retryInMs: delay, next: this.rotation.current() },
        'disconnected',
      );
      this.timer = setTimeout(() => this.connect(), delay);
    });

    ws.on('error', (err: Error) => {
      log.warn({ err: err.message }, 'connection error');
    });
  }

  private startHeartbeat(ws: WebSocket, intervalMs: number): void {
    clearInterval(this.heartbeat);
    this.lastFrameAt = Date.now();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastFrameAt > intervalMs * 3) {
        this.options.log.warn({ silentMs: Date.now() - this.lastFrameAt }, 'controller heartbeat timeout');
        ws.terminate();
        return;
      }
      const clockOffsetMs = this.options.controllerClock?.offsetMs();
      this.send({
        type: 'heartbeat',
        seq: this.seq++,
        sentAt: Date.now(),
        ...(clockOffsetMs !== undefined ? { clockOffsetMs } : {}),
      });
    }, intervalMs);
  }

  private monoNow(): number {
    return (this.options.clocks ?? systemClocks).monoNow();
  }

  /** The welcome answers the hello: its controller time and that round trip give the clock offset. */
  private measureClock(controllerTime: number | undefined): void {
    const clock = this.options.controllerClock;
    if (!clock || controllerTime === undefined || this.helloSentMono === undefined) return;
    const now = this.monoNow();
    clock.observeRoundTrip(controllerTime, now - this.helloSentMono, now);
    const offsetMs = clock.offsetMs() ?? 0;
    const fields = { clockOffsetMs: offsetMs, uncertaintyMs: clock.uncertaintyMs() };
    if (Math.abs(offsetMs) >= CLOCK_OFFSET_WARN_MS) {
      // commands are still judged on the controller's clock; certificates and etcd are not
      this.options.log.warn(fields, 'clock differs from the controller by 30 s or more');
    } else {
      this.options.log.debug(fields, 'clock offset measured');
    }
  }
}
