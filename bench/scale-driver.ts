/**
 * What the drivers of the fan-out benchmarks share (bench/controller-scale.ts: one controller;
 * bench/replica-fanout.ts: controller replicas on PostgreSQL): the open-files limit, stats requests
 * to the child processes, and one fan-out round with the CPU each process spent on it.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  request,
  type FanoutResult,
  type LoadgenReply,
  type LoadgenStats,
  type ServerReply,
  type ServerStats,
} from './scale-ipc.js';

export const say = (line: string): void => void process.stdout.write(`${line}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Raises this process's open-files limit; the children inherit it. Returns the soft limit now in force. */
export function raiseFileLimit(nofile = 65_536): number {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${nofile}:${nofile}`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) say(`prlimit failed (${r.stderr.trim() || r.error?.message}); keeping ulimit -n`);
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return Number(m?.[1] ?? 1024);
}

export const serverStats = (server: ChildProcess, gc: boolean): Promise<ServerStats> =>
  request<ServerReply, 'stats'>(server, { type: 'stats', gc }, 'stats', 60_000);
export const loadgenStats = (loadgen: ChildProcess): Promise<LoadgenStats> =>
  request<LoadgenReply, 'stats'>(loadgen, { type: 'stats' }, 'stats', 60_000);

/**
 * One `ping` to every host, issued by `server` (to `hostIds`, or to every host online there), and
 * whose CPU it took: the issuing server's, the load generator's (N agents on one core), and the
 * other servers' (replicas relaying), in ms.
 */
export async function fanoutRound(
  server: ChildProcess,
  loadgen: ChildProcess,
  options: { timeoutMs: number; hostIds?: string[]; others?: ChildProcess[] },
): Promise<FanoutResult & { otherCpuMs: number[] }> {
  const others = options.others ?? [];
  const cpu = async (): Promise<number[]> => [
    (await serverStats(server, false)).cpuMicros,
    (await loadgenStats(loadgen)).cpuMicros,
    ...(await Promise.all(others.map(async (o) => (await serverStats(o, false)).cpuMicros))),
  ];
  const before = await cpu();
  const f = await request<ServerReply, 'fanout'>(
    server,
    {
      type: 'fanout',
      timeoutMs: options.timeoutMs,
      ...(options.hostIds ? { hostIds: options.hostIds } : {}),
    },
    'fanout',
    2 * options.timeoutMs,
  );
  const spent = (await cpu()).map((c, i) => (c - (before[i] ?? 0)) / 1000);
  return {
    ...f,
    serverCpuMs: spent[0] ?? NaN,
    loadgenCpuMs: spent[1] ?? NaN,
    otherCpuMs: spent.slice(2),
  };
}
