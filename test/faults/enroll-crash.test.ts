import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { AuditList, HostList, TokenList } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  startAgentProcess,
  startControllerProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from '../integration/harness.js';

/**
 * A TCP proxy in front of the controller that holds back every byte the controller sends on the
 * first connection whose client sent more than 1000 bytes: the enrollment POST (CSR and facts,
 * about 1.4 kB with TLS; the GET of the CA is about 0.6 kB). The controller does the enrollment,
 * but its reply never reaches the agent.
 */
class ReplyHoldingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private armed = true;
  held = 0;
  port = 0;
  /** bytes each connection's client sent, for a failure message */
  readonly clientBytes: number[] = [];

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      let sent = 0;
      let holding = false;
      const index = this.clientBytes.push(0) - 1;
      client.on('data', (d: Buffer) => {
        sent += d.length;
        this.clientBytes[index] = sent;
        if (this.armed && !holding && sent > 1000) {
          // the first big request only (the enrollment); later ones (the mTLS WebSocket) pass
          holding = true;
          this.armed = false;
        }
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (holding) {
          this.held += d.length;
          return;
        }
        client.write(d);
      });
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    this.server = server;
  }

  /** cuts every connection: what the agent sees of a controller killed mid-reply */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * Finding 11 of the outside review: a controller killed after the host row is written but before
 * the reply leaves used to leave an orphan row, and the agent's next enrollment was refused as
 * "already enrolled". Now the enrollment is one transaction, and the agent's retry (same key, same
 * CSR, kept in its state dir) is answered with the same certificate: no operator needed.
 */
describe('controller killed between committing an enrollment and replying', () => {
  let controller: ControllerHandle;
  let proxy: ReplyHoldingProxy;
  let agent: AgentHandle;

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    proxy = new ReplyHoldingProxy(controller.port);
    await proxy.start();
  }, 120_000);

  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await proxy?.stop();
    await cleanup([controller?.dataDir, agent?.stateDir, agent?.hostRoot].filter((p) => p !== undefined));
  });

  it('the agent enrolls on its retry with the certificate the dead controller issued', async () => {
    const env = { KCTL_CONFIG: controller.clientConfig };
    const token = (await kctl(['token', 'create'], { env })).stdout.trim();
    agent = await startAgentProcess({
      name: 'crash-1',
      controller: { ...controller, url: `https://127.0.0.1:${proxy.port}` },
      token,
    });
    // the controller committed the host; its reply is held in the proxy
    const hostId = await waitFor(
      'host row written',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts[0]?.id,
      60_000,
      50,
    );
    // the reply leaves right after the commit: wait until it is held
    await waitFor('the reply held', () => Promise.resolve(proxy.held > 0 || undefined), 10_000, 20).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}; client bytes per connection: ${proxy.clientBytes.join(', ')}`);
      },
    );
    await controller.proc.stop('SIGKILL');
    proxy.cutAll();
    await controller.start();

    await waitFor(
      'agent online after its retry',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.find((h) => h.online),
      90_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nagent output:\n${agent.proc.output().slice(-3000)}`);
    });
    const hosts = (await controller.api.get('/v1/admin/hosts', HostList)).hosts;
    expect(hosts.map((h) => [h.id, h.name])).toEqual([[hostId, 'crash-1']]);
    const tokens = (await controller.api.get('/v1/admin/tokens', TokenList)).tokens;
    expect(tokens.map((t) => t.usesLeft)).toEqual([0]);
    const actions = (await controller.api.get('/v1/admin/audit', AuditList)).entries.map((e) => e.action);
    expect(actions.filter((a) => a === 'host.enroll')).toHaveLength(1);
    expect(actions).toContain('host.enroll.repeated');
    expect(actions).not.toContain('host.enroll.refused');
  }, 240_000);
});
