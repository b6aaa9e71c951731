import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalEntry } from '../../../agent/journal.js';
import { kctl, startProcess, waitFor } from '../../integration/harness.js';
import { startLab, type Lab } from '../../integration/ha-lab.js';
import { PartitionProxy } from '../fault-kit.js';

/**
 * cp-2 talks to the controller through a TCP proxy on loopback. While its `kubeadm join` runs (a
 * slow stand-in join, 4 s), the link goes for 60 s, in two ways:
 * - refused: the proxy drops the connection and refuses every reconnect;
 * - black hole: nothing passes and nothing closes; new connections hang. Only the heartbeats on
 *   both ends can tell (3 silent intervals), and each reconnect waits out its handshake timeout.
 * The agent retries with capped exponential backoff (full jitter: each delay at most
 * min(cap, initial * 2^attempt)); when the link is back it reconnects, the controller re-sends the
 * pending command, the agent answers it from its journal, the join ran once, and the apply finishes.
 */
const PARTITION_MS = Number(process.env.KCTL_FAULT_PARTITION_MS ?? 60_000);
const BACKOFF = { initialDelayMs: 250, maxDelayMs: 8000 };

interface LogLine {
  time: number;
  msg: string;
  retryInMs?: number;
  commandId?: string;
  op?: string;
}

/** the agent's TLS/WebSocket handshake timeout (agent/connection.ts): a hanging attempt lasts this long */
const HANDSHAKE_TIMEOUT_MS = 10_000;

describe.each(['refused', 'black hole'] as const)(
  `a ${PARTITION_MS / 1000} s network partition (%s) of an agent while its command runs`,
  (mode) => {
    let lab: Lab;
    let proxy: PartitionProxy | undefined;

    beforeAll(async () => {
      lab = await startLab({
        slowJoinOn: 'cp-2',
        agentController: async (host, controller) => {
          if (host !== 'cp-2') return undefined;
          proxy = new PartitionProxy(controller.port);
          await proxy.up();
          return `https://127.0.0.1:${proxy.port}`;
        },
        agentExtra: (host) => (host === 'cp-2' ? { reconnect: BACKOFF } : {}),
      });
    }, 300_000);
    afterAll(async () => {
      await proxy?.down();
      await lab?.close();
    });

    it(
      'reconnects with capped backoff, runs the command once and the apply completes',
      {
        timeout: PARTITION_MS + 300_000,
      },
      async () => {
        const cp2 = lab.agents[1]!;
        const online = async (): Promise<number> => await lab.onlineCount();
        const apply = startProcess(['controller/cli/kctl.ts', 'apply', '-f', lab.clusterFile, '-o', 'json'], {
          env: lab.env,
        });
        await waitFor(
          'cp-2 join started',
          () => Promise.resolve(existsSync(join(lab.dir, 'slow-cp-2', 'join-started'))),
          180_000,
          20,
        );
        const cutAt = Date.now();
        if (mode === 'refused') await proxy!.down();
        else proxy!.blackhole();
        await waitFor('cp-2 offline', async () => (await online()) === 4, 20_000, 50);
        const offlineAfterMs = Date.now() - cutAt;
        await new Promise((r) => setTimeout(r, cutAt + PARTITION_MS - Date.now()));
        const healedAt = Date.now();
        if (mode === 'refused') await proxy!.up();
        else proxy!.heal();
        await waitFor(
          'cp-2 back online',
          async () => (await online()) === 5,
          BACKOFF.maxDelayMs + HANDSHAKE_TIMEOUT_MS + 20_000,
          50,
        );
        const backAfterMs = Date.now() - healedAt;

        expect(await apply.exited, apply.output().slice(-3000)).toBe(0);
        expect(apply.output()).toMatch(/"type":"apply-done".*"status":"succeeded"/);

        // backoff: one refused attempt after another, each delay within its capped ceiling
        const log = cp2.proc
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as LogLine);
        const retries = log
          .filter(
            (l) => l.msg === 'disconnected' && l.time >= cutAt && l.time <= healedAt + BACKOFF.maxDelayMs,
          )
          .map((l) => l.retryInMs!);
        const ceilings = retries.map((_, k) => Math.min(BACKOFF.maxDelayMs, BACKOFF.initialDelayMs * 2 ** k));
        console.log(
          `partition (${mode}) ${PARTITION_MS} ms: offline after ${offlineAfterMs} ms, ${retries.length} reconnect attempts, delays ${retries.join(', ')} ms (ceilings ${ceilings.join(', ')}); back ${backAfterMs} ms after the link returned`,
        );
        retries.forEach((d, k) => expect(d, `attempt ${k}`).toBeLessThanOrEqual(ceilings[k]!));
        // every attempt costs at most maxDelayMs of waiting, plus a handshake that hangs in a black hole
        const perAttemptMs = BACKOFF.maxDelayMs + (mode === 'black hole' ? HANDSHAKE_TIMEOUT_MS : 0);
        expect(retries.length).toBeGreaterThanOrEqual(Math.floor(PARTITION_MS / perAttemptMs) - 1);
        // far fewer than without backoff
        expect(retries.length).toBeLessThan(PARTITION_MS / (4 * BACKOFF.initialDelayMs));
        if (mode === 'refused') {
          // the delays grew past the first ceilings (a fixed 250 ms retry would never wait over 1 s)
          expect(Math.max(...retries)).toBeGreaterThan(1000);
        } else {
          // nothing closed: both ends found the silence with their heartbeats (3 intervals of 500 ms)
          expect(
            log.filter((l) => l.msg === 'controller heartbeat timeout' && l.time >= cutAt).length,
          ).toBeGreaterThan(0);
          expect(lab.controller.proc.output()).toContain('agent heartbeat timeout');
          expect(offlineAfterMs).toBeLessThan(10_000);
        }
        expect(backAfterMs).toBeLessThanOrEqual(perAttemptMs + 10_000);

        // the join ran once: one journal entry, one start, the re-send answered from the journal
        const journalDir = join(cp2.stateDir, 'state', 'journal');
        const joins: JournalEntry[] = [];
        for (const name of await readdir(journalDir)) {
          const e = JournalEntry.parse(JSON.parse(await readFile(join(journalDir, name), 'utf8')));
          if (e.op === 'kubeadm.join') joins.push(e);
        }
        expect(joins).toHaveLength(1);
        expect(joins[0]).toMatchObject({ status: 'done', outcome: { ok: true } });
        const forJoin = log.filter((l) => l.commandId === joins[0]!.id);
        expect(forJoin.filter((l) => l.msg === 'command started')).toHaveLength(1);
        expect(forJoin.filter((l) => l.msg === 'command answered from journal')).toHaveLength(1);
        const standinJoins = (await lab.calls()).filter(
          (c) => c.tool === 'kubeadm' && c.argv[0] === 'join' && c.node === 'cp-2',
        );
        expect(standinJoins).toHaveLength(1);

        const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
        expect(plan.stdout).toContain('cluster ha: no changes.');
      },
    );
  },
);
