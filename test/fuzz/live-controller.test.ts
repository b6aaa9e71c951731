import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { WebSocket } from 'ws';
import { EnrollResponse, HostList, RunOpResponse, TokenCreateResponse } from '../../proto/admin-api.js';
import { ErrorCode } from '../../proto/errors.js';
import { AgentFrame, ControllerFrame, parseJson } from '../../proto/wire.js';
import { MAX_FRAME_BYTES, MAX_WS_FRAGMENTS, PROTOCOL_VERSION } from '../../proto/version.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import {
  cleanup,
  startAgentProcess,
  startControllerProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from '../integration/harness.js';
import { fuzzSeed, hostileCase, template, wireBytes, wireText, type HostileCase } from './hostile-frames.js';

/**
 * Issue 7, fuzzing against a RUNNING controller: an enrolled client with a real host certificate
 * sends hostile frames over real mutual-TLS WebSockets. After every one: the bad connection got a
 * typed error frame and/or a policy close, the rejection was counted, the admin API answers, a
 * well-behaved agent still runs commands, and nothing in the store changed.
 */
/** bounded so the file stays under a minute on a loaded 2-core machine; FUZZ_RUNS=300 for a longer hunt */
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

const facts = {
  hostname: 'fuzzer',
  machineId: 'f'.repeat(32),
  productUuid: 'fuzz-uuid',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1024,
  cgroupVersion: 2,
};
const hello = { type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'fuzz', facts };
const wireError = { code: 'io_error', message: 'm', retryable: false };
const TEMPLATES = [
  template(hello),
  template({ type: 'heartbeat', seq: 1, sentAt: 1 }),
  template({ type: 'progress', id: 'c-1', message: 'm', stepId: 's' }),
  template({ type: 'result', id: 'c-1', replayed: false, outcome: { ok: false, error: wireError } }),
  template({ type: 'error', inReplyTo: 'c-1', error: wireError }),
];

interface Observed {
  frames: unknown[];
  closeCode: number;
}

