import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { CommandFrame, ControllerFrame, Outcome, ProgressFrame, ResultFrame } from '../proto/wire.js';
import { KctlError } from '../proto/errors.js';
import { Ops, isOpName } from '../proto/ops.js';
import { describeZodError } from '../proto/errors.js';
import type { AsyncStore } from './store/store.js';
import type { HostStateReader } from './store/host-state-cache.js';
import type { ControllerMetrics } from './metrics.js';
import { CloseCode } from './close-codes.js';
import { sameSerial, sessionStanding, type SessionStanding } from './session-standing.js';
import { afterQueuedIo } from './after-queued-io.js';

export interface AgentSession {
  hostId: string;
  hostName: string;
  ws: WebSocket;
  ip: string | null;
  connectedAt: number;
  lastFrameAt: number;
  /** serial of the certificate this connection authenticated with; only the host's current one may stay live (S6) */
  certSerial: string;
  /** the agent's wall clock minus ours, as the agent measured it (its heartbeats); for health */
  clockOffsetMs?: number;
}

export interface CommandOptions {
  timeoutMs?: number;
  planId?: string;
  planHash?: string;
  /** a caller-chosen id (HostClient's stable ids); a fresh UUID otherwise */
  commandId?: string;
  onProgress?: (p: ProgressFrame) => void;
}

export interface CommandResult {
  commandId: string;
  outcome: Outcome;
  replayed: boolean;
  durationMs: number;
}

interface Pending {
  frame: CommandFrame;
  startedAt: number;
  resolve(r: CommandResult): void;
  reject(e: KctlError): void;
  timer: NodeJS.Timeout;
  onProgress: ((p: ProgressFrame) => void) | undefined;
}

/** Max bytes queued on one agent socket before it counts as a slow reader and is dropped (S10). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Live agent connections and the commands in flight to them. Delivery is at-least-once: a command
 * whose connection drops stays pending and is re-sent with the same id when the host reconnects;
 * the agent's journal makes the second delivery a replay, not a second run.
 */
/** Commands for hosts connected to another controller replica (store/pg-relay.ts). */
export interface CommandRelay {
  send(
    hostId: string,
    hostName: string,
    op: string,
    args: Record<string, unknown>,
    options: {
      timeoutMs: number;
      commandId: string;
      planId?: string | undefined;
      planHash?: string | undefined;
      onProgress?: ((p: ProgressFrame) => void) | undefined;
    },
  ): Promise<CommandResult>;
}

export class AgentRegistry {
  private readonly sessions = new Map<string, AgentSession>();
  private relay: CommandRelay | undefined;
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();

  constructor(
    private readonly deps: {
      store: AsyncStore;
      /** hosts' standing, read before every command without a database round trip (store/host-state-cache.ts) */
      hostStates: HostStateReader;
      log: Logger;
      metrics: ControllerMetrics;
      heartbeatIntervalMs: number;
    },
  ) {}

  /**
   * Registers a new live connection; the host's current certificate decides (S6, S7). A candidate
   * whose certificate is no longer the host's is refused (`revoked`, `superseded`). A live session on
   * an older certificate is closed in favour of the candidate. A second live session with the same
   * certificate is refused as a duplicate, unless the first one went silent.
   */
  attach(session: AgentSession): 'attached' | 'duplicate' | Exclude<SessionStanding, 'current'> {
    const standing = sessionStanding(this.deps.hostStates, session.hostId, session.certSerial);
    if (standing !== 'current') return standing;
    const existing = this.sessions.get(session.hostId);
    if (existing && !sameSerial(existing.certSerial, session.certSerial)) {
      // the candidate holds the host's current certificate, so the live one is an older one
      this.endSession(existing, 'superseded');
    } else if (existing) {
      const silentFor = Date.now() - existing.lastFrameAt;
      if (silentFor < this.deps.heartbeatIntervalMs * 1.5) return 'duplicate';
      existing.ws.terminate();
    }
    this.sessions.set(session.hostId, session);
    this.emit({ type: 'online', hostId: session.hostId });
    for (const p of this.pending.get(session.hostId)?.values() ?? []) {
      if (Date.now() < p.frame.expiresAt) this.sendFrame(session, p.frame);
    }
    return 'attached';
  }

  /** With replicas: a command for a host with no session here goes through the relay. */
  useRelay(relay: CommandRelay): void {
    this.relay = relay;
  }

