/**
 * Controller scale benchmark. For each N: a real controller (bench/scale-server.ts, its own process)
 * and a load generator (bench/scale-loadgen.ts, another process) that opens N mutual-TLS agent
 * connections with pre-made identities and speaks the real protocol. Measures the controller's
 * memory per connection (after connecting, over its own baseline), its CPU while only heartbeats
 * flow, and one `ping` fanned out to every host through the registry (validated replies). Then the
 * same N against a raw `ws` server over the same mutual TLS, as a baseline for memory and fan-out.
 * Loopback only; connections spread over 127.0.0.x source addresses; every wait is bounded.
 *
 *   npx tsx bench/controller-scale.ts [--n 1000,5000,10000] [--idle 20] [--rounds 3] [--cache DIR]
 *
 * The first run signs N host certificates into a cached data dir (DIR, default
 * $TMPDIR/kctl-bench-scale); later runs reuse them. Needs root (or CAP_SYS_RESOURCE) to raise the
 * open-files limit with prlimit; without it, N is capped by `ulimit -n`.
 */
import { type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { DEFAULT_CACHE_DIR, ensureIdentities } from './scale-identities.js';
import {
  request,
  spawnChild,
  type FanoutResult,
  type LoadgenReply,
  type ServerMode,
  type ServerReply,
  type ServerStats,
} from './scale-ipc.js';
import { fanoutRound, loadgenStats, raiseFileLimit, say, serverStats, sleep } from './scale-driver.js';
import { againstTarget, cpuPercent, fmt, kibPerConnection, markdownTable } from './scale-stats.js';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '1000,5000,10000' },
    idle: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    cache: { type: 'string', default: DEFAULT_CACHE_DIR },
    concurrency: { type: 'string', default: '128' },
    sources: { type: 'string', default: '16' },
  },
});
const sizes = (opts.n ?? '').split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000)) throw new Error(`--n: ${opts.n}`);
const idleSeconds = Number(opts.idle);
const rounds = Number(opts.rounds);
const concurrency = Number(opts.concurrency);
const sources = Number(opts.sources);
const cacheDir = opts.cache ?? DEFAULT_CACHE_DIR;
interface RunResult {
  mode: ServerMode;
  n: number;
  connected: number;
  failed: number;
  errors: string[];
  connectMs: number;
  baseline: ServerStats;
  loaded: ServerStats;
  kibRss: number;
  kibHeap: number;
  idle?: { cpuPct: number; loadgenCpuPct: number; heartbeatsPerSec: number; seconds: number };
  fanouts: FanoutResult[];
  unexpectedCloses: number;
}

async function runOne(
  mode: ServerMode,
  n: number,
  loadgen: ChildProcess,
  dataDir: string,
): Promise<RunResult> {
  // KCTL_BENCH_CPU_PROF=DIR writes a V8 CPU profile of each server process there
  const prof = process.env.KCTL_BENCH_CPU_PROF;
  const server = spawnChild(
    'bench/scale-server.ts',
    [mode, dataDir, join(cacheDir, `server-${mode}-${n}.log`)],
    ['--expose-gc', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])],
  );
  try {
    const { port } = await request<ServerReply, 'ready'>(server, {}, 'ready', 60_000);
    await sleep(1000);
    const baseline = await serverStats(server, true);
    const closesBefore = (await loadgenStats(loadgen)).unexpectedCloses;
    say(`  ${mode} N=${n}: baseline RSS ${(baseline.rss / 2 ** 20).toFixed(1)} MiB; connecting...`);
    const c = await request<LoadgenReply, 'connected'>(
      loadgen,
      {
        type: 'connect',
        mode,
        port,
        n,
        identitiesFile: join(cacheDir, 'identities.jsonl'),
        caFile: join(dataDir, 'ca.crt'),
        concurrency,
        sources,
      },
      'connected',
      20 * 60_000,
    );
    say(
      `  ${mode} N=${n}: ${c.ok} connected, ${c.failed} failed in ${(c.ms / 1000).toFixed(1)} s ${c.errors.join('; ')}`,
    );
    // the server may still be finishing the last hellos: wait (bounded) until it counts them all
    for (let i = 0; i < 60 && (await serverStats(server, false)).online < c.ok; i++) await sleep(500);
    await sleep(3000);
    const loaded = await serverStats(server, true);
    const result: RunResult = {
      mode,
      n,
      connected: c.ok,
      failed: c.failed,
      errors: c.errors,
      connectMs: c.ms,
      baseline,
      loaded,
      kibRss: kibPerConnection(loaded.rss, baseline.rss, loaded.online),
      kibHeap: kibPerConnection(
        loaded.heapUsed + loaded.external,
        baseline.heapUsed + baseline.external,
        loaded.online,
      ),
      fanouts: [],
      unexpectedCloses: 0,
    };
    say(
      `  ${mode} N=${n}: ${fmt(result.kibRss)} KiB RSS, ${fmt(result.kibHeap)} KiB heap+external per connection`,
    );
    if (mode === 'kctl') {
      const s0 = await serverStats(server, false);
      const l0 = await loadgenStats(loadgen);
      const t0 = performance.now();
      await sleep(idleSeconds * 1000);
      const s1 = await serverStats(server, false);
      const l1 = await loadgenStats(loadgen);
      const wall = performance.now() - t0;
      result.idle = {
        seconds: wall / 1000,
        cpuPct: cpuPercent(s1.cpuMicros - s0.cpuMicros, wall),
        loadgenCpuPct: cpuPercent(l1.cpuMicros - l0.cpuMicros, wall),
        heartbeatsPerSec: ((s1.heartbeatsReceived - s0.heartbeatsReceived) / wall) * 1000,
      };
      say(
        `  ${mode} N=${n}: idle ${fmt(result.idle.cpuPct)}% CPU with ${fmt(result.idle.heartbeatsPerSec, 0)} heartbeats/s`,
      );
    }
    for (let r = 0; r < rounds; r++) {
      const f = await fanoutRound(server, loadgen, { timeoutMs: 60_000 });
      result.fanouts.push(f);
      say(
        `  ${mode} N=${n}: fan-out ${r + 1}: ${f.sinceStart.count}/${f.hosts} replies, p50 ${fmt(f.sinceStart.p50, 0)} ms, p99 ${fmt(f.sinceStart.p99, 0)} ms, max ${fmt(f.sinceStart.max, 0)} ms, issue ${fmt(f.issueMs, 0)} ms, CPU server ${fmt(f.serverCpuMs ?? NaN, 0)} ms / load generator ${fmt(f.loadgenCpuMs ?? NaN, 0)} ms, ${f.failures} failed ${f.failureSamples.join('; ')}`,
      );
      await sleep(1000);
    }
    result.unexpectedCloses = (await loadgenStats(loadgen)).unexpectedCloses - closesBefore;
    return result;
  } finally {
    // the server closes first, so TIME_WAIT stays on its side and not on the client's ephemeral ports
    await request<ServerReply, 'stopped'>(server, { type: 'stop' }, 'stopped', 60_000).catch(() =>
      server.kill('SIGKILL'),
    );
    await request<LoadgenReply, 'closed'>(loadgen, { type: 'close' }, 'closed', 60_000);
    await sleep(1000);
  }
}

