/**
 * A memory probe for a process the benchmarks start (agent or controller), with no hook in the
 * product's code: node's own `--import` of a data: URL installs a SIGUSR2 handler that runs a full
 * GC (the process was started with --expose-gc) and writes process.memoryUsage(), VmRSS and the V8
 * heap spaces as one JSON line to a file; with a snapshot path it also writes a heap snapshot.
 */
import { readFile, rm } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';

const PROBE_SOURCE = `
import v8 from 'node:v8';
import { appendFileSync, readFileSync } from 'node:fs';
const out = process.env.KCTL_BENCH_MEMORY_OUT;
const snap = process.env.KCTL_BENCH_HEAP_SNAPSHOT;
let n = 0;
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const vmRss = Number(/^VmRSS:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
  const heap = v8.getHeapStatistics();
  const snapshot = snap ? v8.writeHeapSnapshot(snap + '.' + (n++) + '.heapsnapshot') : undefined;
  appendFileSync(out, JSON.stringify({ ...process.memoryUsage(), vmRss, spaces,
    mallocedMemory: heap.malloced_memory, snapshot }) + '\\n');
});
`;

export interface MemorySample {
  rss: number;
  vmRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  mallocedMemory: number;
  spaces: Record<string, number>;
  snapshot?: string;
}

/** node options that install the probe; the child needs KCTL_BENCH_MEMORY_OUT in its environment */
export const PROBE_NODE_ARGS = [
  '--expose-gc',
  '--import',
  `data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`,
];

/** Asks the probe in `child` for one sample (after a full GC) and waits for it. */
export async function probeMemory(
  child: ChildProcess,
  outFile: string,
  timeoutMs = 30_000,
): Promise<MemorySample> {
  await rm(outFile, { force: true });
  child.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(outFile, 'utf8').catch(() => '');
    const line = text.split('\n').find((l) => l.trim() !== '');
    if (line) return JSON.parse(line) as MemorySample;
    if (Date.now() > deadline) throw new Error(`no memory sample from pid ${child.pid} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
