import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostList, RunOpResponse } from '../../proto/admin-api.js';
import { KctlError } from '../../proto/errors.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import {
  cleanup,
  kctl,
  localSessions,
  startAgentProcess,
  startControllerProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

/**
 * Issue 16: two controller replicas on one PostgreSQL, the second initialised with the first's CA
 * (--ca-from). An agent enrolls through and connects to replica B only; replica A learns of the
 * host through the database's notices (its host-state cache), runs commands on it through B
 * (LISTEN/NOTIFY relay, store/pg-relay.ts), and a revocation made through A ends the session on B.
 */
describe('two controller replicas on one PostgreSQL', () => {
  let server: ThrowawayPostgres;
  let a: ControllerHandle;
  let b: ControllerHandle;
  let agent: AgentHandle;

  const online = async (c: ControllerHandle): Promise<string[]> =>
    (await c.api.get('/v1/admin/hosts', HostList)).hosts.filter((h) => h.online).map((h) => h.name);

  beforeAll(async () => {
    server = await startThrowawayPostgres();
    const url = server.url(await server.createDatabase('kctl_replicas'));
    a = await startControllerProcess({ heartbeatIntervalMs: 500, settings: { store: url } });
    b = await startControllerProcess({
      heartbeatIntervalMs: 500,
      settings: { store: url },
      caFrom: a.dataDir,
    });
    // a token made through A is used at B: tokens live in the shared database
    const token = (await kctl(['token', 'create'], { env: { KCTL_CONFIG: a.clientConfig } })).stdout.trim();
    agent = await startAgentProcess({ name: 'rep-1', controller: b, token });
    await waitFor('rep-1 online at B', async () => (await online(b)).includes('rep-1'), 60_000);
  }, 180_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await Promise.all([a?.proc.stop(), b?.proc.stop()]);
    await cleanup(
      [a?.dataDir, b?.dataDir, agent?.stateDir, agent?.hostRoot].filter((d): d is string => d !== undefined),
    );
    await server?.stop();
  });

  it('the replicas share one CA pin', () => {
    expect(b.caPin).toBe(a.caPin);
  });

  it('a command through replica A reaches the host connected to replica B (its result relayed back)', async () => {
    // A never saw this host connect: it knows it from B's notice, and runs the op through B
    const r = await a.api.post('/v1/admin/ops', { host: 'rep-1', op: 'facts.get', args: {} }, RunOpResponse);
    expect(r.outcome.ok, JSON.stringify(r.outcome)).toBe(true);
    expect(r.host).toBe('rep-1');
    const ping = await a.api.post('/v1/admin/ops', { host: 'rep-1', op: 'ping', args: {} }, RunOpResponse);
    expect(ping.outcome.ok).toBe(true);
    // A holds no session itself, yet its host list shows rep-1 online: B records its heartbeats
    expect(await localSessions(a)).toBe(0);
    expect(await localSessions(b)).toBe(1);
    expect(await online(a)).toEqual(['rep-1']);
  });

  it('a revocation made through A ends the session on B at once', async () => {
    const revoke = await kctl(['hosts', 'revoke', 'rep-1'], { env: { KCTL_CONFIG: a.clientConfig } });
    expect(revoke.code, revoke.stderr).toBe(0);
    await waitFor('rep-1 offline at B', async () => !(await online(b)).includes('rep-1'), 15_000);
    const refused = await a.api
      .post('/v1/admin/ops', { host: 'rep-1', op: 'ping', args: {} }, RunOpResponse)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(KctlError);
    expect((refused as KctlError).code).toBe('host_revoked');
  });
});
