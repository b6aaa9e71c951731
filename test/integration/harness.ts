import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { initDataDir } from '../../controller/data-dir.js';
import { loadClientConfig } from '../../controller/cli/client-config.js';
import { ApiClient } from '../../controller/cli/api-client.js';
import { HostList } from '../../proto/admin-api.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = ['--import', 'tsx'];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kctl-${prefix}-`));
}

export interface Proc {
  proc: ChildProcess;
  output(): string;
  /** resolves with the exit code */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const proc = spawn(process.execPath, [...TSX, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs kctl as a real process and collects its output. */
export async function kctl(
  args: string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [...TSX, 'controller/cli/kctl.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

export interface ControllerHandle {
  dataDir: string;
  port: number;
  url: string;
  caPin: string;
  clientConfig: string;
  api: ApiClient;
  proc: Proc;
  start(): Promise<void>;
}

/** A real controller process on loopback with its own data dir. */
export async function startControllerProcess(
  options: {
    heartbeatIntervalMs?: number;
    settings?: Record<string, unknown>;
    /** another replica's data dir: this one shares its CA (kctl controller init --ca-from) */
    caFrom?: string;
  } = {},
): Promise<ControllerHandle> {
  const dataDir = await tempDir('controller');
  const port = await freePort();
  const init = await initDataDir({
    dir: dataDir,
    listen: `127.0.0.1:${port}`,
    sans: [],
    ...(options.caFrom !== undefined ? { caFrom: options.caFrom } : {}),
  });
  {
    const settingsFile = join(dataDir, 'controller.json');
    const { readFile } = await import('node:fs/promises');
    const settings = JSON.parse(await readFile(settingsFile, 'utf8')) as Record<string, unknown>;
    if (options.heartbeatIntervalMs) settings.heartbeatIntervalMs = options.heartbeatIntervalMs;
    // no scheduled health unless a test asks: its probes would land in the stand-ins' call logs
    // that tests count, at a time that depends on how long the test has run
    settings.healthIntervalMs = 0;
    Object.assign(settings, options.settings);
    await writeFile(settingsFile, JSON.stringify(settings));
  }
  const api = new ApiClient(await loadClientConfig(init.clientConfig));
  const handle: ControllerHandle = {
    dataDir,
    port,
    url: init.advertiseUrl,
    caPin: init.caPin,
    clientConfig: init.clientConfig,
    api,
    proc: undefined as unknown as Proc,
    async start() {
      handle.proc = startProcess(['controller/cli/kctl.ts', 'controller', 'run', '--data-dir', dataDir]);
      // tsx start-up on a loaded two-core machine can take well over 15 s
      await waitFor(
        'controller /healthz',
        async () => {
          await api.get('/v1/admin/hosts', HostList, 1000);
          return true;
        },
        60_000,
      );
    },
  };
  await handle.start();
  return handle;
}

/** Fixture host root: enough of /proc, /sys and /etc for distinct, realistic facts. */
export async function makeHostRoot(name: string, extraFiles: Record<string, string> = {}): Promise<string> {
  const root = await tempDir(`root-${name}`);
  const files: Record<string, string> = {
    '/proc/sys/kernel/hostname': `${name}\n`,
    '/proc/sys/kernel/osrelease': '6.1.0-27-amd64\n',
    '/etc/machine-id': `${randomUUID().replaceAll('-', '')}\n`,
    '/sys/class/dmi/id/product_uuid': `${randomUUID()}\n`,
    '/etc/os-release': 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    '/proc/meminfo': 'MemTotal:        4026532 kB\nMemFree:         1000000 kB\n',
    '/proc/cpuinfo': 'processor\t: 0\n\nprocessor\t: 1\n\n',
    '/sys/devices/system/cpu/online': '0-1\n',
    '/proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n',
    // what the prepare phase reads and converges
    '/proc/sys/net/ipv4/ip_forward': '0\n',
    '/proc/sys/net/bridge/bridge-nf-call-iptables': '0\n',
    '/proc/sys/net/bridge/bridge-nf-call-ip6tables': '0\n',
    '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n',
    '/proc/modules': 'overlay 151552 0 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n',
    '/etc/hosts': '127.0.0.1 localhost\n',
    '/etc/fstab': 'UUID=0a1b / ext4 errors=remount-ro 0 1\n',
    '/sys/class/net/eth0/address': `52:54:00:${[1, 2, 3]
      .map(() =>
        Math.floor(Math.random() * 256)
          .toString(16)
          .padStart(2, '0'),
      )
      .join(':')}\n`,
  };
  for (const [path, content] of Object.entries({ ...files, ...extraFiles })) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

export interface AgentHandle {
  name: string;
  stateDir: string;
  hostRoot: string;
  configFile: string;
  proc: Proc;
  start(): void;
}

export async function startAgentProcess(options: {
  name: string;
  controller: ControllerHandle;
  token?: string;
  caPin?: string;
  heartbeatIntervalMs?: number;
  hostRoot?: string;
  extra?: Record<string, unknown>;
}): Promise<AgentHandle> {
  const stateDir = await tempDir(`agent-${options.name}`);
  const hostRoot = options.hostRoot ?? (await makeHostRoot(options.name));
  const configFile = join(stateDir, 'agent.yaml');
  await writeFile(
    configFile,
    toYaml({
      controller: options.controller.url,
      caPin: options.caPin ?? options.controller.caPin,
      ...(options.token ? { token: options.token } : {}),
      stateDir: join(stateDir, 'state'),
      hostRoot,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 500,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      logLevel: 'debug',
      ...options.extra,
    }),
  );
  const handle: AgentHandle = {
    name: options.name,
    stateDir,
    hostRoot,
    configFile,
    proc: undefined as unknown as Proc,
    start() {
      handle.proc = startProcess(['agent/main.ts', '--config', configFile]);
    },
  };
  handle.start();
  return handle;
}

export async function cleanup(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { recursive: true, force: true })));
}

/** A TCP proxy between agents and the controller, so a test can cut connections (a partition). */
export async function startProxy(
  targetPort: number,
): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const { createServer: createTcpServer, connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    }),
  );
  return {
    port,
    cut() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw JSON POST over TLS trusting only `caPem`, without a client certificate (enrollment); no retries, any status. */
export function postJson(
  url: string,
  caPem: string,
  body: unknown,
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'POST',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: [caPem],
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * How many agent sessions this controller itself holds (its kctl_agents_online gauge). With
 * replicas, `kctl hosts` shows a host online wherever its session is; this is the one replica's share.
 */
export async function localSessions(c: ControllerHandle): Promise<number> {
  const cfg = await loadClientConfig(c.clientConfig);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${c.url}/metrics`,
      { ca: cfg.caPem, cert: cfg.certPem, key: cfg.keyPem, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      },
    );
    req.on('timeout', () => req.destroy(new Error('metrics: timeout')));
    req.on('error', reject);
    req.end();
  });
  const m = /^kctl_agents_online (\d+)$/m.exec(text);
  if (!m) throw new Error(`no kctl_agents_online in ${c.url}/metrics`);
  return Number(m[1]);
}
