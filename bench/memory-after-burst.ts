/**
 * Controller memory after abuse (issue 12 finding 9). A real controller (`kctl controller run`, its
 * own process, with the memory probe of bench/memory-probe.ts: --expose-gc and a SIGUSR2 handler in
 * the bench's process only, nothing in the product) and one real agent; `--fuzzers` enrolled clients
 * with their own host certificates. Each round sends `--cases` hostile frames (the live fuzzer's
 * generator: malformed JSON, wrong types, unknown keys and types, deep nesting, prototype keys,
 * invalid UTF-8, binary, fragments) plus `--huge` frames of the maximum frame size and just over it,
 * one connection per frame (a reconnect each, waiting out 429 as an agent's backoff would).
 *
 * Round 0 warms up (code compiled, lazily made objects made); then the baseline after a full GC;
 * then `--rounds` bursts, each measured right after it and again after a full GC.
 *
 *   npx tsx bench/memory-after-burst.ts [--rounds 3] [--cases 200] [--huge 20] [--fuzzers 4]
 *     [--malloc-arena-max N] [--malloc-mmap-threshold BYTES] [--snapshots DIR] [--cold] [--json FILE]
 *
 * `--json FILE` writes the samples for test/faults/long/memory-after-burst.test.ts to judge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { initDataDir } from '../controller/data-dir.js';
import { loadClientConfig } from '../controller/cli/client-config.js';
import { ApiClient } from '../controller/cli/api-client.js';
import { EnrollResponse, HostList, RunOpResponse, TokenCreateResponse } from '../proto/admin-api.js';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../proto/version.js';
import { createAgentKeyAndCsr } from '../agent/identity.js';
import {
  cleanup,
  freePort,
  REPO,
  startAgentProcess,
  tempDir,
  waitFor,
  type AgentHandle,
} from '../test/integration/harness.js';
import { frameOfSize, hostileCase, template, type HostileCase } from '../test/fuzz/hostile-frames.js';
import { mib, PROBE_NODE_ARGS, probeMemory, type MemorySample } from './memory-probe.js';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    cases: { type: 'string', default: '200' },
    huge: { type: 'string', default: '20' },
    fuzzers: { type: 'string', default: '4' },
    seed: { type: 'string', default: '12' },
    'malloc-arena-max': { type: 'string', default: '' },
    /** a fixed glibc mmap threshold (bytes): large buffers go back to the system when freed */
    'malloc-mmap-threshold': { type: 'string', default: '' },
    snapshots: { type: 'string', default: '' },
    /** baseline before any hostile frame (no warm-up round): what a first burst costs, code included */
    cold: { type: 'boolean', default: false },
    json: { type: 'string', default: '' },
  },
});
const rounds = Number(opts.rounds);
const casesPerRound = Number(opts.cases);
const hugePerRound = Number(opts.huge);
const fuzzerCount = Number(opts.fuzzers);

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const facts = (name: string): Record<string, unknown> => ({
  hostname: name,
  machineId: name.padEnd(32, '0').slice(0, 32),
  productUuid: `${name}-uuid`,
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1024,
  cgroupVersion: 2,
});
const hello = (name: string): Record<string, unknown> => ({
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  agentVersion: 'bench',
  facts: facts(name),
});
const wireError = { code: 'io_error', message: 'm', retryable: false };
const TEMPLATES = [
  template(hello('fuzzer')),
  template({ type: 'heartbeat', seq: 1, sentAt: 1 }),
  template({ type: 'progress', id: 'c-1', message: 'm', stepId: 's' }),
  template({ type: 'result', id: 'c-1', replayed: false, outcome: { ok: false, error: wireError } }),
  template({ type: 'error', inReplyTo: 'c-1', error: wireError }),
];

interface Fuzzer {
  name: string;
  cert: string;
  key: string;
}

