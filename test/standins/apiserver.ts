import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { dirname } from 'node:path';
import { STANDIN_MARK, StandinExit, type StandinEnv } from './standin-env.js';

/**
 * The kube-apiserver STAND-IN: a small HTTPS server a control plane's stand-in kubelet starts when
 * the kube-apiserver static pod manifest exists, so that HAProxy, keepalived and kube-vip have
 * something real to health-check. It serves the cluster's API server certificate and answers
 * /healthz, /livez, /readyz ("ok") and /version (the manifest's image tag); everything else is a
 * 404 Status. It serves no API.
 */

export const APISERVER_MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
export const APISERVER_CERT = '/etc/kubernetes/pki/apiserver.crt';
export const APISERVER_KEY = '/etc/kubernetes/pki/apiserver.key';
/** where the running stand-in's PID is kept, under the host root */
export const APISERVER_PID_FILE = '/run/kctl-standin/kube-apiserver.pid';
export const APISERVER_LOG = '/var/log/kctl-standin/kube-apiserver.log';
/** every response carries it, so nobody takes the stand-in for a real API server */
export const STANDIN_HEADER = 'x-kctl-standin';

export interface ApiServerSettings {
  /** --bind-address, else all addresses as the real API server */
  bindAddress: string;
  /** --secure-port, else 6443 */
  port: number;
  /** the kube-apiserver image's tag, e.g. v1.31.2 */
  version: string | undefined;
}

/** What the stand-in takes from the static pod manifest (kubeadm writes one flag per list item). */
export function apiServerSettings(manifest: string): ApiServerSettings {
  const flag = (name: string): string | undefined =>
    new RegExp(`^\\s*-\\s*["']?--${name}=([^"'\\s]+)`, 'm').exec(manifest)?.[1];
  const port = Number(flag('secure-port') ?? '6443');
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new StandinExit(
      `kube-apiserver (${STANDIN_MARK}): --secure-port in ${APISERVER_MANIFEST} is not a port`,
    );
  return {
    bindAddress: flag('bind-address') ?? '0.0.0.0',
    port,
    version: /image:\s*\S*kube-apiserver:(v[0-9][^\s"']*)/.exec(manifest)?.[1],
  };
}

function versionInfo(raw: string): Record<string, string> {
  const [major = '1', minor = '0'] = raw.replace(/^v/, '').split('.');
  return {
    major,
    minor,
    gitVersion: raw,
    gitCommit: STANDIN_MARK,
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `(${STANDIN_MARK} on node ${process.version})`,
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export interface StandinApiServerOptions {
  cert: string | Buffer;
  key: string | Buffer;
  bindAddress: string;
  port: number;
  /** asked on every /version, so an upgraded manifest shows without a restart, as a new pod would */
  version: () => string;
}

/** Starts listening; resolves with the server once it accepts connections. */
export function serveStandinApiServer(options: StandinApiServerOptions): Promise<Server> {
  const server = createServer({ cert: options.cert, key: options.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    res.setHeader(STANDIN_HEADER, 'kube-apiserver');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
    } else if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
    } else if (path === '/version') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(versionInfo(options.version())));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: `the ${STANDIN_MARK} kube-apiserver serves only /healthz, /livez, /readyz and /version`,
          reason: 'NotFound',
          code: 404,
        }),
      );
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.bindAddress, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function readOrExit(env: StandinEnv, path: string): string {
  try {
    return readFileSync(env.hostPath(path), 'utf8');
  } catch {
    throw new StandinExit(`kube-apiserver (${STANDIN_MARK}): cannot read ${path} under ${env.hostRoot}`);
  }
}

/**
 * `kubelet --standin-apiserver`: runs this host's stand-in API server in the foreground until
 * SIGTERM, or until the manifest goes (kubeadm reset), as the kubelet stops a removed static pod.
 */
export async function runStandinApiServer(env: StandinEnv): Promise<void> {
  const settings = apiServerSettings(readOrExit(env, APISERVER_MANIFEST));
  const fallback = env.version().raw;
  const server = await serveStandinApiServer({
    cert: readOrExit(env, APISERVER_CERT),
    key: readOrExit(env, APISERVER_KEY),
    bindAddress: settings.bindAddress,
    port: settings.port,
    version: () => {
      try {
        return apiServerSettings(readFileSync(env.hostPath(APISERVER_MANIFEST), 'utf8')).version ?? fallback;
      } catch {
        return fallback;
      }
    },
  }).catch((err: unknown) => {
    throw new StandinExit(
      `kube-apiserver (${STANDIN_MARK}): cannot listen on ${settings.bindAddress}:${settings.port}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  env.err(`kube-apiserver (${STANDIN_MARK}) listening on ${settings.bindAddress}:${settings.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(watch);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    const watch = setInterval(() => {
      if (!existsSync(env.hostPath(APISERVER_MANIFEST))) stop();
    }, 1000);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the stand-in API server this host root's kubelet started, if one runs. */
export function stopStandinApiServer(env: StandinEnv): void {
  const pidFile = env.hostPath(APISERVER_PID_FILE);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 1 && alive(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone in between
    }
    // the next server binds the same port: wait (briefly) until this one is gone
    const deadline = Date.now() + 3000;
    while (alive(pid) && Date.now() < deadline)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
}

/**
 * Each start of the kubelet (re)starts the control plane's stand-in API server: a detached
 * `kubelet --standin-apiserver` process of this same binary, its PID under the host root. Returns
 * false when this host has no kube-apiserver manifest (a worker, or before kubeadm init/join), and
 * on hosts not booted with systemd (fake host roots without /run/systemd/system): there the
 * kubelet never runs as a service, and many fake hosts on one machine would share one port.
 */
export function startStandinApiServer(env: StandinEnv): boolean {
  stopStandinApiServer(env);
  if (!existsSync(env.hostPath('/run/systemd/system'))) return false;
  if (!existsSync(env.hostPath(APISERVER_MANIFEST))) return false;
  const script = process.argv[1];
  if (script === undefined)
    throw new StandinExit(`kubelet (${STANDIN_MARK}): cannot tell its own program file`);
  const log = env.hostPath(APISERVER_LOG);
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, [script, '--standin-apiserver'], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: env.env,
    });
    child.unref();
    if (child.pid === undefined)
      throw new StandinExit(`kubelet (${STANDIN_MARK}): could not start the stand-in kube-apiserver`);
    const pidFile = env.hostPath(APISERVER_PID_FILE);
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${child.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}
