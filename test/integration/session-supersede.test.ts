import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { signAgentCsr } from '../../controller/pki.js';
import { CloseCode } from '../../controller/close-codes.js';
import {
  connectFakeAgent,
  enrollFakeAgent,
  helloFrame,
  openAgentChannel,
  renewFakeAgent,
  startInProcessController,
  type AgentCredential,
  type InProcessController,
} from './fake-agent.js';

/**
 * Issue 12, finding 1: a rotated or superseded certificate loses its live session at once, and a
 * connection with the host's newest certificate wins over an older one; a second connection with
 * the same certificate is still refused (S7).
 */
describe('agent sessions follow the host certificate', () => {
  let c: InProcessController;

  beforeAll(async () => {
    // a long heartbeat, so nothing here is decided by the heartbeat sweep
    c = await startInProcessController({ heartbeatIntervalMs: 30_000 });
  }, 30_000);
  afterAll(async () => {
    await c.close();
  });

  const ping = (cred: AgentCredential) =>
    c.controller.registry.sendCommand(cred.hostId, 'ping', {}, { timeoutMs: 5000 });

  it('rotation closes the session on the old certificate at once; the new certificate connects and gets the commands', async () => {
    const first = await enrollFakeAgent(c, 'rot-a');
    const old = await connectFakeAgent(c, first);

    const t0 = Date.now();
    const second = await renewFakeAgent(c, first);
    const closed = await old.closed;
    expect(closed.code).toBe(CloseCode.superseded);
    expect(closed.at - t0).toBeLessThan(2000);

    const fresh = await connectFakeAgent(c, second);
    const pending = ping(second);
    const command = await fresh.next('command');
    expect(command).toMatchObject({ op: 'ping', hostId: first.hostId });
    fresh.ws.send(
      JSON.stringify({
        type: 'result',
        id: command.id,
        replayed: false,
        outcome: { ok: true, value: { pong: true, ranAt: Date.now(), runId: 'r' } },
      }),
    );
    expect((await pending).outcome.ok).toBe(true);
    expect(old.frames.some((f) => f.type === 'command')).toBe(false);
    fresh.ws.close();
    await fresh.closed;
  });

  it('a connection with the newest certificate wins over a live session on an older one', async () => {
    const first = await enrollFakeAgent(c, 'rot-b');
    const old = await connectFakeAgent(c, first);
    // the serial moves without this controller's renew route (another replica, a restore): the
    // live session is not told, so the newer certificate must win when it connects
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const signed = await signAgentCsr(c.files.ca, csrPem, { hostId: first.hostId, validityDays: 30 });
    await c.controller.store.setHostCertificate(first.hostId, signed.serial, signed.notAfter);
    const second = { ...first, certPem: signed.certPem, keyPem };

    const fresh = await connectFakeAgent(c, second);
    expect((await old.closed).code).toBe(CloseCode.superseded);
    expect(c.controller.registry.isOnline(first.hostId)).toBe(true);
    expect(c.controller.metrics.connectionsRefused.get('duplicate') ?? 0).toBe(0);
    fresh.ws.close();
    await fresh.closed;
  });

  it('no command reaches a session whose certificate is no longer the host’s', async () => {
    const first = await enrollFakeAgent(c, 'rot-c');
    const old = await connectFakeAgent(c, first);
    const { csrPem } = await createAgentKeyAndCsr();
    const signed = await signAgentCsr(c.files.ca, csrPem, { hostId: first.hostId, validityDays: 30 });
    await c.controller.store.setHostCertificate(first.hostId, signed.serial, signed.notAfter);

    await expect(ping(first)).rejects.toMatchObject({ code: 'host_offline' });
    expect((await old.closed).code).toBe(CloseCode.superseded);
    expect(old.frames.some((f) => f.type === 'command')).toBe(false);
  });

  it('a second connection with the same certificate is still refused as a duplicate', async () => {
    const cred = await enrollFakeAgent(c, 'dup-a');
    const live = await connectFakeAgent(c, cred);
    const second = await openAgentChannel(c, cred);
    second.ws.send(helloFrame(cred.hostName));
    expect(await second.next('error')).toMatchObject({ error: { code: 'duplicate_connection' } });
    expect((await second.closed).code).toBe(CloseCode.duplicate);
    expect(live.isOpen()).toBe(true);
    live.ws.close();
    await live.closed;
  });

  it('a revoked host’s live session is closed and its commands refused', async () => {
    const cred = await enrollFakeAgent(c, 'rev-a');
    const live = await connectFakeAgent(c, cred);
    await c.controller.store.revokeHost(cred.hostId, Date.now());
    await expect(ping(cred)).rejects.toMatchObject({ code: 'host_revoked' });
    // revoked behind the registry's back: the next check that reads the store ends the session
    expect((await live.closed).code).toBe(CloseCode.revoked);
  });
});
