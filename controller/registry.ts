import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { CommandFrame, ControllerFrame, Outcome, ProgressFrame, ResultFrame } from '../proto/wire.js';
import { KctlError } from '../proto/errors.js';
import { Ops, isOpName } from '../proto/ops.js';
import { describeZodError } from '../proto/errors.js';
import type { Store } from './store/store.js';
import type { ControllerMetrics } from './metrics.js';

export interface AgentSession {
  hostId: string;
  hostName: string;
  ws: WebSocket;
  ip: string | null;
  connectedAt: number;
  lastFrameAt: number;
}

export interface CommandOptions {
  timeoutMs?: number;
  planId?: string;
  planHash?: string;
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
export class AgentRegistry {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();

  constructor(
    private readonly deps: {
      store: Store;
      log: Logger;
      metrics: ControllerMetrics;
      heartbeatIntervalMs: number;
    },
  ) {}

  /** Registers a new live connection. A live duplicate is refused (S7) unless the old one went silent. */
  attach(session: AgentSession): 'attached' | 'duplicate' {
    const existing = this.sessions.get(session.hostId);
    if (existing) {
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
    const host = this.deps.store.getHostState(hostId);
    if (!host) return Promise.reject(new KctlError('unknown_host', `No host with id "${hostId}"`));
    if (host.state !== 'active') {
      return Promise.reject(
        new KctlError('host_revoked', `Host "${host.name}" is revoked; no commands are sent to it`),
      );
    }
    if (!isOpName(op)) return Promise.reject(new KctlError('unknown_op', `Unknown op "${op}"`));
    const session = this.sessions.get(hostId);
    if (!session) {
      return Promise.reject(
        new KctlError('host_offline', `Host "${host.name}" is offline`, { retryable: true }),
      );
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    const now = Date.now();
    const frame: CommandFrame = {
      type: 'command',
      id: randomUUID(),
      hostId,
      op,
      args,
      issuedAt: now,
      expiresAt: now + timeoutMs,
      ...(options.planId ? { planId: options.planId } : {}),
      ...(options.planHash ? { planHash: options.planHash } : {}),
    };
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.get(hostId)?.delete(frame.id);
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
      }, timeoutMs);
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
    session.ws.send(JSON.stringify(frame));
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
