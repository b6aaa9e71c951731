import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/**
 * Gives back the young generation an idle agent no longer needs (issue 13 part 7). Start-up and
 * each command burst make V8 grow its new space (1 MiB up to 8 MiB on this Node) and V8 shrinks it
 * only in a full GC at a low allocation rate, which a quiet agent never triggers: up to 7 MiB RSS
 * held for nothing. Every `intervalMs` this reads the heap spaces (microseconds) and, only when
 * the new space has grown past `newSpaceLimitBytes`, runs one full GC, which shrinks it.
 */
export interface HeapTrimOptions {
  intervalMs: number;
  /** committed new space above which a GC is worth its few milliseconds */
  newSpaceLimitBytes: number;
  log: Logger;
  /** tests give their own; by default V8's figures and a real full GC */
  newSpaceBytes?: () => number;
  fullGc?: () => void;
}

export const HEAP_TRIM_DEFAULTS = { intervalMs: 20_000, newSpaceLimitBytes: 2 * 1024 * 1024 } as const;

export function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

let gcFunction: (() => void) | undefined;

/** One full, synchronous GC without starting node with --expose-gc (the single-file agent has no argv of its own). */
export function fullGc(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/** Checks on a timer that does not keep the process alive; `stop()` ends it. */
export function startHeapTrim(options: HeapTrimOptions): { stop(): void; check(): boolean } {
  const readNewSpace = options.newSpaceBytes ?? newSpaceBytes;
  const gc = options.fullGc ?? fullGc;
  const check = (): boolean => {
    const before = readNewSpace();
    if (before <= options.newSpaceLimitBytes) return false;
    const start = performance.now();
    gc();
    options.log.debug(
      {
        newSpaceBefore: before,
        newSpaceAfter: readNewSpace(),
        durationMs: Math.round(performance.now() - start),
      },
      'heap trimmed',
    );
    return true;
  };
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), check };
}
