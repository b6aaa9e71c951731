/**
 * One slice of the reconnect storm's agents (bench/reconnect-storm.ts), in its own process so the
 * agents' TLS work is spread over several cores: agents [from, to) of the identities file, each the
 * agent's own connection code (agent/connection.ts: mutual TLS, hello, heartbeats, capped
 * exponential backoff with full jitter). Driven over IPC; reports what each agent did and when.
 *
 *   node --import tsx bench/storm-agents.ts   (forked by bench/reconnect-storm.ts, not run by hand)
 */
import tls, { type ConnectionOptions as TlsOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { AgentConnection } from '../agent/connection.js';
import { AgentConfig } from '../agent/config.js';
import type { CommandExecutor } from '../agent/executor.js';
import type { HostFacts } from '../proto/facts.js';
import { factsFor, readIdentities } from './scale-identities.js';
import { loopbackSource } from './scale-stats.js';
import type { AgentTrace } from './storm-stats.js';

export interface SliceStart {
  type: 'start';
  port: number;
  caPem: string;
  identitiesFile: string;
  from: number;
  to: number;
  sources: number;
  template: HostFacts;
}
export type SliceRequest =
  | SliceStart
  | { type: 'count' }
  | { type: 'mark' }
  | { type: 'watch' }
  | { type: 'cpu' }
  | { type: 'report' }
  | { type: 'stop' };

export interface SliceReport {
  type: 'report';
  from: number;
  traces: AgentTrace[];
  /** wall times at which a TLS connection was secured, client side */
  secured: number[];
  /** wall times at which a connection closed before TLS was secured */
  resetBeforeSecure: number[];
  /** this process's CPU seconds (user + system) since `mark` */
  cpuSeconds: number;
}
export type SliceReply =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'count'; online: number; back: number; notOnline: Record<string, number> }
  | { type: 'marked' }
  | { type: 'watching' }
  | { type: 'cpu'; cpuSeconds: number }
  | SliceReport
  | { type: 'stopped' };

const send = (m: SliceReply): void => void process.send?.(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const traces: AgentTrace[] = [];
const agentByCert = new Map<string, number>();
let secured: number[] = [];
let resetBeforeSecure: number[] = [];
let sliceFrom = 0;
let sources = 64;
let agents: AgentConnection[] = [];
let cpuAtMark = process.cpuUsage();
let watching = false;

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
  // one process stands in for many machines: each machine parses its own key and CA once, on its
  // own CPU; here that is done once per agent, not on every dial (the handshake itself is still real)
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
    localAddress: loopbackSource(sliceFrom + agent, sources),
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

const online = (): number => agents.reduce((n, a) => n + (a.state === 'online' ? 1 : 0), 0);
/** agents not online, by state and dials so far ("connecting/3"): where a slow first connect is stuck */
const notOnline = (): Record<string, number> => {
  const out: Record<string, number> = {};
  agents.forEach((a, i) => {
    if (a.state === 'online') return;
    const key = `${a.state}/${traces[i]?.dials.length ?? 0}`;
    out[key] = (out[key] ?? 0) + 1;
  });
  return out;
};
const back = (): number => traces.reduce((n, t) => n + (t.backAt === undefined ? 0 : 1), 0);

async function start(m: SliceStart): Promise<void> {
  sliceFrom = m.from;
  sources = m.sources;
  const identities = readIdentities(m.identitiesFile, m.to).slice(m.from, m.to);
  // the agent's own reconnect settings: the defaults of its config file
  const reconnect = AgentConfig.shape.reconnect.parse(undefined);
  const executor = { handle: () => Promise.resolve(), cancel: () => undefined } as unknown as CommandExecutor;
  agents = identities.map((id, i) => {
    traces.push({ dials: [], waits: [] });
    agentByCert.set(id.certPem, i);
    const facts = factsFor(m.from + i, m.template);
    return new AgentConnection({
      controller: `https://127.0.0.1:${m.port}`,
      identity: {
        hostId: id.hostId,
        hostName: id.name,
        caPem: m.caPem,
        certPem: id.certPem,
        keyPem: id.keyPem,
      },
      heartbeatIntervalMs: 10_000,
      reconnect,
      facts: () => Promise.resolve(facts),
      log: agentLog(i),
    });
  });
  // the first connect is not what is measured: started 50 at a time so this process keeps up
  for (let i = 0; i < agents.length; i += 50) {
    for (const a of agents.slice(i, i + 50)) a.start(executor);
    await sleep(50);
  }
}

/** After the kill: an agent is back at the first moment it is online again after a new dial. */
async function watch(): Promise<void> {
  watching = true;
  while (watching) {
    const now = Date.now();
    agents.forEach((a, i) => {
      const t = traces[i];
      if (t && t.backAt === undefined && a.state === 'online' && t.dials.length > 0) t.backAt = now;
    });
    await sleep(100);
  }
}

process.on('message', (m: SliceRequest) => {
  switch (m.type) {
    case 'start':
      void start(m).then(() => send({ type: 'started' }));
      return;
    case 'count':
      send({ type: 'count', online: online(), back: back(), notOnline: notOnline() });
      return;
    case 'mark':
      for (const t of traces) {
        t.dials.length = 0;
        t.waits.length = 0;
        delete t.backAt;
      }
      secured = [];
      resetBeforeSecure = [];
      cpuAtMark = process.cpuUsage();
      send({ type: 'marked' });
      return;
    case 'watch':
      void watch();
      send({ type: 'watching' });
      return;
    case 'cpu': {
      const cpu = process.cpuUsage(cpuAtMark);
      send({ type: 'cpu', cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      return;
    }
    case 'report': {
      watching = false;
      const cpu = process.cpuUsage(cpuAtMark);
      send({
        type: 'report',
        from: sliceFrom,
        traces,
        secured,
        resetBeforeSecure,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
      return;
    }
    case 'stop':
      watching = false;
      void Promise.all(agents.map((a) => a.stop())).finally(() => {
        send({ type: 'stopped' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 200).unref();
      });
      return;
  }
});
// the driver going away takes this process with it
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
