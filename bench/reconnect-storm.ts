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
 *   npx tsx bench/reconnect-storm.ts [--agents 10000] [--sources 64] [--cache DIR] [--json FILE]
 *
 * This process is the N agents (one Node process standing in for N machines, each with its own
 * 127.0.0.x source address); the controller is the other. Loopback only; every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import tls, { type ConnectionOptions as TlsOptions, type TLSSocket } from 'node:tls';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { AgentConnection } from '../agent/connection.js';
import { AgentConfig } from '../agent/config.js';
import type { CommandExecutor } from '../agent/executor.js';
import { LocalHost } from '../agent/host/local-host.js';
import { gatherFacts } from '../agent/facts.js';
import { ConnectionAdmission } from '../controller/admission.js';
import { ensureIdentities, factsFor, readIdentities } from './scale-identities.js';
import { loopbackSource, summarize } from './scale-stats.js';
import { checkBackoff, perSecond, type AgentTrace } from './storm-stats.js';

const { values: opts } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    sources: { type: 'string', default: '64' },
    cache: { type: 'string', default: '/tmp/kctl-bench-storm' },
    json: { type: 'string' },
    'connect-timeout': { type: 'string', default: '300' },
    'storm-timeout': { type: 'string', default: '240' },
    /** the controller's handshake bounds for this run, JSON (controller.json `admission`); `{}` = defaults */
    admission: { type: 'string', default: '{}' },
  },
});
const N = Number(opts.agents);
const SOURCES = Number(opts.sources);
const CACHE = opts.cache ?? '/tmp/kctl-bench-storm';
const CONNECT_TIMEOUT_S = Number(opts['connect-timeout']);
const STORM_TIMEOUT_S = Number(opts['storm-timeout']);
if (!Number.isInteger(N) || N < 1 || N > 50_000) throw new Error(`--agents: ${opts.agents}`);
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

// --- what the agents do, seen from outside the agent code --------------------------------------

const traces: AgentTrace[] = [];
const agentByCert = new Map<string, number>();
/** client-side view of each TLS connection: when it was secured, or reset before */
const secured: number[] = [];
const resetBeforeSecure: number[] = [];

/**
 * Every dial of agent/connection.ts goes through ws to tls.connect: noted per agent here, and given
 * the agent's own loopback source address (a machine has its own address; one address for 10,000
 * would be 10,000 connections from one peer, which the per-address bound rightly refuses).
 */
const contexts = new Map<number, tls.SecureContext>();
const realConnect = tls.connect.bind(tls) as (options: TlsOptions) => TLSSocket;
(tls as { connect: unknown }).connect = (options: TlsOptions): TLSSocket => {
  const agent = typeof options.cert === 'string' ? agentByCert.get(options.cert) : undefined;
  if (agent === undefined) return realConnect(options);
  traces[agent]?.dials.push(Date.now());
  // one process stands in for N machines: each machine parses its own key and CA once, on its own
  // CPU; here that is done once per agent, not on every dial (the handshake itself is still real)
  let secureContext = contexts.get(agent);
  if (!secureContext) {
    secureContext = tls.createSecureContext({
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      minVersion: options.minVersion,
    });
    contexts.set(agent, secureContext);
  }
  const socket = realConnect({
    ...options,
    secureContext,
    localAddress: loopbackSource(agent, SOURCES),
  } as TlsOptions);
  let secure = false;
  socket.once('secureConnect', () => {
    secure = true;
    secured.push(Date.now());
  });
  socket.once('close', () => {
    if (!secure) resetBeforeSecure.push(Date.now());
  });
  return socket;
};

/** The agent's logger: only the backoff decision is kept (what agent/connection.ts logs on close). */
function agentLog(agent: number): Logger {
  const trace = traces[agent];
  const log = {
    info(fields: unknown, msg?: string) {
      if (msg === 'disconnected' && trace) {
        const delayMs = (fields as { retryInMs?: unknown }).retryInMs;
        if (typeof delayMs === 'number')
          trace.waits.push({ at: Date.now(), delayMs, dialsBefore: trace.dials.length });
      }
    },
    warn: () => undefined,
    error: () => undefined,
    debug: () => undefined,
    trace: () => undefined,
    fatal: () => undefined,
    child: () => log,
  };
  return log as unknown as Logger;
}

// --- the controller process ---------------------------------------------------------------------

interface ControllerProc {
  proc: ChildProcess;
  ready: Promise<number>;
}

