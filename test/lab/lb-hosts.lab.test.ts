import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import type { CheckResult, LoadBalancerCheckSpec, PreflightSpec } from '../../proto/checks.js';
import { lbHostSpec } from '../../controller/plan/lb-host-spec.js';
import { HAPROXY_CHECK_SCRIPT_PATH } from '../../controller/render/keepalived.js';
import { buildStandins } from '../standins/build.js';

/**
 * ha.mode haproxy-keepalived with two dedicated lb hosts, with the REAL haproxy and keepalived
 * (Debian's packages) run with the files and sysctls kctl's lb HostSpec carries: network
 * namespaces on a bridge of their own for lb-1 and lb-2 (HAProxy binding the VIP, keepalived), three
 * control planes running only a stand-in API server each (TLS on 6443), and a client. Layer 2 on a
 * bridge with no address: nothing leaves the namespaces.
 *
 * Shown: the agent's VIP and VRRP checks pass inside an lb host before keepalived runs; the VIP
 * answers /readyz of a control plane's stand-in API server through HAProxy on an lb host, with no
 * API server on that host; lb-2's HAProxy runs bound to the VIP it does not hold (ip_nonlocal_bind
 * from the spec); VIP-Free then fails from lb-2 (lb-1 holds it) and VRRP-Link fails for a peer off
 * the link; when lb-1 fails the VIP moves to lb-2 and /readyz answers again (measured).
 */

const TAG = String(process.pid % 100_000);
const NET = `198.19.${200 + (process.pid % 50)}`;
const VIP = `${NET}.100`;
const PORT = 6443;
const BRIDGE = `klb${TAG}`;
const CLIENT = { name: 'client', ns: `kctl-lb-${TAG}-c`, veth: `klb${TAG}c`, address: `${NET}.2` };
const LBS = [1, 2].map((i) => ({
  name: `lb-${i}`,
  ns: `kctl-lb-${TAG}-l${i}`,
  veth: `klb${TAG}l${i}`,
  address: `${NET}.${30 + i}`,
}));
const CPS = [1, 2, 3].map((i) => ({
  name: `cp-${i}`,
  ns: `kctl-lb-${TAG}-p${i}`,
  veth: `klb${TAG}p${i}`,
  address: `${NET}.${10 + i}`,
}));
type Node = (typeof LBS)[number];
const FAILOVER_LIMIT_MS = 10_000;
const CHECK_SCRIPT = join(import.meta.dirname, 'lb-checks-in-netns.ts');

const missing = async (program: string): Promise<boolean> =>
  (await execa('sh', ['-c', `command -v ${program}`], { reject: false })).exitCode !== 0;