/** The fan-out round with the highest p99: the figure held against the target. */
function worstRound(r: RunResult): FanoutResult | undefined {
  return [...r.fanouts].sort((a, b) => b.sinceStart.p99 - a.sinceStart.p99)[0];
}

const nofile = raiseFileLimit();
const maxN = Math.max(...sizes);
if (nofile < maxN + 1000) throw new Error(`open-files limit ${nofile} is too low for N=${maxN}; run as root`);
const startedAt = new Date();
const loadBefore = loadavg();
say(
  `open-files limit ${nofile}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
);
const template = await gatherFacts(new LocalHost({ root: '/' }), { kubeletTimeoutMs: 2000 });
say(`hello facts: ${Buffer.byteLength(JSON.stringify(template))} bytes`);
const cache = await ensureIdentities(maxN, template, { dir: cacheDir, log: say });
const loadgen = spawnChild('bench/scale-loadgen.ts', []);
const results: RunResult[] = [];
try {
  await request<LoadgenReply, 'ready'>(loadgen, {}, 'ready', 60_000);
  for (const n of sizes) {
    for (const mode of ['kctl', 'raw'] as const) results.push(await runOne(mode, n, loadgen, cache.dataDir));
  }
} finally {
  loadgen.kill('SIGTERM');
}
const loadAfter = loadavg();

const rows = results.map((r) => {
  const f = worstRound(r);
  return [
    String(r.n),
    r.mode === 'kctl' ? 'kctl controller' : 'raw ws (TLS)',
    `${r.connected}${r.failed > 0 ? ` (${r.failed} failed)` : ''}`,
    fmt(r.connectMs / 1000),
    fmt(r.kibRss),
    fmt(r.kibHeap),
    r.idle ? fmt(r.idle.cpuPct) : '-',
    r.idle ? fmt(r.idle.heartbeatsPerSec, 0) : '-',
    f ? fmt(f.sinceStart.p50, 0) : '-',
    f ? fmt(f.sinceStart.p99, 0) : '-',
    f ? fmt(f.sinceStart.max, 0) : '-',
    f ? `${fmt(f.serverCpuMs ?? NaN, 0)} / ${fmt(f.loadgenCpuMs ?? NaN, 0)}` : '-',
    String(r.fanouts.reduce((s, x) => s + x.failures, 0) + r.unexpectedCloses),
  ];
});
say('');
say(
  markdownTable(
    [
      'N',
      'server',
      'connected',
      'connect s',
      'RSS KiB/conn',
      'heap+ext KiB/conn',
      'idle CPU %',
      'heartbeats/s',
      'fan-out p50 ms',
      'p99 ms',
      'max ms',
      'fan-out CPU ms server / loadgen',
      'failures',
    ],
    rows,
  ),
);
say('');
const big = results.find((r) => r.mode === 'kctl' && r.n === maxN);
if (big) {
  say(`memory at N=${maxN}: ${fmt(big.kibRss)} KiB/conn: ${againstTarget(big.kibRss, 40, 'KB')}`);
  const f = worstRound(big);
  if (f)
    say(
      `fan-out p99 at N=${maxN}: ${fmt(f.sinceStart.p99, 0)} ms: ${againstTarget(f.sinceStart.p99, 1000, 'ms')}`,
    );
}
say(
  `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
);
const out = join(cacheDir, `results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ startedAt, loadBefore, loadAfter, nofile, results }, null, 2));
say(`raw results: ${out}`);
