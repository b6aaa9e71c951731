import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { haproxyKeepalivedFiles } from '../../controller/render/haproxy-keepalived-inputs.js';
import { HAPROXY_CHECK_SCRIPT_PATH } from '../../controller/render/keepalived.js';
import { buildStandins } from '../standins/build.js';

/**
 * ha.mode haproxy-keepalived with the REAL haproxy and keepalived (Debian's packages), run with the
 * configs kctl renders, on three "control planes": network namespaces on a bridge of their own,
 * each running a stand-in API server (the stand-in kubelet's --standin-apiserver, TLS on 6443),
 * HAProxy on 8443 and keepalived holding the VIP. A fourth namespace is the client. Everything
 * is layer 2 on a bridge with no address, so nothing leaves the namespaces.
 *
 * Shown: /readyz answers through the VIP; the host holding the VIP fails (keepalived killed with
 * SIGKILL, its link down) and the VIP moves (failover time measured and printed); a stopped API
 * server is taken out of HAProxy's rotation.
 */

const TAG = String(process.pid % 100_000);
const NET = `198.19.${100 + (process.pid % 100)}`;
const VIP = `${NET}.100`;
const PORT = 8443;
const BRIDGE = `khk${TAG}`;
const CLIENT = { ns: `kctl-hk-${TAG}-c`, veth: `khk${TAG}c`, address: `${NET}.2` };
const HOSTS = [1, 2, 3].map((i) => ({
  name: `cp-${i}`,
  ns: `kctl-hk-${TAG}-${i}`,
  veth: `khk${TAG}h${i}`,
  address: `${NET}.${10 + i}`,
}));
type Host = (typeof HOSTS)[number];
/** The brief: the VIP must move within this. */
const FAILOVER_LIMIT_MS = 10_000;

const missing = async (program: string): Promise<boolean> =>
  (await execa('sh', ['-c', `command -v ${program}`], { reject: false })).exitCode !== 0;

