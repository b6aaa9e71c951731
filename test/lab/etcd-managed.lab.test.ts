import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ETCD_DEFAULTS_PATH,
  ETCD_CREDENTIALS_DIR,
  ETCD_MANAGED_DATA_DIR,
  etcdClientUrl,
} from '../../controller/render/etcd.js';
import { ETCD_PKI_PATHS } from '../../controller/etcd/pki.js';
import { loadEtcdPki } from '../../controller/etcd/pki-store.js';
import { resolveClusterWithEtcd, type ResolvedCluster } from '../../controller/plan/resolved-cluster.js';
import type { Observation } from '../../controller/plan/observe.js';
import { etcdMembersPhase, etcdPhase, type EtcdMemberTaskInput } from '../../controller/plan/phases/etcd.js';
import type { Store } from '../../controller/store/store.js';
import { standinLab } from '../standins/standin-fixture.js';
import { etcdRemoveMemberPhase } from '../../controller/plan/phases/etcd-remove.js';
import { etcdStatusFrom } from '../../agent/ops/etcd-status-ops.js';
import { parseEtcdJson } from '../../agent/ops/etcdctl.js';

/**
 * etcd.mode managed with the REAL etcd (Debian's etcd-server 3.4): three members, each in a network
 * namespace of its own on a bridge with no address (nothing leaves the namespaces), run with the
 * files of the host specs the engine's etcd phase converges them to (resolveClusterWithEtcd, as a
 * plan resolves cluster.yaml: the etcd PKI created in a temporary controller data dir). A fourth
 * namespace plays the control plane, with the etcd files of its prepare spec: etcdctl there, with
 * the apiserver-etcd-client certificate, must see three healthy members, and the kubeadm STAND-IN
 * accepts the kubeadm init config kctl renders (etcd.external at the members).
 *
 * Not done here: the agents and the controller process (no booted hosts; the engine's phase itself
 * is covered by controller/plan/etcd-plan.test.ts).
 *
 * What stands in for the host: etcd runs as a plain process (not etcd.service), its data dir under
 * the test's temp dir, and the member's PKI files where LoadCredential= would put them.
 */

const TAG = String(process.pid % 100_000);
const NET = `198.19.${200 + (process.pid % 50)}`;
const BRIDGE = `ket${TAG}`;
const CLIENT = { ns: `kctl-et-${TAG}-c`, veth: `ket${TAG}c`, address: `${NET}.2` };
const ALL = [1, 2, 3, 4].map((i) => ({
  name: `etcd-${i}`,
  ns: `kctl-et-${TAG}-${i}`,
  veth: `ket${TAG}h${i}`,
  address: `${NET}.${20 + i}`,
}));
/** The three that form the cluster; the fourth joins it later (member add, initial-cluster-state existing). */
const MEMBERS = ALL.slice(0, 3);
const JOINER = ALL[3]!;
type Member = (typeof ALL)[number];
type MemberFile = { path: string; content: string; mode: number };

/** cluster.yaml of the lab: one control plane (the client namespace) and the three etcd hosts. */
const CLUSTER_YAML = {
  apiVersion: 'kctl.dev/v1alpha1',
  kind: 'Cluster',
  name: 'lab-etcd',
  kubernetesVersion: 'v1.31.2',
  controlPlaneEndpoint: { host: CLIENT.address },
  cni: { plugin: 'none' },
  etcd: { mode: 'managed' },
  hosts: [{ name: 'cp-1', role: 'control-plane' }, ...MEMBERS.map((m) => ({ name: m.name, role: 'etcd' }))],
};

/** The controller's registry as a plan reads it: the hosts enrolled, with the addresses they report. */
function labStore(): Store {
  const hosts = [{ name: 'cp-1', address: CLIENT.address }, ...ALL];
  return {
    listHosts: () =>
      hosts.map((h) => ({
        id: `id-${h.name}`,
        name: h.name,
        labels: {},
        state: 'active',
        facts: { ips: [h.address], kernel: '6.1.0', os: { id: 'debian' } },
      })),
  } as unknown as Store;
}

const missing = async (program: string): Promise<boolean> =>
  (await execa('sh', ['-c', `command -v ${program}`], { reject: false })).exitCode !== 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An EnvironmentFile as systemd reads this one: KEY=value lines, comments skipped. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

