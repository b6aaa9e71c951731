/**
 * Fan-out across controller replicas (issue 16). A throwaway PostgreSQL (test/support/postgres.ts),
 * two controller replicas on it (bench/scale-server.ts with a postgres:// store; B initialised with
 * A's CA, as `kctl controller init --ca-from` does) and one load generator (bench/scale-loadgen.ts)
 * with N pre-made agent identities. Two layouts, alternated in the same run: "one", all N agents on
 * replica A (B running, holding none), and "spread", N/2 on A and N/2 on B. In both, one `ping` to
 * each of the N hosts is issued through A, so in "spread" half the commands go through the
 * PostgreSQL relay (controller/store/pg-relay.ts) to B and their results come back the same way.
 * Loopback only; every wait is bounded.
 *
 *   npx tsx bench/replica-fanout.ts [--n 500,2000] [--rounds 3] [--cycles 2] [--cache DIR]
 *
 * Identities are made once into DIR (default $TMPDIR/kctl-bench-replicas, see scale-identities.ts)
 * and copied into the fresh database as host rows before the replicas start.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { initDataDir } from '../controller/data-dir.js';
import { PgStore } from '../controller/store/pg-store.js';
import { SqliteStore } from '../controller/store/sqlite-store.js';
import { startThrowawayPostgres } from '../test/support/postgres.js';
import { ensureIdentities, readIdentities } from './scale-identities.js';
import { request, spawnChild, type FanoutResult, type LoadgenReply, type ServerReply } from './scale-ipc.js';
import { fanoutRound, raiseFileLimit, say, serverStats, sleep } from './scale-driver.js';
import { fmt, markdownTable, percentile } from './scale-stats.js';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '500,2000' },
    rounds: { type: 'string', default: '3' },
    cycles: { type: 'string', default: '2' },
    cache: { type: 'string', default: join(tmpdir(), 'kctl-bench-replicas') },
    concurrency: { type: 'string', default: '64' },
    sources: { type: 'string', default: '16' },
  },
});
const sizes = (opts.n ?? '').split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 20_000)) throw new Error(`--n: ${opts.n}`);
const rounds = Number(opts.rounds);
const cycles = Number(opts.cycles);
const cacheDir = opts.cache ?? '';
const concurrency = Number(opts.concurrency);
const sources = Number(opts.sources);
const FANOUT_TIMEOUT_MS = 60_000;

type Layout = 'one' | 'spread';
interface Round {
  n: number;
  layout: Layout;
  cycle: number;
  round: number;
  load1: number;
  fanout: FanoutResult & { otherCpuMs: number[] };
}
interface Replica {
  name: 'A' | 'B';
  proc: ChildProcess;
  port: number;
}

/** Host rows for the identities, copied from the cache's SQLite store into the fresh database. */
async function seedHosts(sqliteFile: string, url: string): Promise<number> {
  const sqlite = new SqliteStore(sqliteFile);
  const hosts = sqlite.listHosts();
  sqlite.close();
  const pg = await PgStore.open({ connectionString: url });
  try {
    await pg.transaction(async (tx) => {
      for (const h of hosts) {
        await tx.createHost({
          id: h.id,
          name: h.name,
          labels: h.labels,
          state: h.state,
          certSerial: h.certSerial,
          certNotAfter: h.certNotAfter,
          enrolledAt: h.enrolledAt,
        });
        if (h.facts)
          await tx.recordHostSeen(h.id, { at: h.lastSeenAt ?? Date.now(), ip: h.lastIp, facts: h.facts });
      }
    });
  } finally {
    await pg.close();
  }
  return hosts.length;
}

async function startReplica(name: Replica['name'], dataDir: string, url: string): Promise<Replica> {
  const proc = spawnChild(
    'bench/scale-server.ts',
    ['kctl', dataDir, join(cacheDir, `replica-${name}.log`), url],
    ['--expose-gc'],
  );
  const { port } = await request<ServerReply, 'ready'>(proc, {}, 'ready', 120_000);
  return { name, proc, port };
}

