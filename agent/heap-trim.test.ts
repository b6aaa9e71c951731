import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startHeapTrim } from './heap-trim.js';

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;

describe('heap trim', () => {
  it.each([
    ['runs a full GC when the new space has grown past the limit', 8 * MiB, 1],
    ['leaves a new space at the limit alone', 2 * MiB, 0],
    ['leaves a small new space alone', 1 * MiB, 0],
  ])('%s', (_, committed, gcs) => {
    let calls = 0;
    const trim = startHeapTrim({
      intervalMs: 60_000,
      newSpaceLimitBytes: 2 * MiB,
      log,
      newSpaceBytes: () => committed,
      fullGc: () => void calls++,
    });
    try {
      expect(trim.check()).toBe(gcs === 1);
      expect(calls).toBe(gcs);
    } finally {
      trim.stop();
    }
  });

  it(
    'gives back a grown new space in a real node process (no --expose-gc on its command line)',
    { timeout: 30_000 },
    () => {
      // a burst of surviving allocations grows the new space, as start-up does; after a quiet
      // moment one check shrinks it (V8 shrinks only at a low allocation rate over its last 5 s)
      const script = `
      import { pino } from 'pino';
      import { newSpaceBytes, startHeapTrim } from './agent/heap-trim.ts';
      let keep = [];
      for (let i = 0; i < 100_000; i++) keep.push({ i, s: 'x' + i });
      const grown = newSpaceBytes();
      keep = []; // start-up's temporaries are garbage once it is done
      setTimeout(() => {
        const trim = startHeapTrim({ intervalMs: 60_000, newSpaceLimitBytes: 2 * 1024 * 1024, log: pino({ level: 'silent' }) });
        const ran = trim.check();
        trim.stop();
        process.stdout.write(JSON.stringify({ grown, ran, after: newSpaceBytes() }));
      }, 6000);
    `;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(child.status, child.stderr).toBe(0);
      const result = JSON.parse(child.stdout) as { grown: number; ran: boolean; after: number };
      expect(result.grown).toBeGreaterThan(2 * MiB);
      expect(result.ran).toBe(true);
      expect(result.after).toBeLessThanOrEqual(2 * MiB);
    },
  );
});
