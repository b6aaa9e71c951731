import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { KctlError, toWireError, type WireError } from '../../proto/errors.js';
import type { Outcome, ProgressFrame } from '../../proto/wire.js';
import { NotifyBatcher } from './pg-notify-batch.js';

/**
 * Commands for a host whose agent is connected to another controller replica, through PostgreSQL
 * itself (issue 16): LISTEN/NOTIFY on one channel. A command's or result's body rides in its
 * notice when it fits (a notification holds under 8000 bytes), else in table relay_messages (a
 * command's files do not fit). Notices go out in batches (pg-notify-batch.ts): a fan-out relayed
 * one query per notice and per body was 5-10x slower than a local one at 2,000 hosts
 * (docs/benchmarks.md). No new infrastructure.
 *
 * The replica that needs the host announces the command to every replica; the one holding the
 * host's session acknowledges, runs it through its own registry (the same authorisation, journal
 * ids and at-least-once delivery as a local command), relays progress lines, and answers with the
 * outcome. No acknowledgement within `ackMs` means no replica holds the host: `host_offline`, as
 * for a local host without a session; unless its heartbeats were recorded lately, when the asker
 * waits a few more windows (a replica under load acknowledges late; seen in CI at load 20+). A replica that dies after acknowledging leaves the caller to
 * its timeout; the engine retries with the same command id, which the agent's journal replays.
 *
 * The same channel carries "host changed" notices, so every replica's host-state cache follows
 * enrollments, rotations and revocations made through another replica.
 */

export const RELAY_CHANNEL = 'kctl_relay';

export interface RelayCommandOptions {
  timeoutMs: number;
  commandId: string;
  planId?: string | undefined;
  planHash?: string | undefined;
  onProgress?: ((p: ProgressFrame) => void) | undefined;
}

export interface RelayedResult {
  commandId: string;
  outcome: Outcome;
  replayed: boolean;
  durationMs: number;
}

/** What the relay needs from this replica. */
export interface RelayHost {
  /** whether a live agent session for the host is on this replica */
  holds(hostId: string): boolean;
  /** runs a command on this replica's session of the host */
  run(
    hostId: string,
    op: string,
    args: Record<string, unknown>,
    options: RelayCommandOptions,
  ): Promise<RelayedResult>;
  /** a host's standing changed through another replica */
  hostChanged(hostId: string): void;
  /**
   * whether some replica recorded the host's heartbeats lately: a loaded replica may acknowledge
   * late, and a host that is plainly alive is not declared offline for that
   */
  seenLately(hostId: string): Promise<boolean>;
}

/** `body` present: carried in the notice; absent: stored in relay_messages under `<id>:cmd` / `<id>:result` */
type Notice =
  | { k: 'cmd'; id: string; from: string; host: string; body?: CommandBody }
  | { k: 'ack'; id: string; from: string; to: string }
  | { k: 'progress'; id: string; to: string; message: string }
  | { k: 'result'; id: string; to: string; body?: ResultBody }
  | { k: 'host'; from: string; host: string };

interface Waiting {
  acked: boolean;
  /** the result came in its notice: nothing of this command is left in relay_messages */
  resultInline: boolean;
  resolve(r: RelayedResult): void;
  reject(e: KctlError): void;
  onProgress: ((p: ProgressFrame) => void) | undefined;
  hostId: string;
  commandId: string;
}

interface CommandBody {
  op: string;
  args: Record<string, unknown>;
  options: Omit<RelayCommandOptions, 'onProgress'>;
}
type ResultBody = { ok: true; result: RelayedResult } | { ok: false; error: WireError };

/** Progress lines relayed are cut to this many characters (a notification is small). */
const MAX_PROGRESS_CHARS = 500;

/** A notice with its body longer than this (bytes of JSON) leaves the body in relay_messages: PostgreSQL's limit is 8000. */
const MAX_INLINE_BYTES = 7000;

/** The notice with `body` in it when that fits in a notification; undefined when it does not. */
function inline<N extends Notice>(notice: N, body: CommandBody | ResultBody): N | undefined {
  const withBody = { ...notice, body };
  return Buffer.byteLength(JSON.stringify(withBody)) <= MAX_INLINE_BYTES ? withBody : undefined;
}

/** Acknowledgement windows granted to a host whose heartbeats are recent, before it counts as offline. */
const MAX_ACK_WAITS = 5;

export class PgRelay {
  private readonly waiting = new Map<string, Waiting>();
  private readonly serving = new Set<string>();
  private listener: pg.PoolClient | undefined;
  private closed = false;
  private readonly notices: NotifyBatcher;