async function waitOnline(replicas: Replica[], want: number[], what: string): Promise<void> {
  let now: number[] = [];
  for (let i = 0; i < 240; i++) {
    now = await Promise.all(replicas.map(async (r) => (await serverStats(r.proc, false)).online));
    if (now.every((x, k) => x === want[k])) return;
    await sleep(500);
  }
  throw new Error(`${what}: sessions ${now.join('/')} on A/B, wanted ${want.join('/')}`);
}

/** Connects N agents in the layout, runs the rounds through A, disconnects them. */
async function runLayout(
  n: number,
  layout: Layout,
  cycle: number,
  [a, b]: [Replica, Replica],
  loadgen: ChildProcess,
  identitiesFile: string,
  caFile: string,
): Promise<Round[]> {
  const onA = layout === 'one' ? n : Math.ceil(n / 2);
  const parts = [
    { replica: a, from: 0, count: onA },
    { replica: b, from: onA, count: n - onA },
  ].filter((p) => p.count > 0);
  const t0 = performance.now();
  // a controller under load refuses handshakes above its bound (admission); the load generator
  // retries a connection 3 times only: when some did not get in, start the layout again
  for (let attempt = 1; ; attempt++) {
    const failed = await connectParts(parts, loadgen, identitiesFile, caFile);
    if (failed === undefined) break;
    if (attempt >= 3) throw new Error(`N=${n} ${layout}: ${failed}`);
    say(`  N=${n} ${layout}: ${failed}; connecting again`);
    await disconnect([a, b], loadgen, `N=${n} ${layout}`);
    await sleep(5000);
  }
  await waitOnline([a, b], [onA, n - onA], `N=${n} ${layout}`);
  say(
    `  N=${n} ${layout} (cycle ${cycle}): ${onA} on A, ${n - onA} on B in ${fmt((performance.now() - t0) / 1000)} s`,
  );
  await sleep(3000);
  const hostIds = readIdentities(identitiesFile, n).map((i) => i.hostId);
  const out: Round[] = [];
  for (let r = 1; r <= rounds; r++) {
    const load1 = loadavg()[0] ?? NaN;
    const f = await fanoutRound(a.proc, loadgen, { timeoutMs: FANOUT_TIMEOUT_MS, hostIds, others: [b.proc] });
    out.push({ n, layout, cycle, round: r, load1, fanout: f });
    const s = f.sinceStart;
    say(
      `  N=${n} ${layout} round ${r}: ${s.count}/${f.hosts} replies, p50 ${fmt(s.p50, 0)} p95 ${fmt(s.p95, 0)} p99 ${fmt(s.p99, 0)} max ${fmt(s.max, 0)} ms, issue ${fmt(f.issueMs, 0)} ms, CPU A ${fmt(f.serverCpuMs ?? NaN, 0)} / B ${fmt(f.otherCpuMs[0] ?? NaN, 0)} / loadgen ${fmt(f.loadgenCpuMs ?? NaN, 0)} ms, ${f.failures} failed ${f.failureSamples.join('; ')} (load ${fmt(load1, 2)})`,
    );
    await sleep(1000);
  }
  await disconnect([a, b], loadgen, `N=${n} ${layout}`);
  await sleep(2000);
  return out;
}

/** Connects each part's agents to its replica; a description of the failures, if any. */
async function connectParts(
  parts: { replica: Replica; from: number; count: number }[],
  loadgen: ChildProcess,
  identitiesFile: string,
  caFile: string,
): Promise<string | undefined> {
  const failures: string[] = [];
  for (const p of parts) {
    const c = await request<LoadgenReply, 'connected'>(
      loadgen,
      {
        type: 'connect',
        mode: 'kctl',
        port: p.replica.port,
        n: p.count,
        from: p.from,
        identitiesFile,
        caFile,
        concurrency,
        sources,
      },
      'connected',
      20 * 60_000,
    );
    if (c.failed > 0)
      failures.push(`${c.failed} not connected to ${p.replica.name} (${c.errors.join('; ')})`);
  }
  return failures.length > 0 ? failures.join(', ') : undefined;
}

async function disconnect(replicas: Replica[], loadgen: ChildProcess, what: string): Promise<void> {
  await request<LoadgenReply, 'closed'>(loadgen, { type: 'close' }, 'closed', 60_000);
  await waitOnline(replicas, [0, 0], `${what} disconnect`);
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((x, y) => x - y),
    50,
  );

