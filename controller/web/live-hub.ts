import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { FleetSnapshot, LiveMessage } from './fleet-api.js';
import { diffRows } from './fleet-view.js';

/** What the hub needs to know about the fleet; FleetSource in production, plain objects in tests. */
export interface FleetReader {
  snapshot(): FleetSnapshot | Promise<FleetSnapshot>;
  fingerprint(): string | Promise<string>;
}

export interface LiveHubOptions {
  fleet: FleetReader;
  log: Logger;
  /** subscribe to registry online/offline events; returns the unsubscribe function */
  subscribe(listener: () => void): () => void;
  /** is this client's session still valid (not expired, token not deleted)? */
  stillAllowed(client: LiveClientInfo): boolean | Promise<boolean>;
  /** coalescing period: at most one update per period (default 500 ms: ~2 updates a second) */
  intervalMs?: number;
  /** keep-alive and clock message period (default 10 s) */
  tickMs?: number;
}

export interface LiveClientInfo {
  sessionId: string;
}

/** Close codes the page understands; 4401 sends it back to the login page on its next attempt. */
export const LiveCloseCode = { sessionEnded: 4401, slowReader: 4408, noInput: 1008, shutdown: 1001 } as const;

/** A browser that lets this much pile up in its socket is dropped; it gets a snapshot on reconnect. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Fans fleet changes out to the browsers on the live channel. Registry events and store changes
 * (a heartbeat moves a host's last-seen time) only mark the fleet dirty; a timer turns dirt into
 * one message per period, holding only the rows that changed, so a thousand heartbeats a second
 * still reach a browser as two small updates.
 */
export class LiveHub {
  private readonly clients = new Map<WebSocket, LiveClientInfo & { alive: boolean }>();
  private readonly known = new Map<string, string>();
  private lastSummary = '';
  private lastFingerprint = '';
  private dirty = true;
  private seq = 0;
  /** the flush in progress: a timer firing meanwhile waits for the next period instead of overlapping it */
  private flushing: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: () => void;

  constructor(private readonly options: LiveHubOptions) {
    this.unsubscribe = options.subscribe(() => {
      this.dirty = true;
    });
    this.timers.push(setInterval(() => void this.flush(), options.intervalMs ?? 500));
    this.timers.push(setInterval(() => this.tick(), options.tickMs ?? 10_000));
    for (const t of this.timers) t.unref();
  }

  clientCount(): number {
    return this.clients.size;
  }

  /** A new browser gets the whole fleet at once, then the deltas everyone gets. */
  add(ws: WebSocket, info: LiveClientInfo): void {
    const entry = { ...info, alive: true };
    this.clients.set(ws, entry);
    ws.on('pong', () => (entry.alive = true));
    ws.on('message', () => ws.close(LiveCloseCode.noInput, 'the live channel takes no input'));
    ws.on('close', () => this.clients.delete(ws));
    ws.on('error', (err) => this.options.log.debug({ err: err.message }, 'live socket error'));
    void (async () => {
      const snapshot = await this.options.fleet.snapshot();
      this.send(ws, { type: 'snapshot', seq: this.seq, snapshot });
    })().catch((err: unknown) => {
      this.options.log.error({ err }, 'fleet snapshot failed');
      this.clients.delete(ws);
      ws.close(LiveCloseCode.shutdown, 'fleet snapshot failed');
    });
  }

  /** Sends what changed since the last message, if anything did. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce()
      .catch((err: unknown) => this.options.log.error({ err }, 'fleet page update failed'))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    await this.dropEnded();
    if (this.clients.size === 0) {
      // nobody listens: forget what was sent so the next listener's deltas start clean
      this.dirty = true;
      return;
    }
    const fingerprint = await this.options.fleet.fingerprint();
    if (!this.dirty && fingerprint === this.lastFingerprint) return;
    this.dirty = false;
    this.lastFingerprint = fingerprint;
    const snapshot = await this.options.fleet.snapshot();
    const { upserts, removed } = diffRows(this.known, snapshot.hosts);
    const summaryText = JSON.stringify(snapshot.summary);
    if (upserts.length === 0 && removed.length === 0 && summaryText === this.lastSummary) return;
    this.lastSummary = summaryText;
    this.broadcast({
      type: 'update',
      seq: ++this.seq,
      now: snapshot.now,
      summary: snapshot.summary,
      upserts,
      removed,
    });
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.unsubscribe();
    for (const ws of this.clients.keys()) ws.close(LiveCloseCode.shutdown, 'controller stopping');
    this.clients.clear();
  }

  private tick(): void {
    for (const [ws, entry] of this.clients) {
      if (!entry.alive) {
        ws.terminate();
        continue;
      }
      entry.alive = false;
      ws.ping();
    }
    this.broadcast({ type: 'tick', now: Date.now() });
  }

  private async dropEnded(): Promise<void> {
    for (const [ws, info] of [...this.clients]) {
      if (!(await this.options.stillAllowed(info))) {
        this.clients.delete(ws);
        ws.close(LiveCloseCode.sessionEnded, 'session ended');
      }
    }
  }

  private broadcast(message: LiveMessage): void {
    const text = JSON.stringify(message);
    for (const ws of this.clients.keys()) this.sendText(ws, text);
  }

  private send(ws: WebSocket, message: LiveMessage): void {
    this.sendText(ws, JSON.stringify(message));
  }

  private sendText(ws: WebSocket, text: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.options.log.warn({ buffered: ws.bufferedAmount }, 'slow fleet page reader dropped');
      this.clients.delete(ws);
      ws.terminate();
      return;
    }
    ws.send(text);
  }
}
