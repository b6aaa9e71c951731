/**
 * Orchestration benchmark: 3 control planes + 50 workers with simulated step durations (the real
 * orchestrator and SQLite journal, a runner that only waits). Compares the apply's wall time with
 * the critical path (the sum of each phase's longest task) and with a five-at-a-time schedule.
 *
 *   npx tsx bench/orchestration.ts [concurrency=64]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SqliteStore } from '../controller/store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../controller/store/sqlite-async-store.js';
import { Orchestrator } from '../controller/orchestrator/engine.js';
import type { ClusterPlan, Phase, Task } from '../controller/orchestrator/plan.js';

const concurrency = Number(process.argv[2] ?? 64);
// simulated durations in ms (real ones are ~100x: preflight 5 s, prepare 30 s with packages, init 60 s...)
const MS: Partial<Record<Task['phase'], number>> = {
  preflight: 50,
  prepare: 300,
  init: 600,
  'join-material': 50,
  'control-planes': 400,
  workers: 200,
  cni: 100,
  verify: 50,
};
const ms = (t: Task | undefined): number => (t ? (MS[t.phase] ?? 0) : 0);
const cps = ['cp-1', 'cp-2', 'cp-3'];
const workers = Array.from({ length: 50 }, (_, i) => `w-${i + 1}`);
const all = [...cps, ...workers];
const phase = (id: Phase['id'], mode: Phase['mode'], hosts: string[]): Phase => ({
  id,
  title: id,
  mode,
  concurrency,
  tasks: hosts.map((host) => ({ id: `${id}/${host}`, phase: id, host, title: id, input: {} })),
});
const plan: ClusterPlan = {
  cluster: 'bench',
  operation: 'apply',
  phases: [
    phase('preflight', 'parallel', all),
    phase('prepare', 'parallel', all),
    phase('init', 'serial', ['cp-1']),
    phase('join-material', 'serial', ['cp-1']),
    phase('control-planes', 'serial', ['cp-2', 'cp-3']),
    phase('workers', 'parallel', workers),
    phase('cni', 'serial', ['cp-1']),
    phase('verify', 'serial', ['cp-1']),
  ],
};

// the fastest any schedule can be: serial phases sum, parallel phases cost their longest task
const critical = plan.phases.reduce(
  (sum, p) => sum + (p.mode === 'serial' ? p.tasks.length * ms(p.tasks[0]) : ms(p.tasks[0])),
  0,
);
const fiveAtATime = plan.phases.reduce(
  (sum, p) => sum + (p.mode === 'serial' ? p.tasks.length : Math.ceil(p.tasks.length / 5)) * ms(p.tasks[0]),
  0,
);

// a real database file: every task transition is committed with fsync, as in production
const dbDir = mkdtempSync(join(tmpdir(), 'kctl-bench-'));
const sqlite = new SqliteStore(join(dbDir, 'state.db'));
const orchestrator = new Orchestrator({
  store: sqliteAsAsyncStore(sqlite).applies,
  runner: { run: (task) => new Promise((r) => setTimeout(() => r({ ok: true }), ms(task))) },
  log: pino({ level: 'silent' }),
});
const t0 = performance.now();
const outcome = await orchestrator.apply({
  cluster: plan.cluster,
  intentHash: 'bench',
  makePlan: () => Promise.resolve(plan),
});
const wall = performance.now() - t0;
sqlite.close();
rmSync(dbDir, { recursive: true, force: true });

const rows: Array<[string, string]> = [
  ['tasks', String(plan.phases.reduce((n, p) => n + p.tasks.length, 0))],
  ['concurrency bound', String(concurrency)],
  ['critical path (ms)', critical.toFixed(0)],
  ['five-at-a-time schedule (ms)', fiveAtATime.toFixed(0)],
  ['apply wall time (ms)', wall.toFixed(0)],
  ['apply / critical path', (wall / critical).toFixed(3)],
  ['five-at-a-time / apply', (fiveAtATime / wall).toFixed(2)],
  ['status', outcome.status],
];
for (const [k, v] of rows) console.log(`${k.padEnd(30)} ${v}`);