async function ip(args: string[]): Promise<void> {
  await execa('ip', args);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('HAProxy and keepalived on three control planes (real daemons, stand-in API servers)', () => {
  let dir = '';
  const processes = new Map<string, ChildProcess>();
  const output = new Map<string, string>();
  const createdNs: string[] = [];
  let bridgeCreated = false;

  /** A daemon in its own process group (keepalived forks a VRRP child), output kept for the asserts. */
  function start(key: string, ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): void {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    output.set(key, '');
    const keep = (b: Buffer): void => void output.set(key, (output.get(key) ?? '') + b.toString());
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    processes.set(key, child);
  }

  function kill(key: string, signal: NodeJS.Signals): void {
    const child = processes.get(key);
    if (child?.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Signals the daemon's process group and waits until it has exited (its PID files with it). */
  async function stop(key: string, signal: NodeJS.Signals): Promise<void> {
    const child = processes.get(key);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    kill(key, signal);
    await exited;
  }

  /** keepalived with the rendered file, VRRP only, its PID files in the host's directory. */
  function startKeepalived(h: Host): void {
    const root = join(dir, h.name);
    start(`keepalived-${h.name}`, h.ns, [
      'keepalived',
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--vrrp',
      '-f',
      join(root, 'keepalived.conf'),
      '-p',
      join(root, 'keepalived.pid'),
      '-r',
      join(root, 'vrrp.pid'),
      '-c',
      join(root, 'checkers.pid'),
    ]);
  }

  async function readyz(): Promise<boolean> {
    const r = await execa(
      'ip',
      ['netns', 'exec', CLIENT.ns, 'curl', '-sk', '--max-time', '1', `https://${VIP}:${PORT}/readyz`],
      { reject: false },
    );
    return r.exitCode === 0 && r.stdout === 'ok';
  }

  /** The host whose up link has the VIP (a failed host's link is down, with the VIP left on it). */
  async function vipHolder(): Promise<Host | undefined> {
    for (const h of HOSTS) {
      const r = await execa('ip', ['-n', h.ns, '-o', 'addr', 'show', 'dev', 'eth0', 'up'], { reject: false });
      if (r.stdout.includes(`${VIP}/32`)) return h;
    }
    return undefined;
  }

  /** The daemons' last output, for a failure message. */
  const daemonOutput = (): string => [...output].map(([k, v]) => `--- ${k}\n${v.slice(-1500)}`).join('\n');

  async function until(what: string, f: () => Promise<boolean>, ms: number): Promise<number> {
    const started = Date.now();
    while (!(await f())) {
      if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms\n${daemonOutput()}`);
      await sleep(100);
    }
    return Date.now() - started;
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this lab test needs root (network namespaces)');
    for (const [program, pkg] of [
      ['haproxy', 'haproxy'],
      ['keepalived', 'keepalived'],
      ['curl', 'curl'],
      ['openssl', 'openssl'],
    ] as const) {
      if (await missing(program))
        throw new Error(
          `${program} is missing: install the Debian package "${pkg}" (apt-get install -y ${pkg})`,
        );
    }
    dir = await mkdtemp(join(tmpdir(), 'kctl-hk-'));
    await chmod(dir, 0o755);
    const bin = join(dir, 'bin');
    await buildStandins(bin, { version: 'v1.31.2' });

    // the network: one bridge, one namespace per host and for the client
    await ip(['link', 'add', BRIDGE, 'type', 'bridge']);
    bridgeCreated = true;
    await ip(['link', 'set', BRIDGE, 'up']);
    for (const n of [CLIENT, ...HOSTS]) {
      await ip(['netns', 'add', n.ns]);
      createdNs.push(n.ns);
      await ip(['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns]);
      await ip(['link', 'set', n.veth, 'master', BRIDGE, 'up']);
      await ip(['-n', n.ns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      await ip(['-n', n.ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', n.ns, 'link', 'set', 'lo', 'up']);
    }

    // one API server certificate for all three, as kubeadm's would name the VIP and each address
    const pki = join(dir, 'pki');
    await mkdir(pki);
    await execa('openssl', [
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
      `subjectAltName=IP:${VIP},${HOSTS.map((h) => `IP:${h.address}`).join(',')}`,
      '-keyout',
      join(pki, 'apiserver.key'),
      '-out',
      join(pki, 'apiserver.crt'),
    ]);

    const spec = ClusterSpec.parse({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'lab-lb',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: VIP, port: PORT },
      ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: VIP, virtualRouterId: 51 },
      hosts: HOSTS.map((h) => ({ name: h.name, role: 'control-plane', address: h.address })),
    });
    for (const h of HOSTS) {
      const root = join(dir, h.name);
      const files = haproxyKeepalivedFiles(spec, { name: h.name, role: 'control-plane' }, HOSTS);
      const script = join(root, 'check-haproxy.sh');
      const paths: Record<string, string> = {};
      for (const f of files) {
        // the rendered files, as they are, except where the track script lives (not /etc here)
        const base = f.path.split('/').pop() ?? f.path;
        const content = f.content.replace(HAPROXY_CHECK_SCRIPT_PATH, script);
        await mkdir(root, { recursive: true, mode: 0o755 });
        await writeFile(join(root, base), content, { mode: f.mode });
        paths[base] = join(root, base);
      }
      // the stand-in API server's host root: manifest and serving certificate
      await mkdir(join(root, 'etc/kubernetes/manifests'), { recursive: true });
      await mkdir(join(root, 'etc/kubernetes/pki'), { recursive: true });
      await writeFile(
        join(root, 'etc/kubernetes/manifests/kube-apiserver.yaml'),
        `spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=${h.address}\n    - --secure-port=6443\n    image: registry.k8s.io/kube-apiserver:v1.31.2\n`,
      );
      for (const f of ['apiserver.crt', 'apiserver.key'])
        await execa('cp', [join(pki, f), join(root, 'etc/kubernetes/pki', f)]);

      start(`apiserver-${h.name}`, h.ns, [process.execPath, join(bin, 'kubelet'), '--standin-apiserver'], {
        KCTL_HOST_ROOT: root,
      });
      start(`haproxy-${h.name}`, h.ns, ['haproxy', '-db', '-f', paths['haproxy.cfg'] ?? '']);
      startKeepalived(h);
    }
  }, 60_000);

  afterAll(async () => {
    for (const key of processes.keys()) kill(key, 'SIGKILL');
    await sleep(200);
    for (const ns of createdNs) await execa('ip', ['netns', 'delete', ns], { reject: false });
    for (const n of [CLIENT, ...HOSTS])
      await execa('ip', ['link', 'delete', n.veth], { reject: false }).catch(() => undefined);
    if (bridgeCreated) await execa('ip', ['link', 'delete', BRIDGE], { reject: false });
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers the stand-in API server /readyz through HAProxy on the VIP; the first control plane holds it', async () => {
    const took = await until('/readyz through the VIP', readyz, 20_000);
    console.log(`VIP ${VIP}:${PORT} answered /readyz ${took} ms after the daemons started`);
    // the highest priority (first in host order) ends up holding it, whoever won the first election
    await until('cp-1 holds the VIP', async () => (await vipHolder())?.name === 'cp-1', 10_000);
    expect(await readyz()).toBe(true);
  }, 30_000);

  it('moves the VIP at once when keepalived stops cleanly, and back to the first control plane when it returns', async () => {
    const started = Date.now();
    await stop('keepalived-cp-1', 'SIGTERM');
    await until('cp-2 holds the VIP', async () => (await vipHolder())?.name === 'cp-2', FAILOVER_LIMIT_MS);
    await until('/readyz through the VIP after a clean stop', readyz, FAILOVER_LIMIT_MS);
    const stopMs = Date.now() - started;
    const cp1 = HOSTS[0];
    if (cp1 === undefined) return;
    const restarted = Date.now();
    startKeepalived(cp1);
    await until(
      'cp-1 takes the VIP back',
      async () => (await vipHolder())?.name === 'cp-1',
      FAILOVER_LIMIT_MS,
    );
    await until('/readyz through the VIP after the return', readyz, FAILOVER_LIMIT_MS);
    console.log(
      `clean stop: keepalived on cp-1 stopped (SIGTERM), /readyz through the VIP on cp-2 after ${stopMs} ms; cp-1 took it back ${Date.now() - restarted} ms after its keepalived started`,
    );
    expect(stopMs).toBeLessThan(FAILOVER_LIMIT_MS);
  }, 40_000);

  it(`moves the VIP when the host holding it fails, within ${FAILOVER_LIMIT_MS / 1000} s`, async () => {
    const holder = await vipHolder();
    expect(holder).toBeDefined();
    if (holder === undefined) return;
    const started = Date.now();
    // the host dies: its keepalived without a goodbye advert, and its link
    kill(`keepalived-${holder.name}`, 'SIGKILL');
    await ip(['-n', holder.ns, 'link', 'set', 'eth0', 'down']);
    await until('/readyz through the VIP after failover', readyz, FAILOVER_LIMIT_MS);
    const failoverMs = Date.now() - started;
    const next = await vipHolder();
    console.log(
      `failover: VIP ${VIP} moved from ${holder.name} to ${next?.name ?? '?'}; /readyz answered again after ${failoverMs} ms`,
    );
    expect(next?.name).toBe('cp-2');
    expect(failoverMs).toBeLessThan(FAILOVER_LIMIT_MS);
  }, 30_000);

  it('takes a control plane whose API server is stopped out of rotation', async () => {
    const holder = await vipHolder();
    expect(holder?.name).toBe('cp-2');
    if (holder === undefined) return;
    const haproxyLog = `haproxy-${holder.name}`;
    // HAProxy prints each server's state change; the last one is where the server stands (UP
    // when it never changed: servers start UP)
    const state = (server: string): string =>
      [
        ...(output.get(haproxyLog) ?? '').matchAll(
          new RegExp(`Server kube-apiserver/${server} is (UP|DOWN)`, 'g'),
        ),
      ]
        .map((m) => m[1])
        .pop() ?? 'UP';
    expect(state('cp-3')).toBe('UP');
    await stop('apiserver-cp-3', 'SIGTERM');
    const took = await until(
      'HAProxy marks cp-3 DOWN',
      () => Promise.resolve(state('cp-3') === 'DOWN'),
      10_000,
    );
    console.log(`HAProxy on cp-2 took cp-3 out of rotation ${took} ms after its API server stopped`);
    // cp-1 is down with its host, cp-3's API server is stopped: every request goes to cp-2
    for (let i = 0; i < 6; i++) expect(await readyz()).toBe(true);
    expect([state('cp-1'), state('cp-2'), state('cp-3')]).toEqual(['DOWN', 'UP', 'DOWN']);
  }, 30_000);
});
