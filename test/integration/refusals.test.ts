import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { parse as parseYaml } from 'yaml';
import { WebSocket } from 'ws';
import { HostList, OkResponse, TokenCreateResponse } from '../../proto/admin-api.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { createCa, issueAdminCert, signAgentCsr } from '../../controller/pki.js';
import { ApiClient } from '../../controller/cli/api-client.js';
import { allRoutes } from '../../controller/routes.js';
import {
  cleanup,
  kctl,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

const facts = {
  hostname: 'raw-1',
  machineId: 'a'.repeat(32),
  productUuid: 'p',
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1,
  cgroupVersion: 2,
};

function rawRequest(
  url: string,
  options: { method?: string; ca: string; cert?: string; key?: string; body?: unknown },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      {
        method: options.method ?? 'GET',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: [options.ca],
        rejectUnauthorized: true,
        agent: false,
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
        headers: payload ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('refusals', () => {
  let controller: ControllerHandle;
  const agents: AgentHandle[] = [];
  const dirs: string[] = [];
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });
  let caPem: string;

  const createToken = async (ttl = '10m', uses = 1): Promise<string> => {
    const r = await kctl(['token', 'create', '--ttl', ttl, '--uses', String(uses)], { env: env() });
    expect(r.code).toBe(0);
    return r.stdout.trim();
  };

  /** enrolls directly through the API, as a raw client, and returns a host credential */
  const enrollRaw = async (hostname: string): Promise<{ cert: string; key: string; hostId: string }> => {
    const token = await createToken();
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const r = await rawRequest(`${controller.url}/v1/enroll`, {
      method: 'POST',
      ca: caPem,
      body: { token, csrPem, facts: { ...facts, hostname }, labels: {}, protocolVersion: PROTOCOL_VERSION },
    });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { certPem: string; hostId: string };
    return { cert: body.certPem, key: keyPem, hostId: body.hostId };
  };

  const openAgentSocket = (cred: { cert: string; key: string }): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${controller.url.replace('https', 'wss')}/v1/agent`, {
        ca: [caPem],
        cert: cred.cert,
        key: cred.key,
        perMessageDeflate: false,
      });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });

  const nextFrame = (ws: WebSocket): Promise<Record<string, unknown>> =>
    new Promise((resolve) =>
      ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()) as Record<string, unknown>)),
    );
  const closed = (ws: WebSocket): Promise<number> =>
    new Promise((resolve) => ws.once('close', (code) => resolve(code)));

  beforeAll(async () => {
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    caPem = await readFile(`${controller.dataDir}/ca.crt`, 'utf8');
  }, 30_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.proc.stop()));
    await controller.proc.stop();
    await cleanup([controller.dataDir, ...dirs, ...agents.flatMap((a) => [a.stateDir, a.hostRoot])]);
  });

  it.each([
    ['an unknown token', 'zzzzzz.zzzzzzzzzzzzzzzz', /not known to this controller/],
    ['a malformed token', 'nope', /token/],
  ])('refuses %s on both sides with a clear error', async (_what, token, message) => {
    const agent = await startAgentProcess({ name: `bad-${agents.length}`, controller, token });
    agents.push(agent);
    if (token === 'nope') {
      // the agent's own config check catches the format before any network traffic
      expect(await agent.proc.exited).toBe(2);
      expect(agent.proc.output()).toMatch(/token: must match/);
      return;
    }
    expect(await agent.proc.exited).toBe(1);
    expect(agent.proc.output()).toMatch(message);
    expect(controller.proc.output()).toMatch(/enrollment refused/);
  });

  it('refuses an expired token', async () => {
    const token = await createToken('1s');
    await new Promise((r) => setTimeout(r, 1100));
    const agent = await startAgentProcess({ name: 'late', controller, token });
    agents.push(agent);
    expect(await agent.proc.exited).toBe(1);
    expect(agent.proc.output()).toMatch(/has expired/);
  });

  it('refuses a single-use token used a second time', async () => {
    const token = await createToken('10m', 1);
    const first = await startAgentProcess({ name: 'first', controller, token });
    agents.push(first);
    await waitFor('first online', async () =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some(
        (h) => h.name === 'first' && h.online,
      ),
    );
    const second = await startAgentProcess({ name: 'second', controller, token });
    agents.push(second);
    expect(await second.proc.exited).toBe(1);
    expect(second.proc.output()).toMatch(/no uses left/);
  });

  it('an agent with a wrong CA pin refuses the controller before sending its token', async () => {
    const token = await createToken();
    const agent = await startAgentProcess({
      name: 'pinned',
      controller,
      token,
      caPin: `sha256:${'0'.repeat(64)}`,
    });
    agents.push(agent);
    expect(await agent.proc.exited).toBe(1);
    expect(agent.proc.output()).toMatch(/matches none of the configured pins/);
    const tokens = JSON.parse((await kctl(['token', 'list', '-o', 'json'], { env: env() })).stdout) as Array<{
      id: string;
      usesLeft: number;
    }>;
    expect(tokens.find((t) => token.startsWith(t.id))?.usesLeft).toBe(1);
  });

  it('an agent without a CA pin refuses to start', async () => {
    const root = await makeHostRoot('nopin');
    dirs.push(root);
    const agent = await startAgentProcess({
      name: 'nopin',
      controller,
      token: await createToken(),
      hostRoot: root,
      extra: { caPin: undefined },
    });
    agents.push(agent);
    expect(await agent.proc.exited).toBe(2);
    expect(agent.proc.output()).toMatch(/caPin: caPin \(or caPins\) is required/);
  });

  it('refuses every non-public route without a client certificate (S14)', async () => {
    const routes = allRoutes({ artifactsDir: '/nonexistent' } as never);
    const guarded = routes.filter((r) => r.auth !== 'public');
    expect(guarded.length).toBeGreaterThan(5);
    for (const route of guarded) {
      const path = route.path.replace(/:[a-z]+/g, 'x');
      const r = await rawRequest(`${controller.url}${path}`, {
        method: route.method,
        ca: caPem,
        ...(route.method === 'POST' ? { body: {} } : {}),
      });
      expect([401, 403], `${route.method} ${route.path}`).toContain(r.status);
    }
    expect(
      routes
        .filter((r) => r.auth === 'public')
        .map((r) => r.path)
        .sort(),
    ).toEqual(['/artifacts/:name', '/healthz', '/v1/ca', '/v1/enroll']);
  });

  it('refuses the agent channel without a client certificate and with a foreign one', async () => {
    await expect(
      openAgentSocket({ cert: undefined as unknown as string, key: undefined as unknown as string }),
    ).rejects.toThrow(/401/);
    const foreignCa = await createCa({ commonName: 'someone else' });
    const { keyPem, csrPem } = await createAgentKeyAndCsr();
    const foreign = await signAgentCsr(foreignCa, csrPem, { hostId: 'h-foreign', validityDays: 1 });
    await expect(openAgentSocket({ cert: foreign.certPem, key: keyPem })).rejects.toThrow(/401/);
  });

  it('refuses admin routes to a certificate from another CA, and the agent channel to an admin certificate', async () => {
    const foreignCa = await createCa({ commonName: 'someone else' });
    const foreignAdmin = await issueAdminCert(foreignCa, { name: 'admin' });
    const r = await rawRequest(`${controller.url}/v1/admin/hosts`, {
      ca: caPem,
      cert: foreignAdmin.certPem,
      key: foreignAdmin.keyPem,
    });
    expect(r.status).toBe(401);
    const cfg = parseYaml(await readFile(controller.clientConfig, 'utf8')) as {
      certPem: string;
      keyPem: string;
    };
    await expect(openAgentSocket({ cert: cfg.certPem, key: cfg.keyPem })).rejects.toThrow(/403/);
  });

  it('answers a malformed frame with a typed error, closes with 1008, counts it, and stays up', async () => {
    const cred = await enrollRaw('raw-bad');
    const ws = await openAgentSocket(cred);
    const frame = nextFrame(ws);
    const code = closed(ws);
    ws.send('{"type":"hello","protocolVersion":1,"agentVersion":"x","facts":{"hostname":5}}');
    const reply = await frame;
    expect(reply).toMatchObject({ type: 'error', error: { code: 'invalid_frame' } });
    expect(String((reply.error as { message: string }).message)).toContain('facts.hostname');
    expect(await code).toBe(1008);
    const metrics = await controller.api.text('/metrics');
    expect(metrics).toMatch(/kctl_frames_rejected_total\{reason="invalid_frame"\} [1-9]/);
    expect((await controller.api.get('/healthz', OkResponse)).ok).toBe(true);
  });

  it('closes an oversized frame with 1009 (ws maxPayload), counts it, and stays up', async () => {
    const cred = await enrollRaw('raw-big');
    const ws = await openAgentSocket(cred);
    const code = closed(ws);
    ws.send('x'.repeat(2 * 1024 * 1024));
    expect(await code).toBe(1009);
    await waitFor('frame_too_large counted', async () =>
      /kctl_frames_rejected_total\{reason="frame_too_large"\} [1-9]/.test(
        await controller.api.text('/metrics'),
      ),
    );
    expect((await controller.api.get('/healthz', OkResponse)).ok).toBe(true);
  });

  it('refuses a hello with another protocol version, naming both versions', async () => {
    const cred = await enrollRaw('raw-old');
    const ws = await openAgentSocket(cred);
    const frame = nextFrame(ws);
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: 999,
        agentVersion: '9.9.9',
        facts: { ...facts, hostname: 'raw-old' },
      }),
    );
    const reply = await frame;
    expect(reply).toMatchObject({ type: 'error', error: { code: 'protocol_mismatch' } });
    expect((reply.error as { message: string }).message).toBe(
      `protocol version mismatch: agent speaks 999, controller speaks ${PROTOCOL_VERSION}`,
    );
  });

  it('revoking a host closes its live connection within 5 s and refuses it from then on', async () => {
    const token = await createToken();
    const agent = await startAgentProcess({ name: 'victim', controller, token });
    agents.push(agent);
    const online = async (): Promise<boolean> =>
      (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some(
        (h) => h.name === 'victim' && h.online,
      );
    await waitFor('victim online', online);
    // timed from the revoke itself, not from the start of a kctl process
    const t0 = Date.now();
    await controller.api.post('/v1/admin/hosts/victim/revoke', {}, OkResponse);
    await waitFor('victim offline', async () => !(await online()), 5000);
    expect(Date.now() - t0).toBeLessThan(5000);
    const again = await kctl(['hosts', 'revoke', 'nobody'], { env: env() });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('No enrolled host named "nobody"');
    await waitFor(
      'agent sees refusal',
      () => Promise.resolve(/host_revoked/.test(agent.proc.output())),
      5000,
    );
    const hosts = (await controller.api.get('/v1/admin/hosts', HostList)).hosts;
    expect(hosts.find((h) => h.name === 'victim')).toMatchObject({ state: 'revoked', online: false });
  });

  it('refuses a second live connection for the same host (S7)', async () => {
    const cred = await enrollRaw('raw-twin');
    const a = await openAgentSocket(cred);
    const welcome = nextFrame(a);
    a.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: '1',
        facts: { ...facts, hostname: 'raw-twin' },
      }),
    );
    expect(await welcome).toMatchObject({ type: 'welcome' });
    const b = await openAgentSocket(cred);
    const refused = nextFrame(b);
    const code = closed(b);
    b.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: '1',
        facts: { ...facts, hostname: 'raw-twin' },
      }),
    );
    expect(await refused).toMatchObject({ type: 'error', error: { code: 'duplicate_connection' } });
    expect(await code).toBe(4009);
    a.close();
  });

  it('an admin client for the wrong CA refuses the controller (pinned CA, no system trust store)', async () => {
    const other = await createCa({ commonName: 'other' });
    const cfg = parseYaml(await readFile(controller.clientConfig, 'utf8')) as {
      controller: string;
      certPem: string;
      keyPem: string;
    };
    const client = new ApiClient({ ...cfg, caPem: other.certPem });
    await expect(client.get('/v1/admin/hosts', HostList)).rejects.toMatchObject({ code: 'io_error' });
  });

  it('rejects token TTLs over 24h', async () => {
    await expect(
      controller.api.post('/v1/admin/tokens', { ttlMs: 25 * 3600_000 }, TokenCreateResponse),
    ).rejects.toMatchObject({
      code: 'invalid_args',
    });
    const r = await kctl(['token', 'create', '--ttl', 'forever'], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--ttl/);
  });
});
