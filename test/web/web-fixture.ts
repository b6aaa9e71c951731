import { request as httpsRequest } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { initDataDir, loadDataDir } from '../../controller/data-dir.js';
import { startController, type RunningController } from '../../controller/main.js';
import { loadClientConfig } from '../../controller/cli/client-config.js';
import { startWebServer, type RunningWebServer } from '../../controller/web/server.js';
import { createWebToken } from '../../controller/web/web-tokens.js';
import { generateToken, hashTokenSecret } from '../../controller/tokens.js';
import type { HostFacts } from '../../proto/facts.js';
import { cleanup, tempDir, type ControllerHandle, type Proc } from '../integration/harness.js';

/** A controller (in this process, real TLS and SQLite) with its fleet page on a second port. */
export interface WebFixture {
  dataDir: string;
  controller: RunningController;
  web: RunningWebServer;
  caPem: string;
  serverCertPem: string;
  admin: { certPem: string; keyPem: string };
  /** what test/integration/harness.ts's startAgentProcess needs to enroll an agent here */
  agentTarget: ControllerHandle;
  /** stops the web listener and starts a new one on the same port, keeping the sessions */
  restartWeb(): Promise<void>;
  /** a bootstrap token for `uses` agents */
  bootstrapToken(uses: number, labels?: Record<string, string>): string;
  close(): Promise<void>;
}

export function quietLogger(): Logger {
  return pino({ level: process.env.KCTL_TEST_LOG ?? 'silent' });
}

export async function startWebFixture(
  options: { heartbeatIntervalMs?: number; liveIntervalMs?: number } = {},
): Promise<WebFixture> {
  const dataDir = await tempDir('web');
  const init = await initDataDir({ dir: dataDir, listen: '127.0.0.1:0', sans: [] });
  const settingsFile = join(dataDir, 'controller.json');
  const settings = JSON.parse(await readFile(settingsFile, 'utf8')) as Record<string, unknown>;
  settings.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 500;
  await writeFile(settingsFile, JSON.stringify(settings));
  const files = await loadDataDir(dataDir);
  const log = quietLogger();
  const controller = await startController({ dataDir, listen: '127.0.0.1:0', webListen: false, log });
  const startWeb = (listen: string, sessions?: RunningWebServer['sessions']): Promise<RunningWebServer> =>
    startWebServer({
      store: controller.store,
      registry: controller.registry,
      log,
      tls: { certPem: files.server.certPem, keyPem: files.server.keyPem, caPem: files.ca.certPem },
      listen,
      sans: files.settings.sans,
      heartbeatIntervalMs: files.settings.heartbeatIntervalMs,
      ...(options.liveIntervalMs === undefined ? {} : { liveIntervalMs: options.liveIntervalMs }),
      ...(sessions ? { sessions } : {}),
    });
  const web = await startWeb('127.0.0.1:0');
  const client = await loadClientConfig(init.clientConfig);
  const url = `https://127.0.0.1:${controller.port}`;
  const notAProcess: Proc = {
    proc: undefined as unknown as Proc['proc'],
    output: () => '',
    exited: new Promise(() => undefined),
    stop: async () => {
      await controller.close();
      return 0;
    },
  };
  const fixture: WebFixture = {
    dataDir,
    controller,
    web,
    caPem: files.ca.certPem,
    serverCertPem: files.server.certPem,
    admin: { certPem: client.certPem, keyPem: client.keyPem },
    agentTarget: {
      dataDir,
      port: controller.port,
      url,
      caPin: init.caPin,
      clientConfig: init.clientConfig,
      api: undefined as unknown as ControllerHandle['api'],
      proc: notAProcess,
      start: () => Promise.resolve(),
    },
    async restartWeb() {
      const { port, sessions } = fixture.web;
      await fixture.web.close();
      fixture.web = await startWeb(`127.0.0.1:${port}`, sessions);
    },
    bootstrapToken(uses, labels = {}) {
      const t = generateToken();
      const now = Date.now();
      // SQLite writes it before the call returns (no transaction holds the store here)
      void controller.store.createToken({
        id: t.id,
        secretHash: hashTokenSecret(t.secret),
        createdAt: now,
        expiresAt: now + 600_000,
        usesTotal: uses,
        usesLeft: uses,
        labels,
        description: 'fleet page test',
      });
      return t.token;
    },
    async close() {
      await fixture.web.close();
      await controller.close();
      await cleanup([dataDir]);
    },
  };
  return fixture;
}

export async function webToken(fixture: WebFixture, readOnly = false): Promise<string> {
  return (await createWebToken(fixture.controller.store, { readOnly, description: 'test' })).token;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request that verifies the controller's certificate against its CA. */
export function httpsCall(
  fixture: WebFixture,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    clientCert?: { certPem: string; keyPem: string };
  } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: fixture.web.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ca: fixture.caPem,
        servername: 'localhost',
        ...(options.clientCert ? { cert: options.clientCert.certPem, key: options.clientCert.keyPem } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Logs in with a web token and returns the Cookie header value. */
export async function login(fixture: WebFixture, token: string): Promise<string> {
  const r = await httpsCall(fixture, '/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  if (r.status !== 303) throw new Error(`login failed: ${r.status} ${r.body}`);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? '';
  return setCookie.split(';')[0] ?? '';
}

const KERNELS = [
  '6.1.0-27-amd64',
  '6.1.0-28-amd64',
  '6.8.0-45-generic',
  '5.15.0-119-generic',
  '6.12.9-amd64',
];
const OSES = [
  'Debian GNU/Linux 12 (bookworm)',
  'Ubuntu 24.04.1 LTS',
  'Ubuntu 22.04.4 LTS',
  'Rocky Linux 9.4 (Blue Onyx)',
];

/** Simulated hosts straight into the store: enrolled, seen once, with varied facts. */
export async function seedHosts(
  controller: RunningController,
  count: number,
  now = Date.now(),
): Promise<string[]> {
  const names: string[] = [];
  await controller.store.transaction(async (tx) => {
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      const name = `sim-${String(i + 1).padStart(4, '0')}`;
      names.push(name);
      await tx.createHost({
        id,
        name,
        labels: { role: i % 50 === 0 ? 'control-plane' : 'worker' },
        state: i % 97 === 96 ? 'revoked' : 'active',
        certSerial: `${i}`,
        certNotAfter: now + 86_400_000,
        enrolledAt: now - 86_400_000,
      });
      const facts: HostFacts = {
        hostname: name,
        machineId: randomUUID().replaceAll('-', ''),
        productUuid: randomUUID(),
        macs: [
          `52:54:00:${[i >> 16, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
        ],
        ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
        os: { id: 'debian', versionId: '12', prettyName: OSES[i % OSES.length] ?? '' },
        kernel: KERNELS[(i * 7) % KERNELS.length] ?? '',
        arch: 'x86_64',
        cpus: 4,
        memoryBytes: 8 * 1024 ** 3,
        cgroupVersion: 2,
        kubeletVersion: `v1.${30 + (i % 4)}.${i % 9}`,
      };
      await tx.recordHostSeen(id, {
        at: now - (i % 600) * 1000,
        ip: facts.ips[0] ?? null,
        agentVersion: `0.1.${i % 3}`,
        facts,
      });
    }
  });
  return names;
}
