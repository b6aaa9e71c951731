import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import { HostList, TokenCreateResponse, TokenList } from '../../proto/admin-api.js';
import { createCa } from '../../controller/pki.js';
import { enrollWithFailover, loadIdentity } from '../../agent/enroll.js';
import { gatherFacts } from '../../agent/facts.js';
import { httpsNet } from '../../agent/host/https-net.js';
import { LocalHost } from '../../agent/host/local-host.js';
import { StateDir } from '../../agent/host/state-dir.js';
import {
  cleanup,
  freePort,
  makeHostRoot,
  startControllerProcess,
  tempDir,
  type ControllerHandle,
} from './harness.js';
import { startReplicaStandIn, type ReplicaStandIn } from './replica-standin.js';
import { captureJsonLog } from '../support/capture-log.js';

/**
 * Issue 16 part 3: enrollment (CA fetch and pin, then token + CSR) works against any URL of the
 * list. A real controller process is the second URL; the first refuses connections (a closed
 * port), or is a server of another fleet (another CA), which must end enrollment, not be skipped.
 */

interface LogLine {
  msg: string;
  controller?: string;
  code?: string;
  next?: string;
  retryInMs?: number;
}

const captureLog = (): { log: Logger; lines: LogLine[] } => captureJsonLog<LogLine>();

/** the first draw picks the start (0: the first URL), later draws are the jitter */
const draws = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
};

describe('enrollment against a list of controller URLs', () => {
  let controller: ControllerHandle;
  let other: ReplicaStandIn;
  let dead: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    controller = await startControllerProcess();
    other = await startReplicaStandIn({
      name: 'other-fleet',
      ca: await createCa({ commonName: 'another fleet' }),
      hostId: 'h-other',
      hostName: 'other',
    });
    dead = `https://127.0.0.1:${await freePort()}`;
  }, 90_000);
  afterAll(async () => {
    await controller.proc.stop();
    await other.kill();
    await cleanup([controller.dataDir, ...dirs]);
  });

  const agentSide = async (name: string): Promise<{ host: LocalHost; state: StateDir }> => {
    const root = await makeHostRoot(name);
    const stateDir = await tempDir(`state-${name}`);
    dirs.push(root, stateDir);
    const state = new StateDir(stateDir);
    await state.init();
    return { host: new LocalHost({ root }), state };
  };
  const newToken = async (): Promise<string> =>
    (await controller.api.post('/v1/admin/tokens', { ttlMs: 600_000, uses: 1 }, TokenCreateResponse)).token;

  it('enrolls with the second URL when the first refuses connections, after one backoff', async () => {
    const { host, state } = await agentSide('enroll-second');
    const { log, lines } = captureLog();
    const sleeps: number[] = [];
    const result = await enrollWithFailover({
      controllers: [dead, controller.url],
      pins: [controller.caPin],
      skipCaVerification: false,
      token: await newToken(),
      facts: () => gatherFacts(host),
      labels: {},
      state,
      log,
      net: httpsNet,
      retry: { initialDelayMs: 400, maxDelayMs: 4000 },
      random: draws(0, 0.5),
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    });
    expect(result.controller).toBe(controller.url);
    // one failure: a first-failure window (400 ms), half of it with this draw
    expect(sleeps).toEqual([200]);
    expect(lines.filter((l) => l.msg === 'enrollment failed')).toEqual([
      expect.objectContaining({ controller: dead, code: 'io_error', next: controller.url, retryInMs: 200 }),
    ]);
    const identity = await loadIdentity(state);
    expect(identity?.hostId).toBe(result.identity.hostId);
    const hosts = await controller.api.get('/v1/admin/hosts', HostList);
    expect(hosts.hosts.map((h) => h.id)).toContain(result.identity.hostId);
  });

  it('stops at a server whose CA matches no pin, naming it, and does not spend the token elsewhere', async () => {
    const { host, state } = await agentSide('enroll-wrong-fleet');
    const { log, lines } = captureLog();
    const token = await newToken();
    const tokenId = token.split('.')[0]!;
    await expect(
      enrollWithFailover({
        controllers: [other.url, controller.url],
        pins: [controller.caPin],
        skipCaVerification: false,
        token,
        facts: () => gatherFacts(host),
        labels: {},
        state,
        log,
        net: httpsNet,
        retry: { initialDelayMs: 400, maxDelayMs: 4000 },
        random: draws(0, 0.5),
        sleep: () => Promise.resolve(),
      }),
    ).rejects.toMatchObject({
      code: 'ca_pin_mismatch',
      message: expect.stringContaining(`The controller at ${other.url} presents CA`) as unknown,
    });
    expect(lines.filter((l) => l.msg === 'enrollment failed')).toEqual([]);
    expect(other.enrollments).toBe(0);
    const tokens = (await controller.api.get('/v1/admin/tokens', TokenList)).tokens;
    expect(tokens.find((t) => t.id === tokenId)?.usesLeft).toBe(1);
  });
});
