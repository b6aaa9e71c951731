import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import type { HostFacts } from '../../proto/facts.js';
import { createCa, signAgentCsr, type CaKeyPair } from '../../controller/pki.js';
import { AgentConnection } from '../../agent/connection.js';
import type { CommandExecutor } from '../../agent/executor.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { startReplicaStandIn, type ReplicaStandIn } from './replica-standin.js';
import { waitFor } from './harness.js';
import { captureJsonLog } from '../support/capture-log.js';

/**
 * Issue 16 part 3: an agent with a list of controller URLs fails over between the replicas with
 * the backoff and jitter of one controller. Real TLS (one shared CA, mutual TLS) and real ws on
 * loopback; the replicas are stand-ins (test/integration/replica-standin.ts) so that a kill is
 * instant and every dial can be timed against the backoff the agent chose for it.
 */

interface LogLine {
  time: number;
  msg: string;
  controller?: string;
  retryInMs?: number;
  next?: string;
}

const captureLog = (): { log: Logger; lines: LogLine[] } => captureJsonLog<LogLine>();

const INITIAL_MS = 300;
const MAX_MS = 2400;
/** the top of every jitter window: each delay is floor(0.999 x its ceiling), so growth is visible */
const DRAW = 0.999;
/** timers fire a little late, never early; this is only for rounding of the log's ms timestamps */
const CLOCK_SLACK_MS = 2;

/**
 * For every "disconnected" line, the next "dialing" line: it must come no sooner than the delay the
 * backoff chose (the floor of that attempt), and go to the replica the line named as next.
 */
function retriesAfter(
  lines: LogLine[],
  from: number,
): Array<{ waitedMs: number; chosenMs: number; to: string; next: string }> {
  const out: Array<{ waitedMs: number; chosenMs: number; to: string; next: string }> = [];
  const relevant = lines.filter((l) => l.time >= from && (l.msg === 'dialing' || l.msg === 'disconnected'));
  relevant.forEach((line, i) => {
    if (line.msg !== 'disconnected') return;
    const dial = relevant.slice(i + 1).find((l) => l.msg === 'dialing');
    if (!dial) return;
    out.push({
      waitedMs: dial.time - line.time,
      chosenMs: line.retryInMs!,
      to: dial.controller!,
      next: line.next!,
    });
  });
  return out;
}

describe('agent failover between controller replicas', () => {
  let ca: CaKeyPair;
  let replicas: ReplicaStandIn[];
  let connection: AgentConnection;
  let lines: LogLine[];
  const executor = { handle: () => undefined, cancel: () => undefined };

  const liveReplica = (): ReplicaStandIn | undefined => replicas.find((r) => r.live());

  beforeAll(async () => {
    ca = await createCa({ commonName: 'failover fleet' });
    replicas = [];
    for (const name of ['a', 'b', 'c'])
      replicas.push(await startReplicaStandIn({ name, ca, hostId: 'h-failover', hostName: 'failover' }));
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const certPem = (await signAgentCsr(ca, csrPem, { hostId: 'h-failover' })).certPem;
    const captured = captureLog();
    lines = captured.lines;
    connection = new AgentConnection({
      controllers: replicas.map((r) => r.url),
      identity: { hostId: 'h-failover', hostName: 'failover', caPem: ca.certPem, certPem, keyPem },
      heartbeatIntervalMs: 1000,
      reconnect: { initialDelayMs: INITIAL_MS, maxDelayMs: MAX_MS },
      facts: () => Promise.resolve({ hostname: 'failover' } as HostFacts),
      log: captured.log,
      random: () => DRAW,
    });
    connection.start(executor as unknown as CommandExecutor);
  });
  afterAll(async () => {
    await connection.stop();
    for (const r of replicas) await r.kill();
  });

  it('starts at the replica its draw picks and reports it as the replica to use', async () => {
    const first = await waitFor('a first session', () => Promise.resolve(liveReplica()));
    // 0.999 picks the last of three
    expect(first.name).toBe('c');
    expect(connection.controllerUrl()).toBe(first.url);
  });

  it('reconnects to the next replica within its backoff when the replica it is on dies', async () => {
    const on = liveReplica()!;
    const next = replicas[(replicas.indexOf(on) + 1) % replicas.length]!;
    const sessionsBefore = next.sessions.length;
    const killedAt = Date.now();
    await on.kill();
    const back = await waitFor('a session on another replica', () => Promise.resolve(liveReplica()));
    expect(back.name).toBe(next.name);
    expect(next.sessions.length).toBe(sessionsBefore + 1);
    // a lost session waits one first-failure window (< INITIAL_MS) and dials the next replica
    const retries = retriesAfter(lines, killedAt);
    expect(retries[0]).toMatchObject({
      chosenMs: Math.floor(DRAW * INITIAL_MS),
      to: next.url,
      next: next.url,
    });
    expect(retries[0]!.waitedMs).toBeGreaterThanOrEqual(retries[0]!.chosenMs - CLOCK_SLACK_MS);
    expect(next.sessions.at(-1)!.at - killedAt).toBeLessThan(INITIAL_MS + 3000);
    expect(connection.controllerUrl()).toBe(next.url);
    await on.start(); // back for the next test, on the same port
  });

  it('with every replica down, rotates over them, never dials sooner than the backoff chose, and grows the window once per full round', async () => {
    const downAt = Date.now();
    for (const r of replicas) await r.kill();
    // three full rounds: 3 x 299 + 3 x 599 + 3 x 1199 ms
    await waitFor(
      'ten dials after the kill',
      () => Promise.resolve(lines.filter((l) => l.time >= downAt && l.msg === 'dialing').length >= 10),
      30_000,
    );
    const restartedAt = Date.now();
    const revived = replicas[1]!;
    await revived.start();
    const back = await waitFor(
      'a session on the revived replica',
      () => Promise.resolve(liveReplica()),
      30_000,
    );
    expect(back.name).toBe(revived.name);

    const retries = retriesAfter(lines, downAt).filter((_, i) => i < 10);
    // the first is the lost session; then each refused dial counts one failure since the welcome
    const ceilings = retries.map((_, k) =>
      Math.min(MAX_MS, INITIAL_MS * 2 ** Math.floor(k / replicas.length)),
    );
    expect(retries.map((r) => r.chosenMs)).toEqual(ceilings.map((c) => Math.floor(DRAW * c)));
    for (const r of retries) {
      expect(r.waitedMs).toBeGreaterThanOrEqual(r.chosenMs - CLOCK_SLACK_MS);
      expect(r.to).toBe(r.next);
    }
    // round-robin: each dial goes to the replica after the previous one
    const order = retries.map((r) => replicas.findIndex((x) => x.url === r.to));
    order.slice(1).forEach((index, i) => expect(index).toBe((order[i]! + 1) % replicas.length));
    // the revived replica is reached within one window of the round it came back in
    expect(revived.sessions.at(-1)!.at - restartedAt).toBeLessThan(MAX_MS * 3 + 3000);
    await Promise.all(replicas.filter((r) => r !== revived).map((r) => r.start()));
  });
});
