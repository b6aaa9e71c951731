import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HostList } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  startProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
  type Proc,
} from '../integration/harness.js';
import { healthyFiles } from '../fixtures/healthy-host.js';
import { faultContent } from './atomic-write-content.js';
import { faultSeed, findTempFiles, mulberry32 } from './fault-kit.js';

/**
 * A process writing a config file through the real LocalHost.writeFileAtomic (temp file, fsync,
 * rename, fsync of the directory) is killed with SIGKILL, many times: at random moments of a
 * write loop, and exactly between the temp file's write and its rename (a pause point made in the
 * child by wrapping its own fs rename; see atomic-write-child.ts). The file is always exactly the
 * old or the new content, never torn; the temp files the kills leave are removed when an agent
 * next starts on that host (S17).
 */
const TARGET = '/etc/kubernetes/admin.conf';
const RANDOM_TRIALS = 16;
const PAUSE_TRIALS = 8;
const seed = faultSeed();
const OLD = faultContent(0);
const NEW = faultContent(1);

function isPrefixOfAVersion(b: Buffer): boolean {
  return [OLD, NEW].some((v) => b.length <= v.length && v.subarray(0, b.length).equals(b));
}

describe(`a crash between the temp write and the rename of a config file (seed ${seed})`, () => {
  let root: string;
  const rng = mulberry32(seed);
  const outcomes = { keptOld: 0, gotNew: 0, tempLeft: 0 };
  let controller: ControllerHandle | undefined;
  let agent: AgentHandle | undefined;

  const target = (): string => join(root, TARGET);
  const child = (pauseAt: number): Proc =>
    startProcess(['test/faults/atomic-write-child.ts', root, TARGET, String(pauseAt)]);
  const line = (p: Proc, prefix: string, what: string): Promise<string> =>
    waitFor(
      what,
      () =>
        Promise.resolve(
          p
            .output()
            .split('\n')
            .find((l) => l.startsWith(prefix)),
        ),
      60_000,
      2,
    );

  beforeAll(async () => {
    console.log(`atomic write crash: seed ${seed} (replay: KCTL_FAULT_SEED=${seed})`);
    const healthy = healthyFiles();
    delete healthy['/etc/machine-id'];
    delete healthy['/sys/class/dmi/id/product_uuid'];
    delete healthy['/proc/sys/kernel/hostname'];
    root = await makeHostRoot('atomic', healthy);
    await mkdir(join(root, 'etc/kubernetes'), { recursive: true });
  });

  afterAll(async () => {
    console.log(`atomic write crash outcomes: ${JSON.stringify(outcomes)}`);
    await agent?.proc.stop();
    await controller?.proc.stop();
    await cleanup([root, ...(controller ? [controller.dataDir] : []), ...(agent ? [agent.stateDir] : [])]);
  });

  it(
    'a kill -9 between the temp write and the rename leaves the old file and a whole temp file',
    {
      timeout: 300_000,
    },
    async () => {
      for (let t = 0; t < PAUSE_TRIALS; t++) {
        // the target starts as NEW; write n puts OLD (n even) or NEW (n odd), so write n replaces version (n + 1) % 2
        await writeFile(target(), NEW, { mode: 0o600 });
        const n = rng.int(0, 4);
        const p = child(n);
        const paused = await line(p, 'paused ', `pause trial ${t}: write ${n} paused`);
        await new Promise((r) => setTimeout(r, rng.int(0, 20)));
        await p.stop('SIGKILL');
        const tmp = paused.slice('paused '.length);
        const want = n % 2 === 0 ? { old: NEW, next: OLD } : { old: OLD, next: NEW };
        expect(
          (await readFile(target())).equals(want.old),
          `pause trial ${t} (seed ${seed}): old content`,
        ).toBe(true);
        expect((await readFile(tmp)).equals(want.next), `pause trial ${t}: the temp file is whole`).toBe(
          true,
        );
      }
    },
  );

  it(
    'a kill -9 at a random moment of a write loop leaves the old or the new file, never a torn one',
    {
      timeout: 300_000,
    },
    async () => {
      for (let t = 0; t < RANDOM_TRIALS; t++) {
        await writeFile(target(), NEW, { mode: 0o600 });
        const before = new Set(await findTempFiles(root));
        const p = child(-1);
        await line(p, 'ready', `random trial ${t}: child ready`);
        await new Promise((r) => setTimeout(r, rng.int(0, 400)));
        await p.stop('SIGKILL');
        const now = await readFile(target());
        const where = `random trial ${t} (seed ${seed})`;
        expect(now.equals(OLD) || now.equals(NEW), `${where}: ${now.length} bytes, neither version`).toBe(
          true,
        );
        if (now.equals(OLD)) outcomes.keptOld++;
        else outcomes.gotNew++;
        for (const f of (await findTempFiles(root)).filter((f) => !before.has(f))) {
          outcomes.tempLeft++;
          expect(isPrefixOfAVersion(await readFile(f)), `${where}: temp file ${f}`).toBe(true);
        }
      }
    },
  );

  it(
    'an agent starting on the host removes the temp files the kills left',
    { timeout: 120_000 },
    async () => {
      const left = await findTempFiles(root);
      expect(left.length).toBeGreaterThanOrEqual(PAUSE_TRIALS);
      controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
      const token = (
        await kctl(['token', 'create'], { env: { KCTL_CONFIG: controller.clientConfig } })
      ).stdout.trim();
      agent = await startAgentProcess({ name: 'atomic', controller, token, hostRoot: root });
      const c = controller;
      await waitFor(
        'agent online',
        async () => (await c.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
        60_000,
      );
      expect(await findTempFiles(root)).toEqual([]);
      expect(agent.proc.output()).toMatch(new RegExp(`"removed":${left.length}.*stale temp files removed`));
      const now = await readFile(target());
      expect(now.equals(OLD) || now.equals(NEW)).toBe(true);
    },
  );
});