describe('managed etcd: three real etcd members with the specs the etcd phase converges them to', () => {
  let dir = '';
  const processes = new Map<string, ChildProcess>();
  const output = new Map<string, string>();
  const createdNs: string[] = [];
  let bridgeCreated = false;
  let dataDir = '';
  let cluster: ResolvedCluster;
  const clientPki = (): string => join(dir, 'cp', 'pki');

  const daemonOutput = (): string => [...output].map(([k, v]) => `--- ${k}\n${v.slice(-1500)}`).join('\n');

  async function etcdctl(args: string[], creds: 'client' | 'none' = 'client') {
    const tls =
      creds === 'client'
        ? [
            `--cacert=${join(clientPki(), 'etcd/ca.crt')}`,
            `--cert=${join(clientPki(), 'apiserver-etcd-client.crt')}`,
            `--key=${join(clientPki(), 'apiserver-etcd-client.key')}`,
          ]
        : [`--cacert=${join(clientPki(), 'etcd/ca.crt')}`];
    return execa(
      'ip',
      [
        'netns',
        'exec',
        CLIENT.ns,
        'etcdctl',
        `--endpoints=${MEMBERS.map((m) => etcdClientUrl(m.address)).join(',')}`,
        '--dial-timeout=2s',
        '--command-timeout=4s',
        ...tls,
        ...args,
      ],
      { reject: false, env: { ETCDCTL_API: '3' } },
    );
  }

  /**
   * The member as its host would run it: the rendered /etc/default/etcd, the PKI where
   * LoadCredential= puts it (the healthcheck client pair, which etcd itself does not read, too).
   */
  async function startMember(m: Member, files: readonly MemberFile[], rendered: string): Promise<void> {
    const root = join(dir, m.name);
    const creds = join(root, 'credentials');
    await mkdir(creds, { recursive: true });
    // what LoadCredential= does: the files of kubeadm's layout, under their own names
    for (const f of files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/etcd/')))
      await writeFile(join(creds, f.path.split('/').pop() ?? ''), f.content, { mode: f.mode });
    const env = parseEnvFile(rendered.replaceAll(ETCD_CREDENTIALS_DIR, creds));
    expect(env.ETCD_DATA_DIR).toBe(ETCD_MANAGED_DATA_DIR);
    env.ETCD_DATA_DIR = join(root, 'data');
    const child = spawn('ip', ['netns', 'exec', m.ns, 'etcd'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    output.set(m.name, '');
    const keep = (b: Buffer): void => void output.set(m.name, (output.get(m.name) ?? '') + b.toString());
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    processes.set(m.name, child);
  }

  async function stopMember(m: Member): Promise<void> {
    const child = processes.get(m.name);
    if (child?.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGTERM');
    await exited;
  }

  /** endpoint health --cluster until every one of `expected` is healthy. */
  async function healthyMembers(expected: readonly Member[], ms: number): Promise<number> {
    const started = Date.now();
    let last = '';
    for (;;) {
      const r = await etcdctl(['endpoint', 'health', '--cluster', '-w', 'json']);
      last = `${r.stdout}\n${r.stderr}`;
      if (r.exitCode === 0) {
        const health = JSON.parse(r.stdout) as Array<{ endpoint: string; health: boolean }>;
        const urls = health.map((h) => h.endpoint).sort();
        if (urls.length === expected.length && health.every((h) => h.health)) {
          expect(urls).toEqual(expected.map((m) => etcdClientUrl(m.address)).sort());
          return Date.now() - started;
        }
      }
      if (Date.now() - started > ms)
        throw new Error(`not ${expected.length} healthy members in ${ms} ms:\n${last}\n${daemonOutput()}`);
      await sleep(300);
    }
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this lab test needs root (network namespaces)');
    for (const [program, pkg] of [
      ['etcd', 'etcd-server'],
      ['etcdctl', 'etcd-client'],
    ] as const) {
      if (await missing(program))
        throw new Error(
          `${program} is missing: install the Debian package "${pkg}" (apt-get install -y ${pkg})`,
        );
    }
    dir = await mkdtemp(join(tmpdir(), 'kctl-etcd-'));
    await chmod(dir, 0o700);

    await execa('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    bridgeCreated = true;
    await execa('ip', ['link', 'set', BRIDGE, 'up']);
    for (const n of [CLIENT, ...ALL]) {
      await execa('ip', ['netns', 'add', n.ns]);
      createdNs.push(n.ns);
      await execa('ip', ['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns]);
      await execa('ip', ['link', 'set', n.veth, 'master', BRIDGE, 'up']);
      await execa('ip', ['-n', n.ns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      await execa('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
      await execa('ip', ['-n', n.ns, 'link', 'set', 'lo', 'up']);
    }

    // the controller's side, as a plan resolves it: the etcd PKI created in its data dir, the
    // member specs the etcd phase converges the etcd hosts to, the control plane's prepare spec
    dataDir = join(dir, 'controller');
    await mkdir(dataDir, { mode: 0o700 });
    cluster = await resolveClusterWithEtcd({ store: labStore(), dataDir }, CLUSTER_YAML, undefined);
    expect(cluster.etcdMembers.map((m) => m.name)).toEqual(MEMBERS.map((m) => m.name));

    // the control plane: kubeadm's layout under its own root, from its prepare spec
    const cpFiles = cluster
      .hostSpecFor(cluster.host('cp-1'))
      .files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/'));
    expect(cpFiles.map((f) => f.path).sort()).toEqual([
      '/etc/kubernetes/pki/apiserver-etcd-client.crt',
      '/etc/kubernetes/pki/apiserver-etcd-client.key',
      '/etc/kubernetes/pki/etcd/ca.crt',
    ]);
    for (const f of cpFiles) {
      const path = join(clientPki(), f.path.replace('/etc/kubernetes/pki/', ''));
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, f.content, { mode: f.mode });
    }

    for (const m of cluster.etcdMembers) {
      const spec = cluster.etcdHostSpecFor(m);
      const defaults = spec.files.find((f) => f.path === ETCD_DEFAULTS_PATH)?.content ?? '';
      await startMember(
        ALL.find((x) => x.name === m.name)!,
        spec.files,
        defaults,
      );
    }
  }, 60_000);

  afterAll(async () => {
    for (const child of processes.values()) {
      if (child.pid === undefined || child.exitCode !== null) continue;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(200);
    for (const ns of createdNs) await execa('ip', ['netns', 'delete', ns], { reject: false });
    for (const n of [CLIENT, ...ALL]) await execa('ip', ['link', 'delete', n.veth], { reject: false });
    if (bridgeCreated) await execa('ip', ['link', 'delete', BRIDGE], { reject: false });
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('forms one cluster: endpoint health --cluster with the apiserver-etcd-client certificate reports three healthy members', async () => {
    const took = await healthyMembers(MEMBERS, 30_000);
    console.log(`three etcd members healthy ${took} ms after start`);
    const list = await etcdctl(['member', 'list', '-w', 'json']);
    expect(list.exitCode, list.stderr).toBe(0);
    const { members } = JSON.parse(list.stdout) as { members: Array<{ name: string; peerURLs: string[] }> };
    expect(members.map((m) => m.name).sort()).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
    expect(members.flatMap((m) => m.peerURLs).sort()).toEqual(
      MEMBERS.map((m) => `https://${m.address}:2380`),
    );
  });

  it('writes and reads through the cluster with the client certificate', async () => {
    expect((await etcdctl(['put', '/kctl/lab', 'ok'])).exitCode).toBe(0);
    const r = await etcdctl(['get', '/kctl/lab', '--print-value-only']);
    expect(r.stdout.trim()).toBe('ok');
  });

  it('refuses a client without a certificate (client-cert-auth)', async () => {
    const r = await etcdctl(['get', '/kctl/lab'], 'none');
    expect(r.exitCode).not.toBe(0);
    // refused at the TLS handshake, not timed out for another reason
    expect(daemonOutput()).toMatch(/client didn't provide a certificate/);
  });

  it("reads the cluster's health from inside a member with its healthcheck client pair (what the etcd phase waits on)", async () => {
    const creds = join(dir, 'etcd-2', 'credentials');
    const r = await execa(
      'ip',
      [
        'netns',
        'exec',
        ALL[1]!.ns,
        'etcdctl',
        `--endpoints=${etcdClientUrl(ALL[1]!.address)}`,
        `--cacert=${join(creds, 'ca.crt')}`,
        `--cert=${join(creds, ETCD_PKI_PATHS.healthcheckClientCert.split('/').pop() ?? '')}`,
        `--key=${join(creds, ETCD_PKI_PATHS.healthcheckClientKey.split('/').pop() ?? '')}`,
        'endpoint',
        'health',
        '--cluster',
        '-w',
        'json',
      ],
      { reject: false, env: { ETCDCTL_API: '3' } },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const health = JSON.parse(r.stdout) as Array<{ endpoint: string; health: boolean }>;
    expect(health.filter((h) => h.health).length).toBe(3);
  });

  it('the kubeadm STAND-IN accepts the etcd.external kctl renders, with the files of the control plane', async () => {
    const lab = await standinLab();
    try {
      const files = Object.fromEntries(
        cluster
          .hostSpecFor(cluster.host('cp-1'))
          .files.filter((f) => f.path.startsWith('/etc/kubernetes/pki/'))
          .map((f) => [f.path, f.content]),
      );
      const cp = await lab.host('cp-1', { version: 'v1.31.2', files });
      const config = cluster.renderers.init(cluster.host('cp-1'), {
        token: 'abcdef.0123456789abcdef',
        certificateKey: 'a'.repeat(64),
      });
      await cp.write('/var/lib/kctl-agent/run/kubeadm-init.yaml', config);
      const r = await cp.run('kubeadm', ['init', '--config', '/var/lib/kctl-agent/run/kubeadm-init.yaml']);
      expect(r.exitCode, r.stderr).toBe(0);
      const calls = await lab.calls();
      expect(calls.filter((c) => c.tool === 'kubeadm').map((c) => c.etcdExternal?.endpoints)).toEqual([
        MEMBERS.map((m) => etcdClientUrl(m.address)),
      ]);
      await expect(cp.read('/etc/kubernetes/manifests/etcd.yaml')).rejects.toThrow();
    } finally {
      await lab.cleanup();
    }
  }, 60_000);

  it('grows by one member as the etcd-members phase plans it: same CA, member add, started as existing, then its steady config', async () => {
    const before = await loadEtcdPki(dataDir);
    const grown = await resolveClusterWithEtcd(
      { store: labStore(), dataDir },
      { ...CLUSTER_YAML, hosts: [...CLUSTER_YAML.hosts, { name: JOINER.name, role: 'etcd' }] },
      undefined,
    );
    const pki = await loadEtcdPki(dataDir);
    // the running members' certificates stay as they are: nothing to restart on them for that
    for (const m of MEMBERS) expect(pki?.members[m.name]).toEqual(before?.members[m.name]);
    // what a plan observes: the real member list, the joiner with etcd-server still to install
    const list = await etcdctl(['member', 'list', '-w', 'json']);
    const listed = (JSON.parse(list.stdout) as { members: Array<{ name?: string; peerURLs: string[] }> })
      .members;
    const observed: Observation = {
      hosts: new Map(),
      nodes: undefined,
      adminHost: undefined,
      etcd: {
        plans: new Map([
          [
            JOINER.name,
            [
              {
                stepId: 'packages',
                title: 'packages',
                changes: [{ kind: 'package', name: 'etcd-server', from: null, to: '3.4' }],
              },
            ],
          ],
        ]),
        running: {
          listed: listed.flatMap((m) => m.peerURLs),
          started: listed.filter((m) => (m.name ?? '') !== '').flatMap((m) => m.peerURLs),
        },
      },
    };
    expect(etcdPhase.tasks({ cluster: grown, observed })).toEqual([]);
    const tasks = etcdMembersPhase.tasks({ cluster: grown, observed });
    expect(tasks.map((t) => t.host)).toEqual([JOINER.name]);
    const join = (tasks[0]?.input as unknown as EtcdMemberTaskInput).join!;
    expect(join.via.host).toBe('etcd-1');
    // etcd refuses a member add ("unhealthy cluster") until every member has been connected for
    // 5 s: etcd.memberAdd retries, as done here
    const addStarted = Date.now();
    const addArgs = ['member', 'add', join.name, `--peer-urls=${join.peerUrl}`];
    let add = await etcdctl(addArgs);
    while (
      add.exitCode !== 0 &&
      add.stderr.includes('unhealthy cluster') &&
      Date.now() - addStarted < 15_000
    ) {
      await sleep(500);
      add = await etcdctl(addArgs);
    }
    expect(add.exitCode, add.stderr).toBe(0);
    // etcdctl prints the joiner's ETCD_INITIAL_CLUSTER: the same one the join spec carries
    const defaultsOf = (spec: { files: MemberFile[] }): string =>
      spec.files.find((f) => f.path === ETCD_DEFAULTS_PATH)?.content ?? '';
    const rendered = parseEnvFile(defaultsOf(join.joinSpec));
    expect(rendered.ETCD_INITIAL_CLUSTER_STATE).toBe('existing');
    const printed = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1]?.split(',').sort();
    expect(printed).toEqual(rendered.ETCD_INITIAL_CLUSTER?.split(',').sort());
    await startMember(JOINER, join.joinSpec.files, defaultsOf(join.joinSpec));
    const took = await healthyMembers(ALL, 30_000);
    console.log(`fourth member healthy ${took} ms after it started`);
    // then its steady config (all members, state new): etcd reads it only on a first start, so
    // the restarted member stays in the cluster, and the next plan is empty
    await stopMember(JOINER);
    const steady = (tasks[0]?.input as unknown as EtcdMemberTaskInput).hostSpec;
    expect(parseEnvFile(defaultsOf(steady)).ETCD_INITIAL_CLUSTER_STATE).toBe('new');
    await startMember(JOINER, steady.files, defaultsOf(steady));
    await healthyMembers(ALL, 30_000);
  });

  it('removes that member again as the etcd-remove-member phase plans it (kctl node remove), through a surviving member', async () => {
    // what a remove plan observes: etcd.status of a surviving member, joined from etcdctl's own JSON
    const readStatus = async () => {
      const [list, status, health] = await Promise.all([
        etcdctl(['-w', 'json', 'member', 'list']),
        etcdctl(['-w', 'json', 'endpoint', 'status', '--cluster']),
        etcdctl(['-w', 'json', 'endpoint', 'health', '--cluster']),
      ]);
      return etcdStatusFrom(
        parseEtcdJson(list.stdout) as never,
        parseEtcdJson(status.stdout || '[]') as never,
        parseEtcdJson(health.stdout || '[]') as never,
      );
    };
    const via = { host: 'etcd-1', endpoint: etcdClientUrl(MEMBERS[0]!.address) };
    const plan = async () =>
      etcdRemoveMemberPhase.tasks({
        // cluster.yaml without the fourth host again: the member is found by its name
        cluster,
        target: { node: JOINER.name },
        observed: {
          hosts: new Map(),
          nodes: undefined,
          adminHost: undefined,
          etcdMembership: { status: await readStatus(), via },
        },
      });
    const tasks = await plan();
    expect(tasks.map((t) => [t.host, t.input])).toEqual([[JOINER.name, { name: JOINER.name, via }]]);
    expect(tasks[0]?.detail).toMatch(
      /^etcdctl member remove [0-9a-f]+ \(etcd-4\) on etcd-1, 3 member\(s\) left;/,
    );
    const id = /member remove ([0-9a-f]+) /.exec(tasks[0]?.detail ?? '')?.[1] ?? '';
    // the argv etcd.memberRemove runs (the op itself: test/integration/etcd-member-remove.test.ts)
    const started = Date.now();
    let removed = await etcdctl(['member', 'remove', id]);
    while (
      removed.exitCode !== 0 &&
      removed.stderr.includes('unhealthy cluster') &&
      Date.now() - started < 30_000
    ) {
      await sleep(500);
      removed = await etcdctl(['member', 'remove', id]);
    }
    expect(removed.exitCode, removed.stderr).toBe(0);
    // a removed etcd 3.4 member stops by itself; etcd.memberStop then disables the unit and empties its data
    const child = processes.get(JOINER.name);
    const deadline = Date.now() + 20_000;
    while (child?.exitCode === null && Date.now() < deadline) await sleep(200);
    expect(child?.exitCode, daemonOutput()).not.toBeNull();
    console.log(`removed member exited ${Date.now() - started} ms after member remove was sent`);
    await healthyMembers(MEMBERS, 30_000);
    expect(await plan()).toEqual([]);
  }, 90_000);
});
