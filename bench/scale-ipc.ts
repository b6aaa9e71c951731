/**
 * Messages between the scale benchmark's driver (bench/controller-scale.ts) and its two child
 * processes: the server under test (bench/scale-server.ts) and the load generator
 * (bench/scale-loadgen.ts). Node's IPC channel carries them; one request at a time per child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { LatencySummary } from './scale-stats.js';

export type ServerMode = 'kctl' | 'raw';

export interface ProcessStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** user + system CPU time since the process started */
  cpuMicros: number;
}

export interface ServerStats extends ProcessStats {
  type: 'stats';
  online: number;
  heartbeatsReceived: number;
}

export interface FanoutResult {
  type: 'fanout';
  hosts: number;
  /** from the start of the fan-out until each validated reply was in */
  sinceStart: LatencySummary;
  /** each command's own round trip as the registry timed it (send to result) */
  roundTrip: LatencySummary;
  /** time to hand every command to its socket */
  issueMs: number;
  failures: number;
  failureSamples: string[];
  /** filled in by the driver: CPU time each process spent during the round */
  serverCpuMs?: number;
  loadgenCpuMs?: number;
}

export type ServerRequest =
  | { type: 'stats'; gc: boolean }
  /** to `hostIds` when given (with replicas: hosts held here or elsewhere), else to every host online here */
  | { type: 'fanout'; timeoutMs: number; hostIds?: string[] }
  | { type: 'stop' };
export type ServerReply = { type: 'ready'; port: number } | ServerStats | FanoutResult | { type: 'stopped' };

export interface LoadgenStats extends ProcessStats {
  type: 'stats';
  open: number;
  heartbeatsSent: number;
  commandsAnswered: number;
  unexpectedCloses: number;
}

export type LoadgenRequest =
  | {
      type: 'connect';
      mode: ServerMode;
      port: number;
      n: number;
      /** the first identity to use (default 0): identities from..from+n-1 */
      from?: number;
      identitiesFile: string;
      caFile: string;
      concurrency: number;
      sources: number;
    }
  | { type: 'stats' }
  | { type: 'close' };

export type LoadgenReply =
  | { type: 'ready' }
  | { type: 'connected'; ok: number; failed: number; errors: string[]; ms: number }
  | LoadgenStats
  | { type: 'closed' };

export function processStats(): ProcessStats {
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    cpuMicros: cpu.user + cpu.system,
  };
}

/** A child running a TypeScript file under tsx, with an IPC channel; stdout/stderr go to ours. */
export function spawnChild(file: string, args: string[], nodeFlags: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Sends one request and resolves with the child's next reply of the wanted type. */
export function request<Reply extends { type: string }, T extends Reply['type']>(
  child: ChildProcess,
  message: object,
  want: T,
  timeoutMs: number,
): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${want}" reply within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: Reply): void => {
      if (m.type !== want) return;
      cleanup();
      resolve(m as Extract<Reply, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`child exited (${code}) before replying "${want}"`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message !== undefined && Object.keys(message).length > 0) child.send(message);
  });
}

export function reply(message: ServerReply | LoadgenReply): void {
  process.send?.(message);
}