async function main(): Promise<void> {
  const dataDir = await tempDir('burst-controller');
  const port = await freePort();
  const init = await initDataDir({ dir: dataDir, listen: `127.0.0.1:${port}`, sans: [] });
  const api = new ApiClient(await loadClientConfig(init.clientConfig));
  const caPem = await readFile(join(dataDir, 'ca.crt'), 'utf8');
  const probeFile = join(dataDir, 'memory.jsonl');
  const controller: ChildProcess = spawn(
    process.execPath,
    [
      ...PROBE_NODE_ARGS,
      '--import',
      'tsx',
      'controller/cli/kctl.ts',
      'controller',
      'run',
      '--data-dir',
      dataDir,
    ],
    {
      cwd: REPO,
      env: {
        ...process.env,
        KCTL_BENCH_MEMORY_OUT: probeFile,
        ...(opts.snapshots ? { KCTL_BENCH_HEAP_SNAPSHOT: join(opts.snapshots, 'controller') } : {}),
        ...(opts['malloc-arena-max'] ? { MALLOC_ARENA_MAX: opts['malloc-arena-max'] } : {}),
        ...(opts['malloc-mmap-threshold'] ? { MALLOC_MMAP_THRESHOLD_: opts['malloc-mmap-threshold'] } : {}),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  let agent: AgentHandle | undefined;
  try {
    await waitFor(
      'controller up',
      async () => (await api.get('/v1/admin/hosts', HostList, 1000)) && true,
      60_000,
    );
    const { token } = await api.post(
      '/v1/admin/tokens',
      { ttlMs: 600_000, uses: fuzzerCount + 1 },
      TokenCreateResponse,
    );
    const handle = {
      dataDir,
      port,
      url: init.advertiseUrl,
      caPin: init.caPin,
      clientConfig: init.clientConfig,
      api,
    };
    agent = await startAgentProcess({
      name: 'steady',
      controller: { ...handle, proc: undefined as never, start: () => Promise.resolve() },
      token,
      heartbeatIntervalMs: 1000,
    });
    const fuzzers: Fuzzer[] = [];
    for (let i = 0; i < fuzzerCount; i++) {
      const name = `fuzzer-${i}`;
      const { keyPem, csrPem } = await createAgentKeyAndCsr();
      const enrolled = await api.post(
        '/v1/enroll',
        { token, csrPem, facts: facts(name), labels: {}, protocolVersion: PROTOCOL_VERSION },
        EnrollResponse,
      );
      fuzzers.push({ name, cert: enrolled.certPem, key: keyPem });
    }
    await waitFor(
      'steady online',
      async () =>
        (await api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.name === 'steady' && h.online),
      60_000,
    );

    const dial = async (f: Fuzzer): Promise<WebSocket> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${init.advertiseUrl.replace('https', 'wss')}/v1/agent`, {
              ca: [caPem],
              cert: f.cert,
              key: f.key,
              perMessageDeflate: false,
              maxPayload: 4 * MAX_FRAME_BYTES,
            });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
            ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
          });
        } catch (err) {
          if (attempt >= 40) throw err;
          await sleep((err as Error).message === 'HTTP 429' ? 600 : 100);
        }
      }
    };

    /** one connection per case: hello first when the case wants a session, then the case, then the close */
    const play = async (f: Fuzzer, c: HostileCase): Promise<void> => {
      const ws = await dial(f);
      ws.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      if (c.session) {
        const first = new Promise<void>((resolve) => ws.once('message', () => resolve()));
        ws.send(JSON.stringify(hello(f.name)));
        await Promise.race([first, closed]);
      }
      const w = c.wire;
      if (ws.readyState === WebSocket.OPEN) {
        if (w.kind === 'text') ws.send(w.data);
        else if (w.kind === 'rawText') ws.send(w.data, { binary: false });
        else if (w.kind === 'binary') ws.send(w.data, { binary: true });
        else w.parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === w.parts.length - 1 }));
      }
      const timer = setTimeout(() => ws.terminate(), 15_000);
      await closed;
      clearTimeout(timer);
    };

    const hugeCase = (i: number): HostileCase => {
      const text = JSON.stringify({ type: 'error', inReplyTo: 'c-1', error: wireError, pad: '' });
      const [prefix, suffix] = text.split('"pad":""') as [string, string];
      // at the cap (parsed, then refused as an unknown key) and just over it (1009)
      const bytes = i % 2 === 0 ? MAX_FRAME_BYTES : MAX_FRAME_BYTES + 1;
      return {
        category: 'huge',
        session: true,
        wire: { kind: 'text', data: frameOfSize(bytes, `${prefix}"pad":"`, `"${suffix}`) },
      };
    };

    const burst = async (round: number): Promise<number> => {
      const cases = [
        ...fc.sample(hostileCase(TEMPLATES, { session: true }), {
          numRuns: casesPerRound,
          seed: Number(opts.seed) + round,
        }),
        ...Array.from({ length: hugePerRound }, (_, i) => hugeCase(i)),
      ];
      const started = Date.now();
      // the fuzzers run side by side, each its cases one after another (one session per host at a time)
      await Promise.all(
        fuzzers.map(async (f, k) => {
          for (let i = k; i < cases.length; i += fuzzers.length) await play(f, cases[i] as HostileCase);
        }),
      );
      // the steady agent still answers
      const ping = await api.post('/v1/admin/ops', { host: 'steady', op: 'ping', args: {} }, RunOpResponse);
      if (!ping.outcome.ok) throw new Error('steady agent did not answer a ping after the burst');
      return Date.now() - started;
    };

    const rssNow = async (): Promise<number> => {
      const status = await readFile(`/proc/${controller.pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) * 1024;
    };
    const sample = (): Promise<MemorySample> => probeMemory(controller, probeFile);
    const relative = (a: number, b: number | undefined): string =>
      b === undefined ? '' : ` (${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)} %)`;
    const line = (label: string, m: MemorySample, base?: MemorySample): string =>
      `| ${label} | ${mib(m.vmRss)}${relative(m.vmRss, base?.vmRss)} | ${mib(m.heapUsed)}${relative(m.heapUsed, base?.heapUsed)} | ${mib(m.external)} | ${mib(m.arrayBuffers)} |`;

    if (!opts.cold) {
      say(
        `warm-up: ${casesPerRound} hostile frames + ${hugePerRound} of 1 MiB from ${fuzzerCount} enrolled clients`,
      );
      await burst(0);
    }
    // start-up garbage and the warm-up's buffers settle first, as in a controller that has run a while
    await sleep(10_000);
    const baseline = await sample();
    const rows = [line(`baseline (${opts.cold ? 'cold' : 'after warm-up'}, after a full GC)`, baseline)];
    const results: Array<{ right: number; afterGc: MemorySample }> = [];
    for (let r = 1; r <= rounds; r++) {
      const ms = await burst(r);
      const right = await rssNow();
      const afterGc = await sample();
      results.push({ right, afterGc });
      say(
        `round ${r}: ${casesPerRound + hugePerRound} frames in ${(ms / 1000).toFixed(1)} s; RSS right after ${mib(right)} MiB, after a full GC ${mib(afterGc.vmRss)} MiB (baseline ${mib(baseline.vmRss)})`,
      );
      rows.push(
        `| round ${r}: right after the burst | ${mib(right)}${relative(right, baseline.vmRss)} | | | |`,
      );
      rows.push(line(`round ${r}: after a full GC`, afterGc, baseline));
    }
    await sleep(10_000);
    const settled = await sample();
    rows.push(line('10 s later, after a full GC', settled, baseline));
    say('');
    say('| controller | RSS (MiB) | V8 heap used (MiB) | external | array buffers |');
    say('|---|---|---|---|---|');
    for (const r of rows) say(r);
    if (opts.snapshots) say(`heap snapshots: ${[baseline, settled].map((m) => m.snapshot).join(' ')}`);
    const result = JSON.stringify({ baseline, results, settled });
    await writeFile(opts.json !== '' ? opts.json : join(dataDir, 'result.json'), result);
  } finally {
    await agent?.proc.stop();
    controller.kill('SIGTERM');
    await Promise.race([new Promise((r) => controller.once('exit', r)), sleep(5000)]);
    await cleanup([dataDir, ...(agent ? [agent.stateDir, agent.hostRoot] : [])]);
  }
}

await main();
process.exit(0);