function summaryRows(all: Round[]): string[][] {
  const rows: string[][] = [];
  for (const n of sizes) {
    for (const layout of ['one', 'spread'] as const) {
      const rs = all.filter((r) => r.n === n && r.layout === layout);
      if (rs.length === 0) continue;
      const pick = (f: (r: Round) => number): number => median(rs.map(f));
      const loads = rs.map((r) => r.load1);
      rows.push([
        String(n),
        layout === 'one' ? `all ${n} on A` : `${Math.ceil(n / 2)} on A, ${n - Math.ceil(n / 2)} on B`,
        String(rs.length),
        fmt(
          pick((r) => r.fanout.sinceStart.p50),
          0,
        ),
        fmt(
          pick((r) => r.fanout.sinceStart.p95),
          0,
        ),
        fmt(
          pick((r) => r.fanout.sinceStart.p99),
          0,
        ),
        rs.map((r) => fmt(r.fanout.sinceStart.p99, 0)).join(', '),
        `${fmt(
          pick((r) => r.fanout.serverCpuMs ?? NaN),
          0,
        )} / ${fmt(
          pick((r) => r.fanout.otherCpuMs[0] ?? NaN),
          0,
        )} / ${fmt(
          pick((r) => r.fanout.loadgenCpuMs ?? NaN),
          0,
        )}`,
        String(rs.reduce((s, r) => s + r.fanout.failures, 0)),
        `${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}`,
      ]);
    }
  }
  return rows;
}

const maxN = Math.max(...sizes);
const nofile = raiseFileLimit();
if (nofile < maxN + 1000) throw new Error(`open-files limit ${nofile} is too low for N=${maxN}; run as root`);
const startedAt = new Date();
say(
  `${cpus().length} CPUs; open-files limit ${nofile}; load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const template = await gatherFacts(new LocalHost({ root: '/' }), { kubeletTimeoutMs: 2000 });
const cache = await ensureIdentities(maxN, template, { dir: cacheDir, log: say });
const server = await startThrowawayPostgres();
const dataDirB = await mkdtemp(join(tmpdir(), 'kctl-bench-replica-b-'));
const children: ChildProcess[] = [];
const all: Round[] = [];
try {
  const url = server.url(await server.createDatabase('kctl_bench_replicas'));
  say(
    `PostgreSQL on 127.0.0.1:${server.port}: ${await seedHosts(join(cache.dataDir, 'state.db'), url)} hosts copied`,
  );
  await initDataDir({ dir: dataDirB, listen: '127.0.0.1:0', sans: [], caFrom: cache.dataDir });
  const a = await startReplica('A', cache.dataDir, url);
  children.push(a.proc);
  const b = await startReplica('B', dataDirB, url);
  children.push(b.proc);
  const loadgen = spawnChild('bench/scale-loadgen.ts', []);
  children.push(loadgen);
  await request<LoadgenReply, 'ready'>(loadgen, {}, 'ready', 60_000);
  for (const n of sizes)
    for (let cycle = 1; cycle <= cycles; cycle++)
      for (const layout of ['one', 'spread'] as const)
        all.push(
          ...(await runLayout(
            n,
            layout,
            cycle,
            [a, b],
            loadgen,
            cache.identitiesFile,
            join(cache.dataDir, 'ca.crt'),
          )),
        );
  for (const r of [a, b])
    await request<ServerReply, 'stopped'>(r.proc, { type: 'stop' }, 'stopped', 60_000).catch(() =>
      r.proc.kill('SIGKILL'),
    );
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await server.stop();
  await rm(dataDirB, { recursive: true, force: true });
}

say('');
say(
  markdownTable(
    [
      'N',
      'agents',
      'rounds',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'p99 of each round, ms',
      'CPU ms A / B / loadgen',
      'failures',
      'load (1 min)',
    ],
    summaryRows(all),
  ),
);
say('(p50, p95, p99 and CPU: the median over the rounds; the fan-out is issued through A in both layouts)');
const out = join(cacheDir, `replica-results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(out, JSON.stringify({ startedAt, rounds: all }, null, 2));
say(`raw results: ${out}`);
