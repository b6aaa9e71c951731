/**
 * Reconnect storm benchmark (issue 12, finding 12). N agents, each the agent's own connection code
 * (agent/connection.ts: mutual TLS, hello/welcome, heartbeats, capped exponential backoff with full
 * jitter) with a pre-made identity, against a real controller process (`kctl controller run`, its
 * own process group). Once all are online the controller is killed with SIGKILL (the whole group)
 * and started again on the same data dir and port. Measures: time from the kill until every agent
 * is back online, time from the new controller's "controller listening" until then, TLS handshakes
 * the controller accepted and refused per second, dials per agent, and checks that no agent dialled
 * sooner than the delay its own backoff chose.
 *
 *   npx tsx bench/reconnect-storm.ts [--agents 10000] [--workers 4] [--sources 64] [--cache DIR]
 *     [--json FILE] [--controller-prof DIR] [--admission JSON | --variants JSON-ARRAY [--rounds N]]
 *
 * With --variants (controller.json `admission` settings, e.g. '[{"bound":"fixed"},{}]') the storm is
 * repeated N times per variant, alternating A B A B on the same agents after one first connect, so
 * the variants meet the same machine load; --json then holds one entry per storm.
 *
 * The agents run in --workers child processes (bench/storm-agents.ts), each with a slice of them
 * (one Node process cannot do the TLS of 10,000 machines in a storm); each agent has its own
 * 127.0.0.x source address. This process runs the controller, kills it, and merges what the
 * slices report. With --controller-prof the restarted controller runs with --cpu-prof and is
 * stopped with SIGTERM at the end, so its profile covers the storm. Loopback only; every wait is
 * bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { AgentConfig } from '../agent/config.js';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { ConnectionAdmission } from '../controller/admission.js';
import { ensureIdentities } from './scale-identities.js';
import { request, spawnChild } from './scale-ipc.js';
import { summarize } from './scale-stats.js';
import type { SliceReply, SliceRequest } from './storm-agents.js';
import { checkBackoff, perSecond } from './storm-stats.js';

const { values: opts } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    sources: { type: 'string', default: '64' },
    workers: { type: 'string', default: '4' },
    /** directory for a V8 CPU profile of the restarted controller (the storm) */
    'controller-prof': { type: 'string' },
    cache: { type: 'string', default: '/tmp/kctl-bench-storm' },
    json: { type: 'string' },
    'connect-timeout': { type: 'string', default: '300' },
    'storm-timeout': { type: 'string', default: '240' },
    /** the controller's handshake bounds for this run, JSON (controller.json `admission`); `{}` = defaults */
    admission: { type: 'string', default: '{}' },
    /**
     * A/B in one run: a JSON array of `admission` settings; the storm is repeated --rounds times per
     * entry, alternating (A B A B ...), on the same agents after one first connect
     */
    variants: { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
const N = Number(opts.agents);
const SOURCES = Number(opts.sources);
const CACHE = opts.cache ?? '/tmp/kctl-bench-storm';
const CONNECT_TIMEOUT_S = Number(opts['connect-timeout']);
const STORM_TIMEOUT_S = Number(opts['storm-timeout']);
const WORKERS = Number(opts.workers);
const CONTROLLER_PROF = opts['controller-prof'];
if (!Number.isInteger(N) || N < 1 || N > 50_000) throw new Error(`--agents: ${opts.agents}`);
if (!Number.isInteger(WORKERS) || WORKERS < 1 || WORKERS > 64) throw new Error(`--workers: ${opts.workers}`);
const ROUNDS = Number(opts.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) throw new Error(`--rounds: ${opts.rounds}`);
const VARIANTS = (
  opts.variants === undefined
    ? [JSON.parse(opts.admission ?? '{}')]
    : (JSON.parse(opts.variants) as unknown[])
).map((v) => ConnectionAdmission.parse(v));
if (VARIANTS.length < 1) throw new Error('--variants: an array of at least one admission setting');
const REPO = join(import.meta.dirname, '..');
const NOFILE = 65_536;

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Raises this process's open-files limit (the controller child inherits it); returns the limit in force. */
function raiseFileLimit(): number {
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${NOFILE}:${NOFILE}`]);
  const r = spawnSync('sh', ['-c', `prlimit --pid ${process.pid} --nofile --output SOFT --noheadings`]);
  return Number(r.stdout.toString().trim()) || 0;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

// --- the controller process ---------------------------------------------------------------------

interface ControllerProc {
  proc: ChildProcess;
  ready: Promise<number>;
}

/** `kctl controller run` in its own process group; `ready` resolves at its "controller listening". */
function startControllerProcess(
  dataDir: string,
  port: number,
  logFile: string,
  profileDir?: string,
): ControllerProc {
  const out = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      '--import',
      'tsx',
      'controller/cli/kctl.ts',
      'controller',
      'run',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let seen = '';
  const ready = new Promise<number>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out.write(d);
      if (seen.length < 100_000) seen += d.toString();
      if (seen.includes('controller listening')) {
        resolve(Date.now());
        seen = 'controller listening';
      }
    });
    proc.stderr?.on('data', (d: Buffer) => out.write(d));
    proc.once('exit', (code, signal) =>
      reject(new Error(`controller exited (${code ?? signal}) before ready`)),
    );
  });
  ready.catch(() => undefined);
  return { proc, ready };
}

/** CPU seconds (user + system) a process has used, from /proc; NaN when it is gone. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function killGroup(proc: ChildProcess): void {
  if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
}

/** Ends the controller: SIGTERM first when it must write its CPU profile on the way out. */
async function stopController(c: ControllerProc, gently: boolean): Promise<void> {
  if (gently && c.proc.exitCode === null && c.proc.pid) {
    const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
    process.kill(c.proc.pid, 'SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
  }
  try {
    killGroup(c.proc);
  } catch {
    // already gone
  }
}

// --- the run ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const nofile = raiseFileLimit();
  if (nofile < N + 1000) throw new Error(`open-files limit ${nofile} is too low for ${N} agents`);
  say(`reconnect storm: ${N} agents, ${SOURCES} source addresses, open-files limit ${nofile}`);
  say(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  const template = await gatherFacts(new LocalHost({ root: '/' }), { kubeletTimeoutMs: 2000 });
  const cache = await ensureIdentities(N, template, { dir: CACHE, log: say });
  const caPem = readFileSync(join(cache.dataDir, 'ca.crt'), 'utf8');
  // the bounds under test go into controller.json, where an operator would set them
  const settingsFile = join(cache.dataDir, 'controller.json');
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
  const useAdmission = (admission: ConnectionAdmission): void => {
    writeFileSync(settingsFile, JSON.stringify({ ...settings, admission }, null, 2));
    say(`admission: ${JSON.stringify(admission)}`);
  };
  useAdmission(VARIANTS[0] ?? ConnectionAdmission.parse({}));
  const port = await freePort();
  const logFile = join(CACHE, 'controller.log');
  writeFileSync(logFile, '');

  let controller = startControllerProcess(cache.dataDir, port, logFile);
  // whatever happens to this process, the controller does not outlive it
  const cleanUp = (): void => {
    try {
      killGroup(controller.proc);
    } catch {
      // already gone
    }
  };
  process.once('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  await controller.ready;
  say(`controller ready on 127.0.0.1:${port} (log ${logFile})`);

  // the agents: --workers processes, each with a contiguous slice, started together
  const slices = Array.from({ length: WORKERS }, (_, w) => ({
    from: Math.floor((w * N) / WORKERS),
    to: Math.floor(((w + 1) * N) / WORKERS),
  })).filter((s) => s.to > s.from);
  const workers = await Promise.all(
    slices.map(async () => {
      const child = spawnChild(join(REPO, 'bench/storm-agents.ts'), []);
      await request<SliceReply, 'ready'>(child, {}, 'ready', 120_000);
      return child;
    }),
  );
  const stopWorkers = (): void => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  };
  process.once('exit', stopWorkers);
  const all = <T extends SliceReply['type']>(message: SliceRequest, want: T, timeoutMs = 60_000) =>
    Promise.all(workers.map((w) => request<SliceReply, T>(w, message, want, timeoutMs)));
  const counts = async (): Promise<{ online: number; back: number; notOnline: Record<string, number> }> => {
    const replies = await all({ type: 'count' }, 'count');
    const notOnline: Record<string, number> = {};
    for (const r of replies)
      for (const [k, v] of Object.entries(r.notOnline)) notOnline[k] = (notOnline[k] ?? 0) + v;
    return {
      online: replies.reduce((n, r) => n + r.online, 0),
      back: replies.reduce((n, r) => n + r.back, 0),
      notOnline,
    };
  };
  say(`agents: ${workers.length} processes of ${slices.map((s) => s.to - s.from).join(', ')} agents`);

  const t0 = Date.now();
  await Promise.all(
    workers.map((w, k) =>
      request<SliceReply, 'started'>(
        w,
        {
          type: 'start',
          port,
          caPem,
          identitiesFile: cache.identitiesFile,
          sources: SOURCES,
          template,
          ...slices[k],
        },
        'started',
        CONNECT_TIMEOUT_S * 1000,
      ),
    ),
  );
  let lastSaid = t0;
  for (let c = await counts(); c.online < N; c = await counts()) {
    const elapsed = Date.now() - t0;
    if (elapsed > CONNECT_TIMEOUT_S * 1000)
      throw new Error(
        `only ${c.online}/${N} agents online after ${CONNECT_TIMEOUT_S} s; the others (state/dials): ` +
          JSON.stringify(c.notOnline),
      );
    if (Date.now() - lastSaid > 30_000) {
      say(`  first connect: ${c.online}/${N} online after ${(elapsed / 1000).toFixed(0)} s`);
      lastSaid = Date.now();
    }
    await sleep(500);
  }
  say(`all ${N} online after ${((Date.now() - t0) / 1000).toFixed(1)} s (first connect); settling 5 s`);
  await sleep(5000);

  type StormResult = Awaited<ReturnType<typeof storm>>;
  const results: StormResult[] = [];
  for (let k = 0; k < VARIANTS.length * ROUNDS; k++) {
    const admission = VARIANTS[k % VARIANTS.length] ?? ConnectionAdmission.parse({});
    if (k > 0) {
      // the previous storm's agents settle online before the next kill
      for (let c = await counts(); c.online < N; c = await counts()) await sleep(500);
      await sleep(5000);
    }
    say('');
    say(`storm ${k + 1}/${VARIANTS.length * ROUNDS}, variant ${k % VARIANTS.length}`);
    useAdmission(admission);
    const r = await storm(admission);
    results.push(r);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
  }
  if (results.length > 1) {
    say('');
    say(
      'variant | load at kill | kill -> all back | ready -> all back | handshakes/s ready -> all back | ended before TLS after ready | dials p50/max',
    );
    results.forEach((r, k) =>
      say(
        `${k % VARIANTS.length} ${r.admission.bound} | ${r.loadAverageAtKill[0]?.toFixed(2)} | ${r.killToAllBackS.toFixed(1)} s | ` +
          `${r.readyToAllBackS.toFixed(1)} s | ${r.handshakesPerSecondFromReady.toFixed(0)} | ${r.endedBeforeTlsAfterReady} | ` +
          `${r.dialsPerAgent.p50}/${r.dialsPerAgent.max}`,
      ),
    );
  }

  await all({ type: 'stop' }, 'stopped');
  await stopController(controller, CONTROLLER_PROF !== undefined);
  const early = results.reduce((n, r) => n + r.backoff.early, 0);
  if (early > 0) throw new Error(`${early} agents retried sooner than their backoff floor`);
  const short = results.find((r) => r.back < N);
  if (short) throw new Error(`only ${short.back}/${N} agents back within ${STORM_TIMEOUT_S} s`);

  /** One storm: kill -9 the controller's process group, start it again at once, wait for every agent. */
  async function storm(admission: ConnectionAdmission) {
    await all({ type: 'mark' }, 'marked');
    await all({ type: 'watch' }, 'watching');
    const loadAtKill = loadavg();
    const killedAt = Date.now();
    killGroup(controller.proc);
    controller = startControllerProcess(cache.dataDir, port, logFile, CONTROLLER_PROF);
    const readyAt = await controller.ready;
    const controllerCpuAtReady = cpuSecondsOf(controller.proc.pid);
    say(`killed at +0 ms, new controller ready at +${readyAt - killedAt} ms`);
    const agentsCpuAtReady = (await all({ type: 'cpu' }, 'cpu')).reduce((s, r) => s + r.cpuSeconds, 0);

    while (true) {
      const { back } = await counts();
      if (back === N) break;
      if (Date.now() - killedAt > STORM_TIMEOUT_S * 1000) break;
      await sleep(200);
    }
    // who was busy during the storm: the controller, or the processes standing in for the agents
    const controllerCpuS = cpuSecondsOf(controller.proc.pid) - controllerCpuAtReady;
    const reports = await all({ type: 'report' }, 'report', 120_000);
    const agentsCpuS = reports.reduce((s, r) => s + r.cpuSeconds, 0) - agentsCpuAtReady;
    const traces = reports.flatMap((r) => r.traces);
    const secured = reports.flatMap((r) => r.secured);
    const resetBeforeSecure = reports.flatMap((r) => r.resetBeforeSecure);
    const backTimes = traces.flatMap((t) => (t.backAt === undefined ? [] : [t.backAt]));
    const allBackAt = backTimes.length === N ? Math.max(...backTimes) : NaN;
    const seconds = Math.ceil(((Number.isNaN(allBackAt) ? Date.now() : allBackAt) - killedAt) / 1000) + 1;
    const dialsPerAgent = summarize(traces.map((t) => t.dials.length));
    const noticed = summarize(traces.flatMap((t) => (t.waits[0] ? [t.waits[0].at - killedAt] : [])));
    const backoff = checkBackoff(traces);
    // one "agent online" per agent from the new controller: none for sockets that were closing
    const newPid = `"pid":${controller.proc.pid},`;
    const onlineLines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(newPid) && l.includes('"msg":"agent online"')).length;
    const reconnect = AgentConfig.shape.reconnect.parse(undefined);
    const result = {
      agents: N,
      admission,
      onlineLines,
      back: backTimes.length,
      killToAllBackS: (allBackAt - killedAt) / 1000,
      readyToAllBackS: (allBackAt - readyAt) / 1000,
      controllerRestartS: (readyAt - killedAt) / 1000,
      halfBackS: (summarize(backTimes.map((t) => t - killedAt)).p50 ?? NaN) / 1000,
      dialsPerAgent,
      killNoticedMs: noticed,
      handshakesAcceptedPerSecond: perSecond(secured, killedAt, seconds),
      // from the new controller's ready until the last agent was back: what admission let through
      // and what ended before TLS finished (resets above the bound, mostly; client side)
      handshakesFromReady: secured.filter((t) => t >= readyAt && t <= allBackAt).length,
      handshakesPerSecondFromReady:
        secured.filter((t) => t >= readyAt && t <= allBackAt).length / ((allBackAt - readyAt) / 1000),
      endedBeforeTlsAfterReady: resetBeforeSecure.filter((t) => t >= readyAt && t <= allBackAt).length,
      refusedBeforeTlsPerSecond: perSecond(resetBeforeSecure, killedAt, seconds),
      backPerSecond: perSecond(backTimes, killedAt, seconds),
      backoff,
      cpuSecondsFromReady: { controller: controllerCpuS, agents: agentsCpuS },
      agentProcesses: workers.length,
      loadAverageAtKill: loadAtKill,
      loadAverage: loadavg(),
      reconnect,
    };

    say('');
    say(`back online: ${result.back}/${N}`);
    say(`"agent online" lines from the new controller: ${onlineLines}`);
    say(`kill -> all back: ${result.killToAllBackS.toFixed(1)} s (goal 60 s)`);
    say(`controller ready -> all back: ${result.readyToAllBackS.toFixed(1)} s`);
    say(
      `CPU from ready until all back: controller ${controllerCpuS.toFixed(1)} s, ` +
        `agents' ${workers.length} processes ${agentsCpuS.toFixed(1)} s; load average at the kill ` +
        `${loadAtKill[0]?.toFixed(1)}, now ${loadavg()[0]?.toFixed(1)}`,
    );
    say(`controller restart (kill -> listening): ${result.controllerRestartS.toFixed(1)} s`);
    say(`agents saw the connection drop: p50 +${noticed.p50} ms, max +${noticed.max} ms after the kill`);
    say(
      `dials per agent after the kill: p50 ${dialsPerAgent.p50}, p99 ${dialsPerAgent.p99}, max ${dialsPerAgent.max}`,
    );
    say(
      `from ready until all back: ${result.handshakesFromReady} TLS handshakes completed ` +
        `(${result.handshakesPerSecondFromReady.toFixed(0)}/s), ${result.endedBeforeTlsAfterReady} connections ended before TLS`,
    );
    say(`TLS handshakes completed per second: ${result.handshakesAcceptedPerSecond.join(' ')}`);
    say(`connections ended before TLS finished, per second: ${result.refusedBeforeTlsPerSecond.join(' ')}`);
    say(`agents back per second: ${result.backPerSecond.join(' ')}`);
    say(
      `backoff: ${backoff.retries} retries checked, ${backoff.early} sooner than their backoff chose ` +
        `(smallest margin ${backoff.minMarginMs} ms)${backoff.samples.length ? `: ${backoff.samples.join('; ')}` : ''}`,
    );
    return result;
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
