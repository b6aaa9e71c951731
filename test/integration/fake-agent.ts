import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import { createLogger } from '../../proto/logging.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { EnrollResponse, RenewResponse } from '../../proto/admin-api.js';
import { createAgentKeyAndCsr } from '../../agent/identity.js';
import { initDataDir, loadDataDir, type DataDirFiles } from '../../controller/data-dir.js';
import { startController, type RunningController } from '../../controller/main.js';
import { generateToken, hashTokenSecret } from '../../controller/tokens.js';
import { cleanup, postJson, tempDir } from './harness.js';

/**
 * An in-process controller (real TLS, real SQLite, its log captured) and a fake agent that speaks
 * the wire protocol over mutual TLS, for tests that need to drive the agent channel frame by frame.
 */
export interface InProcessController {
  controller: RunningController;
  files: DataDirFiles;
  url: string;
  caPem: string;
  /** everything the controller logged so far (pino JSON lines) */
  logText(): string;
  close(): Promise<void>;
}

export async function startInProcessController(
  options: { heartbeatIntervalMs?: number; web?: boolean } = {},
): Promise<InProcessController> {
  const dir = await tempDir('inproc-controller');
  await initDataDir({ dir, listen: '127.0.0.1:0', sans: [] });
  if (options.heartbeatIntervalMs !== undefined) {
    const file = join(dir, 'controller.json');
    const settings = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    settings.heartbeatIntervalMs = options.heartbeatIntervalMs;
    await writeFile(file, JSON.stringify(settings));
  }
  let log = '';
  const destination = new PassThrough();
  destination.on('data', (d: Buffer) => (log += d.toString()));
  const controller = await startController({
    dataDir: dir,
    listen: '127.0.0.1:0',
    webListen: options.web ? '127.0.0.1:0' : false,
    log: createLogger({ name: 'test', level: 'debug', destination }),
  });
  const files = await loadDataDir(dir);
  return {
    controller,
    files,
    url: `https://127.0.0.1:${controller.port}`,
    caPem: files.ca.certPem,
    logText: () => log,
    async close() {
      await controller.close();
      await cleanup([dir]);
    },
  };
}

export const fakeFacts = (hostname: string): Record<string, unknown> => ({
  hostname,
  machineId: 'c'.repeat(32),
  productUuid: `uuid-${hostname}`,
  macs: [],
  ips: [],
  os: { id: 'debian', versionId: '12', prettyName: 'Debian' },
  kernel: '6.1.0',
  arch: 'amd64',
  cpus: 2,
  memoryBytes: 1024,
  cgroupVersion: 2,
});

export const helloFrame = (hostname: string): string =>
  JSON.stringify({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    agentVersion: 'fake',
    facts: fakeFacts(hostname),
  });

export interface AgentCredential {
  hostId: string;
  hostName: string;
  certPem: string;
  keyPem: string;
}

/** Enrolls a fake host with a fresh one-use token written straight into the controller's store. */
export async function enrollFakeAgent(c: InProcessController, hostname: string): Promise<AgentCredential> {
  const t = generateToken();
  const now = Date.now();
  await c.controller.store.createToken({
    id: t.id,
    secretHash: hashTokenSecret(t.secret),
    createdAt: now,
    expiresAt: now + 600_000,
    usesTotal: 1,
    usesLeft: 1,
    labels: {},
    description: 'test',
  });
  const { keyPem, csrPem } = await createAgentKeyAndCsr();
  const res = await postJson(`${c.url}/v1/enroll`, c.caPem, {
    token: t.token,
    csrPem,
    facts: fakeFacts(hostname),
    labels: {},
    protocolVersion: PROTOCOL_VERSION,
  });
  if (res.status !== 200) throw new Error(`enroll ${hostname}: HTTP ${res.status} ${res.text}`);
  const body = EnrollResponse.parse(JSON.parse(res.text));
  return { hostId: body.hostId, hostName: body.hostName, certPem: body.certPem, keyPem };
}

/** Renews over mutual TLS with the current credential, as agent/rotate.ts does. */
export async function renewFakeAgent(
  c: InProcessController,
  cred: AgentCredential,
): Promise<AgentCredential> {
  const { keyPem, csrPem } = await createAgentKeyAndCsr();
  const u = new URL(`${c.url}/v1/agent/renew`);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        method: 'POST',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: [c.caPem],
        cert: cred.certPem,
        key: cred.keyPem,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let out = '';
        res.on('data', (d: Buffer) => (out += d.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(out) : reject(new Error(`renew: HTTP ${res.statusCode} ${out}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ csrPem }));
  });
  return { ...cred, certPem: RenewResponse.parse(JSON.parse(text)).certPem, keyPem };
}

/** One agent connection seen from the agent's side: every frame received, and how it closed. */
export interface FakeSession {
  ws: WebSocket;
  frames: Array<{ type: string } & Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string; at: number }>;
  isOpen(): boolean;
  /** resolves with the first received frame of that type (already received or later) */
  next(type: string, timeoutMs?: number): Promise<{ type: string } & Record<string, unknown>>;
}

/** Opens the agent channel with a credential; rejects with "HTTP <status>" when the upgrade is refused. */
export function openAgentChannel(c: InProcessController, cred: AgentCredential): Promise<FakeSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${c.url.replace('https', 'wss')}/v1/agent`, {
      ca: [c.caPem],
      cert: cred.certPem,
      key: cred.keyPem,
      perMessageDeflate: false,
    });
    const frames: FakeSession['frames'] = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (d: Buffer) => {
      frames.push(JSON.parse(d.toString()) as FakeSession['frames'][number]);
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<{ code: number; reason: string; at: number }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })),
    );
    const session: FakeSession = {
      ws,
      frames,
      closed,
      isOpen: () => ws.readyState === WebSocket.OPEN,
      next: (type, timeoutMs = 10_000) =>
        new Promise((res, rej) => {
          const timer = setTimeout(
            () => rej(new Error(`no ${type} frame within ${timeoutMs} ms`)),
            timeoutMs,
          );
          const look = (): void => {
            const f = frames.find((x) => x.type === type);
            if (f) {
              clearTimeout(timer);
              res(f);
            } else waiters.push(look);
          };
          look();
        }),
    };
    ws.once('open', () => resolve(session));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.on('error', (err) => reject(err));
  });
}

/** Opens the channel and completes hello/welcome. */
export async function connectFakeAgent(c: InProcessController, cred: AgentCredential): Promise<FakeSession> {
  const s = await openAgentChannel(c, cred);
  s.ws.send(helloFrame(cred.hostName));
  const first = await Promise.race([
    s.next('welcome'),
    s.next('error').then((f) => {
      throw new Error(`refused: ${JSON.stringify(f)}`);
    }),
  ]);
  if (first.type !== 'welcome') throw new Error(`expected welcome, got ${first.type}`);
  return s;
}