/** `kctl controller run` in its own process group; `ready` resolves at its "controller listening". */
function startControllerProcess(dataDir: string, port: number, logFile: string): ControllerProc {
  const out = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(
    process.execPath,
    [
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
  const identities = readIdentities(cache.identitiesFile, N);
  const caPem = readFileSync(join(cache.dataDir, 'ca.crt'), 'utf8');
  // the bounds under test go into controller.json, where an operator would set them
  const settingsFile = join(cache.dataDir, 'controller.json');
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
  const admission = ConnectionAdmission.parse(JSON.parse(opts.admission ?? '{}'));
  writeFileSync(settingsFile, JSON.stringify({ ...settings, admission }, null, 2));
  say(`admission: ${JSON.stringify(admission)}`);
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

  // the agent's own reconnect settings: the defaults of its config file
  const reconnect = AgentConfig.shape.reconnect.parse(undefined);
  const executor = { handle: () => Promise.resolve(), cancel: () => undefined } as unknown as CommandExecutor;
  const agents = identities.map((id, i) => {
    traces.push({ dials: [], waits: [] });
    agentByCert.set(id.certPem, i);
    const facts = factsFor(i, template);
    return new AgentConnection({
      controller: `https://127.0.0.1:${port}`,
      identity: { hostId: id.hostId, hostName: id.name, caPem, certPem: id.certPem, keyPem: id.keyPem },
      heartbeatIntervalMs: 10_000,
      reconnect,
      facts: () => Promise.resolve(facts),
      log: agentLog(i),
    });
  });
  const online = (): number => agents.reduce((n, a) => n + (a.state === 'online' ? 1 : 0), 0);

  const t0 = Date.now();
  // the first connect is not what is measured: started 100 at a time so this process keeps up
  for (let i = 0; i < agents.length; i += 100) {
    for (const a of agents.slice(i, i + 100)) a.start(executor);
    await sleep(50);
  }
  while (online() < N) {
    if (Date.now() - t0 > CONNECT_TIMEOUT_S * 1000)
      throw new Error(`only ${online()}/${N} agents online after ${CONNECT_TIMEOUT_S} s`);
    await sleep(200);
  }
  say(`all ${N} online after ${((Date.now() - t0) / 1000).toFixed(1)} s (first connect); settling 5 s`);
  await sleep(5000);

  // the storm: kill -9 the controller's process group, start it again at once
  for (const t of traces) {
    t.dials.length = 0;
    t.waits.length = 0;
  }
  secured.length = 0;
  resetBeforeSecure.length = 0;
  const killedAt = Date.now();
  killGroup(controller.proc);
  controller = startControllerProcess(cache.dataDir, port, logFile);
  const readyAt = await controller.ready;
  const controllerCpuAtReady = cpuSecondsOf(controller.proc.pid);
  const agentsCpuAtReady = process.cpuUsage();
  say(`killed at +0 ms, new controller ready at +${readyAt - killedAt} ms`);

  const backSeries: number[] = [];
  while (true) {
    const now = Date.now();
    for (let i = 0; i < N; i++) {
      const t = traces[i];
      if (t && t.backAt === undefined && agents[i]?.state === 'online' && t.dials.length > 0) t.backAt = now;
    }
    const back = traces.filter((t) => t.backAt !== undefined).length;
    backSeries.push(back);
    if (back === N) break;
    if (now - killedAt > STORM_TIMEOUT_S * 1000) break;
    await sleep(100);
  }
  // who was busy during the storm: the controller, or this process standing in for the agents
  const controllerCpuS = cpuSecondsOf(controller.proc.pid) - controllerCpuAtReady;
  const agentsCpu = process.cpuUsage(agentsCpuAtReady);
  const agentsCpuS = (agentsCpu.user + agentsCpu.system) / 1e6;
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
    refusedBeforeTlsPerSecond: perSecond(resetBeforeSecure, killedAt, seconds),
    backPerSecond: perSecond(backTimes, killedAt, seconds),
    backoff,
    cpuSecondsFromReady: { controller: controllerCpuS, agents: agentsCpuS },
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
      `agents' stand-in process ${agentsCpuS.toFixed(1)} s; load average now ${loadavg()[0]?.toFixed(1)}`,
  );
  say(`controller restart (kill -> listening): ${result.controllerRestartS.toFixed(1)} s`);
  say(`agents saw the connection drop: p50 +${noticed.p50} ms, max +${noticed.max} ms after the kill`);
  say(
    `dials per agent after the kill: p50 ${dialsPerAgent.p50}, p99 ${dialsPerAgent.p99}, max ${dialsPerAgent.max}`,
  );
  say(`TLS handshakes completed per second: ${result.handshakesAcceptedPerSecond.join(' ')}`);
  say(`connections ended before TLS finished, per second: ${result.refusedBeforeTlsPerSecond.join(' ')}`);
  say(`agents back per second: ${result.backPerSecond.join(' ')}`);
  say(
    `backoff: ${backoff.retries} retries checked, ${backoff.early} sooner than their backoff chose ` +
      `(smallest margin ${backoff.minMarginMs} ms)${backoff.samples.length ? `: ${backoff.samples.join('; ')}` : ''}`,
  );
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));

  await Promise.all(agents.map((a) => a.stop()));
  killGroup(controller.proc);
  if (backoff.early > 0) throw new Error(`${backoff.early} agents retried sooner than their backoff floor`);
  if (result.back < N) throw new Error(`only ${result.back}/${N} agents back within ${STORM_TIMEOUT_S} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
