import { LIVE_PROTOCOL, LIVE_TOKEN_PREFIX, type LiveMessage } from '../fleet-api.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export interface LiveClientOptions {
  url: string;
  /** the current per-session token; re-read before every attempt */
  token(): string;
  onMessage(message: LiveMessage): void;
  onState(state: LiveState): void;
  /** called after a handshake that never opened: refresh the token, or leave for the login page */
  onRefused(): Promise<void>;
  /** silence after which the connection counts as dead (the server ticks every 10 s) */
  silenceMs?: number;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;

/** Capped exponential backoff with full jitter, never below 100 ms. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.max(100, Math.floor(random() * cap));
}

/** The page's live channel: one WebSocket that reconnects on its own until the page goes away. */
export class LiveClient {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private lastMessageAt = 0;
  private watchdog: number | undefined;
  private stopped = false;

  constructor(private readonly options: LiveClientOptions) {}

  start(): void {
    this.options.onState('connecting');
    this.connect();
    this.watchdog = window.setInterval(() => this.checkSilence(), 2000);
  }

  stop(): void {
    this.stopped = true;
    window.clearInterval(this.watchdog);
    this.ws?.close(1000, 'page closed');
  }

  private connect(): void {
    let opened = false;
    const ws = new WebSocket(this.options.url, [LIVE_PROTOCOL, LIVE_TOKEN_PREFIX + this.options.token()]);
    this.ws = ws;
    ws.addEventListener('open', () => {
      opened = true;
      this.attempt = 0;
      this.lastMessageAt = Date.now();
      this.options.onState('live');
    });
    ws.addEventListener('message', (event: MessageEvent) => {
      this.lastMessageAt = Date.now();
      if (typeof event.data !== 'string') return;
      this.options.onMessage(JSON.parse(event.data) as LiveMessage);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws || this.stopped) return;
      this.options.onState('reconnecting');
      const delay = reconnectDelay(this.attempt++);
      const retry = (): void => {
        if (!this.stopped) this.connect();
      };
      if (opened) window.setTimeout(retry, delay);
      else void this.options.onRefused().finally(() => window.setTimeout(retry, delay));
    });
  }

  private checkSilence(): void {
    const ws = this.ws;
    const silence = this.options.silenceMs ?? 25_000;
    if (ws?.readyState === WebSocket.OPEN && Date.now() - this.lastMessageAt > silence) ws.close();
  }
}
