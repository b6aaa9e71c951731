import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiServerSettings, APISERVER_PID_FILE, STANDIN_HEADER } from './apiserver.js';
import { standinLab, type StandinHost, type StandinLab } from './standin-fixture.js';

/**
 * The stand-in API server a control plane's stand-in kubelet starts: TLS with the host's
 * apiserver certificate, /readyz and /version answered, (re)started on each kubelet start on a
 * booted host, gone when the manifest goes.
 */

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

interface Answer {
  status: number;
  body: string;
  standin: string | undefined;
}

function get(port: number, path: string, ca: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, ca, servername: 'kube-apiserver.standin.test', timeout: 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            standin: res.headers[STANDIN_HEADER] as string | undefined,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, f: () => Promise<T>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const manifest = (port: number, version: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=127.0.0.1
    - --bind-address=127.0.0.1
    - --secure-port=${port}
    image: registry.k8s.io/kube-apiserver:${version}
    name: kube-apiserver
`;

describe('the stand-in API server', () => {
  let lab: StandinLab;
  let cp: StandinHost;
  let port: number;
  let cert: string;
  const pid = async (): Promise<number> => Number((await cp.read(APISERVER_PID_FILE)).trim());
  const alive = (p: number): boolean => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    lab = await standinLab();
    port = await freePort();
    cp = await lab.host('cp-1', {
      version: 'v1.31.2',
      files: {
        // a booted host: only there does the kubelet run as a service (and its static pods)
        '/run/systemd/system/.booted': '',
        '/var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\n',
        '/etc/kubernetes/manifests/kube-apiserver.yaml': manifest(port, 'v1.31.2'),
      },
    });
    const pki = join(cp.root, 'etc/kubernetes/pki');
    execFileSync('mkdir', ['-p', pki]);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kube-apiserver',
        '-addext',
        'subjectAltName=DNS:kube-apiserver.standin.test',
        '-keyout',
        join(pki, 'apiserver.key'),
        '-out',
        join(pki, 'apiserver.crt'),
      ],
      { stdio: 'ignore' },
    );
    cert = await readFile(join(pki, 'apiserver.crt'), 'utf8');
  }, 60_000);

  afterAll(async () => {
    const p = await pid().catch(() => 0);
    if (p > 1 && alive(p)) process.kill(p, 'SIGKILL');
    await lab.cleanup();
  });

  it('reads port, bind address and version from the manifest kubeadm writes', () => {
    expect(apiServerSettings(manifest(7443, 'v1.32.0'))).toEqual({
      bindAddress: '127.0.0.1',
      port: 7443,
      version: 'v1.32.0',
    });
    expect(apiServerSettings('spec: {}\n')).toEqual({
      bindAddress: '0.0.0.0',
      port: 6443,
      version: undefined,
    });
  });

  it('starts with the kubelet and answers /readyz and /version over TLS with the host certificate', async () => {
    const r = await cp.run('kubelet', ['--standin-start']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('stand-in kube-apiserver');
    const ready = await until('readyz', () => get(port, '/readyz', cert));
    expect(ready).toEqual({ status: 200, body: 'ok', standin: 'kube-apiserver' });
    expect((await get(port, '/healthz', cert)).status).toBe(200);
    const version = JSON.parse((await get(port, '/version', cert)).body) as Record<string, string>;
    expect(version).toMatchObject({ gitVersion: 'v1.31.2', minor: '31', gitCommit: 'kctl stand-in' });
    expect((await get(port, '/api/v1/nodes', cert)).status).toBe(404);
  });

  it('reports the version of an upgraded manifest and restarts with the kubelet', async () => {
    const first = await pid();
    await cp.write('/etc/kubernetes/manifests/kube-apiserver.yaml', manifest(port, 'v1.32.4'));
    const version = JSON.parse((await get(port, '/version', cert)).body) as Record<string, string>;
    expect(version.gitVersion).toBe('v1.32.4');
    const r = await cp.run('kubelet', ['--standin-start']);
    expect(r.exitCode, r.stderr).toBe(0);
    const second = await pid();
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect((await until('readyz after restart', () => get(port, '/readyz', cert))).status).toBe(200);
  });

  it('stops when the manifest goes, as the kubelet stops a removed static pod', async () => {
    const p = await pid();
    await rm(join(cp.root, 'etc/kubernetes/manifests/kube-apiserver.yaml'));
    await until('exit', () => (alive(p) ? Promise.reject(new Error('still running')) : Promise.resolve()));
    await expect(get(port, '/readyz', cert)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('is not started on a host that is not booted with systemd', async () => {
    const fake = await lab.host('cp-2', {
      files: {
        '/var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\n',
        '/etc/kubernetes/manifests/kube-apiserver.yaml': manifest(port, 'v1.31.2'),
      },
    });
    const r = await fake.run('kubelet', ['--standin-start']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('it runs nothing');
    await expect(fake.read(APISERVER_PID_FILE)).rejects.toThrow(/ENOENT/);
  });
});