  detach(hostId: string, ws: WebSocket): void {
    const s = this.sessions.get(hostId);
    if (s && s.ws === ws) {
      this.sessions.delete(hostId);
      this.emit({ type: 'offline', hostId });
    }
  }

  session(hostId: string): AgentSession | undefined {
    return this.sessions.get(hostId);
  }

  isOnline(hostId: string): boolean {
    return this.sessions.has(hostId);
  }

  /**
   * For views (kctl hosts, the fleet page): a session on this replica, or, with replicas, a host
   * whose heartbeats another replica recorded lately (last_seen is written there within a second).
   */
  isOnlineAnywhere(h: { id: string; lastSeenAt: number | null }): boolean {
    if (this.sessions.has(h.id)) return true;
    return (
      this.relay !== undefined &&
      h.lastSeenAt !== null &&
      Date.now() - h.lastSeenAt < 3 * this.deps.heartbeatIntervalMs
    );
  }

  onlineCount(): number {
    return this.sessions.size;
  }

  touch(hostId: string): void {
    const s = this.sessions.get(hostId);
    if (s) s.lastFrameAt = Date.now();
  }

  on(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Ends the host's live session at once if its certificate no longer speaks for the host: after a
   * rotation (the renew route), a revocation, or a change made elsewhere (the endpoint's heartbeat
   * sweep calls this too). Returns the session's standing; `current` when there is no session.
   */
  recheck(hostId: string): SessionStanding {
    const s = this.sessions.get(hostId);
    if (!s) return 'current';
    const standing = sessionStanding(this.deps.hostStates, hostId, s.certSerial);
    if (standing !== 'current') {
      this.endSession(s, standing);
      this.sessions.delete(hostId);
      this.emit({ type: 'offline', hostId });
    }
    return standing;
  }

  /** Closes one session whose certificate lost its standing, with a typed code; counted and audited. */
  private endSession(s: AgentSession, why: Exclude<SessionStanding, 'current'>): void {
    this.deps.metrics.endSession(why);
    // the session ends now; its audit row is written behind it (a failed write is logged)
    this.deps.store
      .audit({
        actor: 'controller',
        action: `connection.${why}`,
        target: s.hostName,
        details: { hostId: s.hostId, ip: s.ip },
      })
      .catch((err: unknown) => this.deps.log.error({ err, hostId: s.hostId }, 'audit write failed'));
    this.deps.log.warn({ hostId: s.hostId, host: s.hostName, ip: s.ip, why }, 'agent session ended');
    s.ws.close(
      why === 'revoked' ? CloseCode.revoked : CloseCode.superseded,
      why === 'revoked' ? 'host revoked' : 'certificate superseded',
    );
    setTimeout(() => s.ws.terminate(), 1000).unref();
  }

  /** Closes a host's live connection (revocation, shutdown). */
  disconnect(hostId: string, code: number, reason: string): void {
    const s = this.sessions.get(hostId);
    if (!s) return;
    s.ws.close(code, reason);
    // a peer that does not answer the close handshake is cut off anyway
    setTimeout(() => s.ws.terminate(), 1000).unref();
    this.sessions.delete(hostId);
    this.emit({ type: 'offline', hostId });
  }

  /** Fails every pending command of a host at once (after revocation). */
  failPending(hostId: string, error: KctlError): void {
    for (const p of this.pending.get(hostId)?.values() ?? []) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.delete(hostId);
  }

  /**
   * Sends a typed command and resolves with its outcome. Authorisation is checked here, before
   * every command (S6), not only when the host connected.
   */
  sendCommand(
    hostId: string,
    op: string,
    args: Record<string, unknown>,
    options: CommandOptions = {},
  ): Promise<CommandResult> {
    const host = this.deps.hostStates.getHostState(hostId);
    if (!host) return Promise.reject(new KctlError('unknown_host', `No host with id "${hostId}"`));
    if (host.state !== 'active') {
      // revoked behind the registry's back (another path, another replica): end what is still live
      if (this.sessions.has(hostId)) this.recheck(hostId);
      return Promise.reject(
        new KctlError('host_revoked', `Host "${host.name}" is revoked; no commands are sent to it`),
      );
    }
    if (!isOpName(op)) return Promise.reject(new KctlError('unknown_op', `Unknown op "${op}"`));
    // authorise the session, not only the host: a session on a superseded certificate gets nothing
    const live = this.sessions.get(hostId);
    if (live && !sameSerial(live.certSerial, host.certSerial)) this.recheck(hostId);
    const session = this.sessions.get(hostId);
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!session && this.relay) {
      // maybe on another replica: it authorises and sends as it would its own (host_offline if none)
      return this.relay.send(hostId, host.name, op, args, {
        timeoutMs,
        commandId: options.commandId ?? randomUUID(),
        planId: options.planId,
        planHash: options.planHash,
        onProgress: options.onProgress,
      });
    }
    if (!session) {
      return Promise.reject(
        new KctlError('host_offline', `Host "${host.name}" is offline`, { retryable: true }),
      );
    }
    const now = Date.now();
    const frame: CommandFrame = {
      type: 'command',
      id: options.commandId ?? randomUUID(),
      hostId,
      op,
      args,
      issuedAt: now,
      expiresAt: now + timeoutMs,
      ...(options.planId ? { planId: options.planId } : {}),
      ...(options.planHash ? { planHash: options.planHash } : {}),
    };
    return new Promise<CommandResult>((resolve, reject) => {
      // a result already queued in the socket wins over a deadline that passed while the process
      // was stopped: the timeout is declared only after the loop has read pending I/O
      const timer = setTimeout(
        () =>
          afterQueuedIo(() => {
            const forHost = this.pending.get(hostId);
            // gone: the result came (or the host's commands were failed); another entry: a re-send's
            if (forHost?.get(frame.id)?.resolve !== resolve) return;
            forHost.delete(frame.id);
            reject(
              new KctlError(
                'timeout',
                `Command ${op} to host "${host.name}" got no result within ${timeoutMs} ms`,
                {
                  retryable: true,
                  details: { commandId: frame.id },
                },
              ),
            );
          }),
        timeoutMs,
      );
      let forHost = this.pending.get(hostId);
      if (!forHost) this.pending.set(hostId, (forHost = new Map<string, Pending>()));
      forHost.set(frame.id, {
        frame,
        startedAt: now,
        resolve,
        reject,
        timer,
        onProgress: options.onProgress,
      });
      this.deps.metrics.commandsSent++;
      this.sendFrame(session, frame);
    });
  }