async function ip(args: string[]): Promise<void> {
  await execa('ip', args);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('HAProxy and keepalived on two dedicated lb hosts (real daemons, stand-in API servers)', () => {
  let dir = '';
  const processes = new Map<string, ChildProcess>();
  const output = new Map<string, string>();
  const createdNs: string[] = [];
  let bridgeCreated = false;
  let spec: ClusterSpec;

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

  function startKeepalived(h: Node): void {
    const root = join(dir, h.name);
    start(`keepalived-${h.name}`, h.ns, [
      'keepalived',
      '--dont-fork',
      '--log-console',
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

  async function vipHolder(): Promise<Node | undefined> {
    for (const h of LBS) {
      const r = await execa('ip', ['-n', h.ns, '-o', 'addr', 'show', 'dev', 'eth0', 'up'], { reject: false });
      if (r.stdout.includes(`${VIP}/32`)) return h;
    }
    return undefined;
  }

  const daemonOutput = (): string => [...output].map(([k, v]) => `--- ${k}\n${v.slice(-1500)}`).join('\n');

  async function until(what: string, f: () => Promise<boolean>, ms: number): Promise<number> {
    const started = Date.now();
    while (!(await f())) {
      if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms\n${daemonOutput()}`);
      await sleep(100);
    }
    return Date.now() - started;
  }

  /** The agent's load balancer checks, run inside the lb host's namespace. */
  async function lbChecks(h: Node, change: Partial<LoadBalancerCheckSpec> = {}): Promise<CheckResult[]> {
    const preflight: PreflightSpec = {
      role: 'worker',
      kubernetesVersion: 'v1.31.2',
      isFirstControlPlane: false,
      kubeProxyMode: 'iptables',
      only: 'load-balancer',
      loadBalancer: {
        vip: VIP,
        interface: 'eth0',
        address: h.address,
        peers: LBS.filter((x) => x.name !== h.name).map((x) => x.address),
        port: PORT,
        vipMustBeFree: true,
        bindsVip: true,
        ...change,
      },
    };
    const r = await execa('ip', [
      'netns',
      'exec',
      h.ns,
      process.execPath,
      '--import',
      'tsx',
      CHECK_SCRIPT,
      JSON.stringify(preflight),
    ]);
    return JSON.parse(r.stdout) as CheckResult[];
  }

  const statusOf = (results: CheckResult[]): Record<string, string> =>
    Object.fromEntries(results.map((r) => [r.id, r.status]));

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
    dir = await mkdtemp(join(tmpdir(), 'kctl-lb-'));
    await chmod(dir, 0o755);
    const bin = join(dir, 'bin');
    await buildStandins(bin, { version: 'v1.31.2' });

    await ip(['link', 'add', BRIDGE, 'type', 'bridge']);
    bridgeCreated = true;
    await ip(['link', 'set', BRIDGE, 'up']);
    for (const n of [CLIENT, ...LBS, ...CPS]) {
      await ip(['netns', 'add', n.ns]);
      createdNs.push(n.ns);
      await ip(['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns]);
      await ip(['link', 'set', n.veth, 'master', BRIDGE, 'up']);
      await ip(['-n', n.ns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      await ip(['-n', n.ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', n.ns, 'link', 'set', 'lo', 'up']);
    }

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
      `subjectAltName=IP:${VIP},${CPS.map((h) => `IP:${h.address}`).join(',')}`,
      '-keyout',
      join(pki, 'apiserver.key'),
      '-out',
      join(pki, 'apiserver.crt'),
    ]);

    spec = ClusterSpec.parse({
      apiVersion: 'kctl.dev/v1alpha1',
      kind: 'Cluster',
      name: 'lab-lb-hosts',
      kubernetesVersion: 'v1.31.2',
      controlPlaneEndpoint: { host: VIP, port: PORT },
      ha: { mode: 'haproxy-keepalived', interface: 'eth0', vip: VIP, virtualRouterId: 53 },
      hosts: [
        ...LBS.map((h) => ({ name: h.name, role: 'lb', address: h.address })),
        ...CPS.map((h) => ({ name: h.name, role: 'control-plane', address: h.address })),
      ],
    });

    // the control planes: only the stand-in API server (no HAProxy or keepalived there)
    for (const h of CPS) {
      const root = join(dir, h.name);
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
    }
  }, 60_000);

  afterAll(async () => {
    for (const key of processes.keys()) kill(key, 'SIGKILL');
    await sleep(200);
    for (const ns of createdNs) await execa('ip', ['netns', 'delete', ns], { reject: false });
    for (const n of [CLIENT, ...LBS, ...CPS])
      await execa('ip', ['link', 'delete', n.veth], { reject: false }).catch(() => undefined);
    if (bridgeCreated) await execa('ip', ['link', 'delete', BRIDGE], { reject: false });
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('passes the agent VIP and VRRP checks inside each lb host before keepalived runs', async () => {
    for (const h of LBS) {
      const results = await lbChecks(h);
      expect(statusOf(results), JSON.stringify(results)).toEqual({
        'VIP-Free': 'pass',
        'VRRP-Link': 'pass',
        'Sysctl-ip_nonlocal_bind': 'pass',
      });
    }
  }, 60_000);

  it('answers /readyz of a control plane through HAProxy on the VIP of an lb host, lb-1 holding it', async () => {
    for (const h of LBS) {
      const hostSpec = lbHostSpec(spec, h, { balancers: LBS, controlPlanes: CPS, packageFormat: 'deb' });
      expect(hostSpec.packages.map((p) => p.name)).toEqual(['haproxy', 'keepalived']);
      // the spec's sysctls, in the lb host's own namespace, as the agent's sysctl step sets them
      for (const [key, value] of Object.entries(hostSpec.sysctls))
        await execa('ip', ['netns', 'exec', h.ns, 'sysctl', '-w', `${key}=${value}`]);
      const root = join(dir, h.name);
      await mkdir(root, { recursive: true, mode: 0o755 });
      const script = join(root, 'check-haproxy.sh');
      for (const f of hostSpec.files) {
        const base = f.path.split('/').pop() ?? f.path;
        await writeFile(join(root, base), f.content.replace(HAPROXY_CHECK_SCRIPT_PATH, script), {
          mode: f.mode,
        });
      }
      start(`haproxy-${h.name}`, h.ns, ['haproxy', '-db', '-f', join(root, 'haproxy.cfg')]);
      startKeepalived(h);
    }
    const took = await until('/readyz through the VIP', readyz, 20_000);
    console.log(`VIP ${VIP}:${PORT} on the lb hosts answered /readyz ${took} ms after the daemons started`);
    await until('lb-1 holds the VIP', async () => (await vipHolder())?.name === 'lb-1', 10_000);
    // lb-2's HAProxy runs although the VIP it binds is on lb-1 (ip_nonlocal_bind)
    expect(processes.get('haproxy-lb-2')?.exitCode).toBeNull();
    expect(output.get('haproxy-lb-2') ?? '').not.toMatch(/cannot bind socket/i);
    expect(await readyz()).toBe(true);
  }, 40_000);

  it('fails VIP-Free from lb-2 while lb-1 holds the VIP, and VRRP-Link for a peer off the link', async () => {
    const lb2 = LBS[1];
    if (lb2 === undefined) return;
    const results = await lbChecks(lb2, { peers: ['203.0.113.31'] });
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(byId.get('VIP-Free')?.status, JSON.stringify(results)).toBe('fail');
    expect(byId.get('VIP-Free')?.observed).toMatch(/answered/);
    expect(byId.get('VRRP-Link')?.status).toBe('fail');
    expect(byId.get('VRRP-Link')?.observed).toContain('203.0.113.31');
    console.log(`lb-2 while lb-1 holds the VIP: VIP-Free ${byId.get('VIP-Free')?.observed}`);
  }, 60_000);

  it(`moves the VIP to lb-2 when lb-1 fails, /readyz again within ${FAILOVER_LIMIT_MS / 1000} s`, async () => {
    const lb1 = LBS[0];
    if (lb1 === undefined) return;
    const started = Date.now();
    kill('keepalived-lb-1', 'SIGKILL');
    await ip(['-n', lb1.ns, 'link', 'set', 'eth0', 'down']);
    await until('/readyz through the VIP after failover', readyz, FAILOVER_LIMIT_MS);
    const failoverMs = Date.now() - started;
    const next = await vipHolder();
    console.log(
      `failover: VIP ${VIP} moved from lb-1 to ${next?.name ?? '?'}; /readyz answered again after ${failoverMs} ms`,
    );
    expect(next?.name).toBe('lb-2');
    expect(failoverMs).toBeLessThan(FAILOVER_LIMIT_MS);
  }, 30_000);
});
