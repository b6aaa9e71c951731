import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import { AgentFrame, parseJson, type ControllerFrame } from '../proto/wire.js';
import { PROTOCOL_VERSION, KCTL_VERSION } from '../proto/version.js';
import type { WireError } from '../proto/errors.js';
import type { AsyncStore, HostRecord } from './store/store.js';
import type { AgentRegistry, AgentSession } from './registry.js';
import type { ControllerMetrics } from './metrics.js';
import { directSeenRecorder, type SeenRecorder } from './last-seen.js';
import { FactsWriter, mergeFacts, type FactsRecorder } from './store/facts-writer.js';
import { HostFacts } from '../proto/facts.js';
import { CloseCode } from './close-codes.js';
import { afterQueuedIo } from './after-queued-io.js';
import { LogSampler, capText } from './log-sampler.js';
import { DEFAULT_AGENT_LIMITS, KeyedRateLimiter, TokenBucket, type AgentLimits } from './rate-limit.js';

export { CloseCode };

/** What a connection needs to know of its host: who it is, and the certificate it must keep. */
export type ConnectingHost = Pick<HostRecord, 'id' | 'name' | 'certSerial'>;

const HELLO_TIMEOUT_MS = 10_000;

/**
 * One agent connection after TLS and authorisation: hello/welcome, heartbeats both ways, and the
 * frames that answer commands. Every frame is parsed by its schema; a bad frame is answered with a
 * typed error, counted, and the connection closed with 1008; the process never throws on input.
 */
export class AgentEndpoint {
  constructor(
    private readonly deps: {
      store: AsyncStore;
      registry: AgentRegistry;
      metrics: ControllerMetrics;
      log: Logger;
      heartbeatIntervalMs: number;
      /** batches heartbeat times (controller/last-seen.ts); without it every heartbeat is one UPDATE */
      lastSeen?: SeenRecorder;
      /** batches facts frames' changes; a FactsWriter flushing every second when not given */
      facts?: FactsRecorder;
      /** rate limits of the channel; DEFAULT_AGENT_LIMITS for what is not given */
      limits?: Partial<AgentLimits>;
    },
  ) {
    this.lastSeen = deps.lastSeen ?? directSeenRecorder(deps.store);
    this.facts = deps.facts ?? new FactsWriter({ store: deps.store, log: deps.log, flushEveryMs: 1000 });
    this.limits = { ...DEFAULT_AGENT_LIMITS, ...deps.limits };
    this.hellosPerHost = new KeyedRateLimiter(this.limits.hellos);
  }

  private readonly lastSeen: SeenRecorder;
  private readonly facts: FactsRecorder;
  private readonly limits: AgentLimits;
  private readonly hellosPerHost: KeyedRateLimiter;
  /** what a peer's frames make us log, per host and kind: 5 lines a minute, the rest counted */
  private readonly logSampler = new LogSampler({ burst: 5, windowMs: 60_000 });