  handleResult(hostId: string, frame: ResultFrame): void {
    const p = this.pending.get(hostId)?.get(frame.id);
    if (!p) {
      this.deps.log.warn({ hostId, commandId: frame.id }, 'result for unknown command');
      return;
    }
    this.pending.get(hostId)?.delete(frame.id);
    clearTimeout(p.timer);
    const durationMs = Date.now() - p.startedAt;
    this.deps.metrics.observeCommandLatency(durationMs);
    p.resolve({
      commandId: frame.id,
      outcome: validateOutcome(p.frame.op, frame.outcome),
      replayed: frame.replayed,
      durationMs,
    });
  }

  handleProgress(hostId: string, frame: ProgressFrame): void {
    this.pending.get(hostId)?.get(frame.id)?.onProgress?.(frame);
  }

  sendFrame(session: AgentSession, frame: ControllerFrame): void {
    if (session.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.deps.log.warn({ hostId: session.hostId }, 'slow reader dropped');
      session.ws.terminate();
      return;
    }
    // ttlMs is the life left now, restamped on a re-send, so the agent's deadline never needs its wall clock
    const out =
      frame.type === 'command' ? { ...frame, ttlMs: Math.max(0, frame.expiresAt - Date.now()) } : frame;
    session.ws.send(JSON.stringify(out));
  }

  closeAll(code: number, reason: string): void {
    for (const s of this.sessions.values()) s.ws.close(code, reason);
    for (const [hostId] of this.pending)
      this.failPending(hostId, new KctlError('internal', 'controller shutting down'));
  }

  private emit(event: RegistryEvent): void {
    for (const l of this.listeners) l(event);
  }
}

export type RegistryEvent = { type: 'online'; hostId: string } | { type: 'offline'; hostId: string };

/** The controller trusts nothing it receives: a success value must match the op's result schema. */
function validateOutcome(op: string, outcome: Outcome): Outcome {
  if (!outcome.ok || !isOpName(op)) return outcome;
  const parsed = Ops[op].result.safeParse(outcome.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    error: {
      code: 'invalid_frame',
      message: `result of ${op}: ${describeZodError(parsed.error, 'value')}`,
      retryable: false,
    },
  };
}