describe('live fuzzing of a running controller', () => {
  let controller: ControllerHandle;
  let steady: AgentHandle;
  let caPem: string;
  let cred: { cert: string; key: string };
  let db: Database.Database;

  const rejectedTotal = async (): Promise<number> =>
    [
      ...(await controller.api.text('/metrics')).matchAll(/^kctl_frames_rejected_total\{[^}]*\} (\d+)$/gm),
    ].reduce((n, m) => n + Number(m[1]), 0);

  /** every table, minus the columns that heartbeats and connects legitimately move, minus our own pings' audit */
  const snapshot = (): string => {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as Array<{ name: string }>;
    const out: Record<string, unknown[]> = {};
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Array<
        Record<string, unknown>
      >;
      out[name] = rows
        .filter((r) => !(name === 'audit' && r.action === 'op.ping'))
        .map((r) => {
          const { last_seen_at: _seen, last_ip: _ip, ...rest } = r;
          return name === 'hosts' ? rest : r;
        });
    }
    return JSON.stringify(out);
  };

  /**
   * One connection per case is a reconnect storm by the controller's reckoning (30 at once, then 2 a
   * second per host): on 429 the fuzzer waits as a well-behaved agent's backoff would, then dials again.
   */
  const open = async (): Promise<WebSocket> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await dial();
      } catch (err) {
        if ((err as Error).message !== 'HTTP 429' || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 600));
      }
    }
  };

  const dial = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${controller.url.replace('https', 'wss')}/v1/agent`, {
        ca: [caPem],
        cert: cred.cert,
        key: cred.key,
        perMessageDeflate: false,
        maxPayload: 4 * MAX_FRAME_BYTES,
      });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });

  /** Opens a connection (after a valid hello when asked), sends the case, and waits for the close. */
  const play = async (c: HostileCase): Promise<Observed> => {
    for (let attempt = 0; ; attempt++) {
      const ws = await open();
      const frames: unknown[] = [];
      ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())));
      ws.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      if (c.session) {
        ws.send(JSON.stringify(hello));
        await waitFor('welcome or refusal', () => Promise.resolve(frames.length > 0), 10_000, 5);
        const first = frames.shift() as { type: string; error?: { code: string } };
        if (first.type !== 'welcome') {
          // the previous case's connection is not detached yet: a duplicate; try again shortly
          expect(first.error?.code, JSON.stringify(first)).toBe('duplicate_connection');
          await closed;
          expect(attempt).toBeLessThan(50);
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
      }
      const w = c.wire;
      if (w.kind === 'text') ws.send(w.data);
      else if (w.kind === 'rawText') ws.send(w.data, { binary: false });
      else if (w.kind === 'binary') ws.send(w.data, { binary: true });
      else w.parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === w.parts.length - 1 }));
      const timer = setTimeout(() => ws.terminate(), 15_000);
      const closeCode = await closed;
      clearTimeout(timer);
      // heartbeats from the controller are not answers to the case
      return { frames: frames.filter((f) => (f as { type?: string }).type !== 'heartbeat'), closeCode };
    }
  };

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 1000 });
    caPem = await readFile(join(controller.dataDir, 'ca.crt'), 'utf8');
    const { token } = await controller.api.post(
      '/v1/admin/tokens',
      { ttlMs: 600_000, uses: 2 },
      TokenCreateResponse,
    );
    steady = await startAgentProcess({ name: 'steady', controller, token, heartbeatIntervalMs: 1000 });
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const enrolled = await controller.api.post(
      '/v1/enroll',
      { token, csrPem, facts, labels: {}, protocolVersion: PROTOCOL_VERSION },
      EnrollResponse,
    );
    cred = { cert: enrolled.certPem, key: keyPem };
    await waitFor('steady online', async () =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some(
        (h) => h.name === 'steady' && h.online,
      ),
    );
    db = new Database(join(controller.dataDir, 'state.db'), { readonly: true, fileMustExist: true });
    // one good session first, so the fuzzer host's facts are recorded before the baseline
    const warm = await open();
    const welcome = new Promise((resolve) => warm.once('message', resolve));
    warm.send(JSON.stringify(hello));
    await welcome;
    warm.close();
    // a hello's write is batched (one transaction a second); reading host rows writes what is
    // pending first, so the baseline below holds the warm session's facts
    await controller.api.get('/v1/admin/hosts', HostList);
  }, 60_000);

  afterAll(async () => {
    db?.close();
    await steady?.proc.stop();
    await controller?.proc.stop();
    await cleanup([controller.dataDir, steady.stateDir, steady.hostRoot]);
  });

  it(
    'survives hostile frames from an enrolled client: typed error or policy close, counted, nothing else changed',
    { timeout: 120_000 },
    async () => {
      const baseline = snapshot();
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(hostileCase(TEMPLATES, { session: true }), async (c) => {
          const text = wireText(c.wire);
          const bytes = wireBytes(c.wire);
          if (text !== undefined && bytes <= MAX_FRAME_BYTES) {
            // a frame the controller must accept in this state is no attack: skip it
            const v = parseJson(text, AgentFrame);
            fc.pre(!v.ok || (v.value.type === 'hello') === c.session);
          }
          seen.set(c.category, (seen.get(c.category) ?? 0) + 1);
          const before = await rejectedTotal();
          const { frames, closeCode } = await play(c);

          const tooManyFragments = c.wire.kind === 'fragments' && c.wire.parts.length > MAX_WS_FRAGMENTS;
          if (bytes > MAX_FRAME_BYTES) expect(closeCode, c.category).toBe(1009);
          else if (c.wire.kind === 'rawText') expect(closeCode, c.category).toBe(1007);
          else if (tooManyFragments) expect(closeCode, c.category).toBe(1008);
          else {
            expect([1008, 4000], c.category).toContain(closeCode);
            expect(frames, c.category).toHaveLength(1);
          }
          for (const f of frames) {
            const parsed = ControllerFrame.safeParse(f);
            expect(parsed.success, JSON.stringify(f).slice(0, 300)).toBe(true);
            const e = f as { type: string; error: { code: string; message: string } };
            expect(e.type).toBe('error');
            expect(ErrorCode.options).toContain(e.error.code);
            if (c.field) expect(e.error.message, c.field).toContain(c.field.split('.')[0]);
          }
          await waitFor('rejection counted', async () => (await rejectedTotal()) > before, 5000, 20);
          const hosts = (await controller.api.get('/v1/admin/hosts', HostList)).hosts;
          expect(hosts.find((h) => h.name === 'steady')?.online).toBe(true);
          const ping = await controller.api.post(
            '/v1/admin/ops',
            { host: 'steady', op: 'ping', args: {} },
            RunOpResponse,
          );
          expect(ping.outcome.ok).toBe(true);
          expect(snapshot()).toBe(baseline);
        }),
        { numRuns: RUNS, seed: fuzzSeed('live-controller'), endOnFailure: true },
      );
      process.stderr.write(`live-controller cases: ${JSON.stringify(Object.fromEntries(seen))}\n`);
      expect(controller.proc.proc.exitCode).toBeNull();
      expect(steady.proc.proc.exitCode).toBeNull();
    },
  );
});
