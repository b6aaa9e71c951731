import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import type { EnrollRequest } from '../../proto/admin-api.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { Enrollment } from '../../controller/enrollment.js';
import { ControllerMetrics } from '../../controller/metrics.js';
import { certificateSerial, createCa, type CaKeyPair } from '../../controller/pki.js';
import { SqliteStore } from '../../controller/store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../../controller/store/sqlite-async-store.js';
import type { AsyncStore } from '../../controller/store/store.js';
import { generateToken, hashTokenSecret } from '../../controller/tokens.js';

const facts = (hostname: string): EnrollRequest['facts'] => ({
  hostname,
  machineId: 'm',
  productUuid: 'p',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian 12' },
  kernel: '6.1',
  arch: 'x86_64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
});

/**
 * Crash windows: the controller's state is one SQLite file; a "crash" is a controller that stops at
 * a point and a new one that opens the same file. An enrollment writes nothing before its one
 * transaction, and a retry with the same key after a lost reply gets the same certificate.
 */
describe('enrollment across a controller crash', () => {
  let ca: CaKeyPair;
  let dir: string;
  let token: ReturnType<typeof generateToken>;
  const open = (): { store: SqliteStore; asyncStore: AsyncStore; enrollment: Enrollment } => {
    const store = new SqliteStore(join(dir, 'state.db'));
    // the controller's view of the same file (controller/main.ts)
    const asyncStore = sqliteAsAsyncStore(store);
    const enrollment = new Enrollment({
      store: asyncStore,
      ca,
      log: pino({ level: 'silent' }),
      metrics: new ControllerMetrics(),
      certValidityDays: 30,
    });
    return { store, asyncStore, enrollment };
  };
  const request = (csrPem: string, name = 'node-1'): EnrollRequest => ({
    token: token.token,
    csrPem,
    facts: facts(name),
    labels: {},
    protocolVersion: PROTOCOL_VERSION,
  });

  beforeAll(async () => {
    ca = await createCa({ commonName: 'test CA' });
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-enroll-'));
    token = generateToken();
    const { store } = open();
    store.createToken({
      id: token.id,
      secretHash: hashTokenSecret(token.secret),
      createdAt: 0,
      expiresAt: Date.now() + 3600_000,
      usesTotal: 1,
      usesLeft: 1,
      labels: {},
      description: '',
    });
    store.close();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a crash before the commit leaves the token unused and no host: the retry enrolls', async () => {
    const agent = await createAgentKeyAndCsr();
    const first = open();
    // the controller dies as it commits: nothing after this point runs, not even a compensation
    first.asyncStore.transaction = () => {
      first.store.close();
      return Promise.reject(new Error('killed'));
    };
    await expect(first.enrollment.enroll(request(agent.csrPem), '10.0.0.5')).rejects.toThrow('killed');
    first.store.close();

    const second = open();
    expect(second.store.listHosts()).toEqual([]);
    expect(second.store.listTokens()[0]?.usesLeft).toBe(1);
    const enrolled = await second.enrollment.enroll(request(agent.csrPem), '10.0.0.5');
    expect(second.store.getHost(enrolled.hostId)?.name).toBe('node-1');
    expect(second.store.listTokens()[0]?.usesLeft).toBe(0);
    second.store.close();
  });

  it('a reply lost after the commit: the retry with the same key gets the same certificate', async () => {
    const agent = await createAgentKeyAndCsr();
    const first = open();
    const lost = await first.enrollment.enroll(request(agent.csrPem), '10.0.0.5');
    first.store.close(); // killed before the reply left

    const second = open();
    const again = await second.enrollment.enroll(request(agent.csrPem), '10.0.0.5');
    expect(again).toEqual(lost);
    expect(second.store.listHosts()).toHaveLength(1);
    expect(second.store.listAudit(10).map((a) => a.action)).toContain('host.enroll.repeated');
    second.store.close();
  });

  it('the same name and token with another key is refused: only the key holder gets a repeat', async () => {
    const agent = await createAgentKeyAndCsr();
    const { store, enrollment } = open();
    await enrollment.enroll(request(agent.csrPem), null);
    const other = await createAgentKeyAndCsr();
    await expect(enrollment.enroll(request(other.csrPem), null)).rejects.toMatchObject({
      code: 'token_exhausted',
    });
    store.close();
  });

  it('a repeat is not answered once the host was revoked or its certificate rotated', async () => {
    const agent = await createAgentKeyAndCsr();
    const { store, enrollment } = open();
    const first = await enrollment.enroll(request(agent.csrPem), null);
    store.setHostCertificate(first.hostId, 'ff', Date.now() + 1000);
    await expect(enrollment.enroll(request(agent.csrPem), null)).rejects.toMatchObject({
      code: 'token_exhausted',
    });
    store.setHostCertificate(first.hostId, certificateSerial(first.certPem), 0);
    store.revokeHost(first.hostId, 1);
    await expect(enrollment.enroll(request(agent.csrPem), null)).rejects.toMatchObject({
      code: 'token_exhausted',
    });
    store.close();
  });

  it('a repeat with another token is refused', async () => {
    const agent = await createAgentKeyAndCsr();
    const { store, enrollment } = open();
    await enrollment.enroll(request(agent.csrPem), null);
    const other = generateToken();
    store.createToken({
      id: other.id,
      secretHash: hashTokenSecret(other.secret),
      createdAt: 0,
      expiresAt: Date.now() + 3600_000,
      usesTotal: 1,
      usesLeft: 1,
      labels: {},
      description: '',
    });
    await expect(
      enrollment.enroll({ ...request(agent.csrPem), token: other.token }, null),
    ).rejects.toMatchObject({ code: 'name_taken' });
    expect(store.listTokens().find((t) => t.id === other.id)?.usesLeft).toBe(1);
    store.close();
  });
});