  private constructor(
    private readonly pool: pg.Pool,
    /** this replica's name: notices addressed to it are its own */
    readonly replica: string,
    private readonly host: RelayHost,
    private readonly log: Logger,
    private readonly ackMs: number,
  ) {
    this.notices = new NotifyBatcher(pool, RELAY_CHANNEL);
  }

  static async start(options: {
    pool: pg.Pool;
    replica: string;
    host: RelayHost;
    log: Logger;
    /** how long the holder of a host has to acknowledge a command; default 2 s */
    ackMs?: number;
  }): Promise<PgRelay> {
    const relay = new PgRelay(
      options.pool,
      options.replica,
      options.host,
      options.log,
      options.ackMs ?? 2000,
    );
    await relay.listen();
    // bodies of commands whose replicas died before cleaning up
    await options.pool.query('DELETE FROM relay_messages WHERE at < $1', [Date.now() - 3_600_000]);
    return relay;
  }

  private async listen(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', (n) => {
      if (n.channel !== RELAY_CHANNEL || n.payload === undefined) return;
      let notice: Notice;
      try {
        notice = JSON.parse(n.payload) as Notice;
      } catch {
        return;
      }
      this.onNotice(notice).catch((err: unknown) => this.log.warn({ err }, 'relay notice failed'));
    });
    client.on('error', (err) => {
      this.log.warn({ err }, 'relay listener lost its database connection; reconnecting');
      client.release(true);
      if (this.listener === client) this.listener = undefined;
      void this.relisten();
    });
    await client.query(`LISTEN ${RELAY_CHANNEL}`);
    this.listener = client;
  }

  private async relisten(): Promise<void> {
    for (let delay = 500; !this.closed && this.listener === undefined; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.listen();
      } catch (err) {
        this.log.warn({ err }, 'relay listener: cannot reconnect yet');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private notify(notice: Notice): Promise<void> {
    return this.notices.notify(JSON.stringify(notice));
  }

  /** Tells the other replicas a host's standing changed here (their caches re-read it). */
  async hostChanged(hostId: string): Promise<void> {
    await this.notify({ k: 'host', from: this.replica, host: hostId });
  }

  /**
   * Runs a command on whichever replica holds the host's session. Rejects `host_offline` when none
   * acknowledges within ackMs, `timeout` when the outcome does not come within the command's time.
   */
  async send(
    hostId: string,
    hostName: string,
    op: string,
    args: Record<string, unknown>,
    options: RelayCommandOptions,
  ): Promise<RelayedResult> {
    const id = randomUUID();
    const { onProgress, ...plain } = options;
    const body: CommandBody = { op, args, options: plain };
    const announce: Notice = { k: 'cmd', id, from: this.replica, host: hostId };
    const inlined = inline(announce, body);
    if (inlined === undefined)
      await this.pool.query('INSERT INTO relay_messages (id, body, at) VALUES ($1, $2, $3)', [
        `${id}:cmd`,
        JSON.stringify(body),
        Date.now(),
      ]);
    const notice = inlined ?? announce;
    const waiting: Waiting = {
      acked: false,
      resultInline: false,
      resolve: () => undefined,
      reject: () => undefined,
      onProgress,
      hostId,
      commandId: options.commandId,
    };
    try {
      return await new Promise<RelayedResult>((resolve, reject) => {
        this.waiting.set(id, waiting);
        let ackWaits = 0;
        const onAckDeadline = async (): Promise<void> => {
          if (waiting.acked || !this.waiting.has(id)) return;
          ackWaits += 1;
          const alive = ackWaits < MAX_ACK_WAITS && (await this.host.seenLately(hostId).catch(() => false));
          if (waiting.acked || !this.waiting.has(id)) return;
          if (alive) {
            // announced again: a holder that took the session after the first notice serves it now
            this.notify(notice).catch(() => undefined);
            ackTimer = setTimeout(() => void onAckDeadline(), this.ackMs);
            return;
          }
          this.waiting.delete(id);
          reject(new KctlError('host_offline', `Host "${hostName}" is offline`, { retryable: true }));
        };
        let ackTimer = setTimeout(() => void onAckDeadline(), this.ackMs);
        const doneTimer = setTimeout(
          () => {
            if (!this.waiting.has(id)) return;
            this.waiting.delete(id);
            reject(
              new KctlError(
                'timeout',
                `Command ${op} to host "${hostName}" (on another controller replica) got no result within ${options.timeoutMs} ms`,
                { retryable: true, details: { commandId: options.commandId } },
              ),
            );
          },
          options.timeoutMs + MAX_ACK_WAITS * this.ackMs,
        );
        const clear = () => {
          clearTimeout(ackTimer);
          clearTimeout(doneTimer);
        };
        waiting.resolve = (r) => {
          clear();
          resolve(r);
        };
        waiting.reject = (e) => {
          clear();
          reject(e);
        };
        this.notify(notice).catch((err: unknown) => {
          this.waiting.delete(id);
          waiting.reject(
            new KctlError('io_error', `Cannot relay a command: ${(err as Error).message}`, {
              retryable: true,
            }),
          );
        });
      });
    } finally {
      // a body in the table, or a result that is or may yet be there, goes when the command ends
      if (inlined === undefined || !waiting.resultInline)
        await this.pool
          .query('DELETE FROM relay_messages WHERE id = ANY($1)', [[`${id}:cmd`, `${id}:result`]])
          .catch(() => undefined);
    }
  }

  private async onNotice(n: Notice): Promise<void> {
    switch (n.k) {
      case 'host':
        if (n.from !== this.replica) this.host.hostChanged(n.host);
        return;
      case 'cmd':
        if (n.from !== this.replica && this.host.holds(n.host)) await this.serve(n, n.host);
        return;
      case 'ack': {
        const w = n.to === this.replica ? this.waiting.get(n.id) : undefined;
        if (w) w.acked = true;
        return;
      }
      case 'progress': {
        const w = n.to === this.replica ? this.waiting.get(n.id) : undefined;
        w?.onProgress?.({ type: 'progress', id: w.commandId, message: n.message });
        return;
      }
      case 'result': {
        const w = n.to === this.replica ? this.waiting.get(n.id) : undefined;
        if (!w) return;
        this.waiting.delete(n.id);
        w.resultInline = n.body !== undefined;
        const body = n.body ?? (await this.storedResult(n.id));
        if (body === undefined) {
          w.reject(
            new KctlError('internal', 'A relayed result was announced but not stored', { retryable: true }),
          );
          return;
        }
        if (body.ok) w.resolve(body.result);
        else
          w.reject(new KctlError(body.error.code, body.error.message, { retryable: body.error.retryable }));
        return;
      }
    }
  }

  private async storedResult(id: string): Promise<ResultBody | undefined> {
    const r = await this.pool.query<{ body: string }>('SELECT body FROM relay_messages WHERE id = $1', [
      `${id}:result`,
    ]);
    const text = r.rows[0]?.body;
    return text === undefined ? undefined : (JSON.parse(text) as ResultBody);
  }

  /** This replica holds the host: run the command here and answer the replica that asked. */
  private async serve(cmd: Extract<Notice, { k: 'cmd' }>, hostId: string): Promise<void> {
    // a command announced again (its ack came late) is served once here
    if (this.serving.has(cmd.id)) return;
    this.serving.add(cmd.id);
    try {
      await this.serveOnce(cmd, hostId);
    } finally {
      setTimeout(() => this.serving.delete(cmd.id), 60_000).unref();
    }
  }

  private async serveOnce(cmd: Extract<Notice, { k: 'cmd' }>, hostId: string): Promise<void> {
    const { id, from: to } = cmd;
    await this.notify({ k: 'ack', id, from: this.replica, to });
    let body = cmd.body;
    if (body === undefined) {
      const r = await this.pool.query<{ body: string }>('SELECT body FROM relay_messages WHERE id = $1', [
        `${id}:cmd`,
      ]);
      const text = r.rows[0]?.body;
      if (text === undefined) return; // the asker gave up and cleaned up
      body = JSON.parse(text) as CommandBody;
    }
    let answer: ResultBody;
    try {
      const result = await this.host.run(hostId, body.op, body.args, {
        ...body.options,
        onProgress: (p) => {
          this.notify({ k: 'progress', id, to, message: p.message.slice(0, MAX_PROGRESS_CHARS) }).catch(
            () => undefined,
          );
        },
      });
      answer = { ok: true, result };
    } catch (err) {
      answer = { ok: false, error: toWireError(err) };
    }
    const result: Notice = { k: 'result', id, to };
    const inlined = inline(result, answer);
    if (inlined === undefined)
      await this.pool.query(
        'INSERT INTO relay_messages (id, body, at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
        [`${id}:result`, JSON.stringify(answer), Date.now()],
      );
    await this.notify(inlined ?? result);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(new KctlError('internal', 'controller shutting down'));
    }
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      await l.query(`UNLISTEN ${RELAY_CHANNEL}`).catch(() => undefined);
      l.release();
    }
  }
}