  /**
   * Serves one authorised connection. `certSerial` is the serial of the certificate the upgrade
   * authenticated (the host's current one at that moment); the session lives only while it stays current.
   */
  onConnection(ws: WebSocket, host: ConnectingHost, ip: string | null, certSerial = host.certSerial): void {
    const log = this.deps.log.child({ hostId: host.id, host: host.name });
    const { metrics, registry } = this.deps;
    let session: AgentSession | undefined;
    /** what the store holds (or will at the next flush) of this host's facts: the hello's, plus facts frames */
    let facts: HostFacts | undefined;
    let lastFrameAt = Date.now();
    let heartbeatSeq = 0;
    // set once this side decided to close: frames still in flight are not read any more
    let closing = false;
    const frames = new TokenBucket(this.limits.frames);
    const bytes = new TokenBucket(this.limits.bytes);

    const closeNow = (code: number, reason: string): void => {
      closing = true;
      ws.close(code, reason);
      // a peer that does not answer the close handshake (a flooder) is cut off anyway
      setTimeout(() => ws.terminate(), 1000).unref();
    };
    /** A log line about something the peer did, unless this host already made five this minute. */
    const sampled = (kind: string, fields: Record<string, unknown>, msg: string): void => {
      const take = this.logSampler.take(`${host.id}:${kind}`);
      if (take) log.warn({ ...fields, ...(take.suppressed ? { suppressed: take.suppressed } : {}) }, msg);
    };

    // both timers judge silence: they decide only after queued frames were read (after a stop, a hello
    // or heartbeat that arrived in time is still unread when the timer runs)
    const helloTimer = setTimeout(
      () =>
        afterQueuedIo(() => {
          if (session || closing) return;
          this.sendError(ws, { code: 'invalid_frame', message: 'no hello within 10 s', retryable: true });
          closeNow(CloseCode.helloTimeout, 'hello timeout');
        }),
      HELLO_TIMEOUT_MS,
    );

    const heartbeat = setInterval(() => {
      if (session && registry.recheck(host.id) !== 'current') return;
      if (Date.now() - lastFrameAt > this.deps.heartbeatIntervalMs * 3) {
        afterQueuedIo(() => {
          const silentMs = Date.now() - lastFrameAt;
          if (closing || silentMs <= this.deps.heartbeatIntervalMs * 3) return;
          log.warn({ silentMs }, 'agent heartbeat timeout');
          closeNow(CloseCode.heartbeatTimeout, 'heartbeat timeout');
        });
        return;
      }
      if (session) this.send(ws, { type: 'heartbeat', seq: heartbeatSeq++, sentAt: Date.now() });
    }, this.deps.heartbeatIntervalMs);

    const reject = (error: WireError, reason: string): void => {
      metrics.rejectFrame(reason);
      sampled('rejected', { code: error.code, reason }, 'frame rejected');
      this.sendError(ws, error);
      closeNow(CloseCode.policy, error.message.slice(0, 120));
    };

    const limitReached = (limit: keyof AgentLimits, message: string): void => {
      metrics.limitHit(limit);
      sampled('limit', { limit, ip }, 'agent rate limit reached');
      this.sendError(ws, { code: 'rate_limited', message, retryable: true });
      closeNow(CloseCode.rateLimited, `${limit} rate limit`);
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closing) return;
      lastFrameAt = Date.now();
      const raw = rawToBuffer(data);
      // counted before anything is parsed: a flood costs a subtraction per frame, not a JSON parse
      if (!frames.take())
        return limitReached('frames', `more than ${this.limits.frames.perSecond} frames a second`);
      if (!bytes.take(raw.length))
        return limitReached('bytes', `more than ${this.limits.bytes.perSecond} bytes a second`);
      if (isBinary)
        return reject(
          { code: 'invalid_frame', message: 'binary frames are not accepted', retryable: false },
          'binary',
        );
      const parsed = parseJson(raw, AgentFrame, 'agent frame');
      if (!parsed.ok) return reject(parsed.error, parsed.error.code);
      const frame = parsed.value;

      if (!session) {
        // a hello read from a socket that is already closing (the peer gave up, or a close was sent):
        // nothing is done for it, no session, no store write, no "agent online" (issue 12, finding 12)
        if (ws.readyState !== ws.OPEN) {
          metrics.rejectFrame('hello_after_close');
          return;
        }
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
          closeNow(CloseCode.protocolMismatch, 'protocol mismatch');
          return;
        }
        clearTimeout(helloTimer);
        // each accepted hello writes to the store: bounded per host, whatever the connections do
        if (!this.hellosPerHost.take(host.id))
          return limitReached(
            'hellos',
            `more than ${this.limits.hellos.perSecond} hellos a second from this host`,
          );
        const candidate: AgentSession = {
          hostId: host.id,
          hostName: host.name,
          ws,
          ip,
          connectedAt: Date.now(),
          lastFrameAt: Date.now(),
          certSerial,
        };
        const attached = registry.attach(candidate);
        if (attached === 'revoked' || attached === 'superseded') {
          // the certificate lost its standing between the upgrade and the hello
          metrics.refuseConnection(attached);
          log.warn({ ip, why: attached }, 'agent connection refused at hello');
          this.sendError(ws, {
            code: attached === 'revoked' ? 'host_revoked' : 'forbidden',
            message:
              attached === 'revoked'
                ? `Host "${host.name}" is revoked`
                : `This certificate of host "${host.name}" was replaced by a newer one`,
            retryable: false,
          });
          closeNow(attached === 'revoked' ? CloseCode.revoked : CloseCode.superseded, attached);
          return;
        }
        if (attached === 'duplicate') {
          this.deps.metrics.refuseConnection('duplicate');
          this.deps.store
            .audit({
              actor: `host:${host.id}`,
              action: 'connection.duplicate',
              target: host.name,
              details: { ip },
            })
            .catch((err: unknown) => log.error({ err }, 'audit write failed'));
          log.error({ ip }, 'second live connection for host refused');
          this.sendError(ws, {
            code: 'duplicate_connection',
            message: `host "${host.name}" already has a live connection`,
            retryable: true,
          });
          closeNow(CloseCode.duplicate, 'duplicate connection');
          return;
        }
        session = candidate;
        this.deps.metrics.connectionsAccepted++;
        this.lastSeen.forget(host.id);
        facts = frame.facts;
        // batched like heartbeats: one transaction per flush, not one fsync'd UPDATE per hello;
        // readers of host rows flush first (store/reads-after-flush.ts)
        this.facts.noteHello(host.id, {
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
          controllerTime: Date.now(),
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
          if (frame.clockOffsetMs !== undefined) session.clockOffsetMs = frame.clockOffsetMs;
          return;
        case 'facts': {
          // each key was checked by the frame's schema; the merged whole must still be valid facts
          const merged = HostFacts.safeParse(
            mergeFacts(facts ?? (frame.changed as HostFacts), frame.changed, frame.removed),
          );
          if (!merged.success)
            return reject(
              {
                code: 'invalid_frame',
                message: `facts frame: removes a fact that is required (${frame.removed.join(', ')})`,
                retryable: false,
              },
              'facts_invalid',
            );
          facts = merged.data;
          this.facts.note(host.id, facts, lastFrameAt);
          return;
        }
        case 'progress':
          this.deps.registry.handleProgress(host.id, frame);
          return;
        case 'result':
          this.deps.registry.handleResult(host.id, frame);
          return;
        case 'error':
          // a peer's text, up to 8 KiB of message and 1 MiB of details: capped and sampled, never verbatim
          sampled(
            'error',
            {
              code: frame.error.code,
              message: capText(frame.error.message, 256),
              inReplyTo: frame.inReplyTo,
              frameBytes: raw.length,
            },
            'agent reported error',
          );
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
      sampled('socket', { err: capText(err.message, 256), reason }, 'agent socket error');
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
