import { readFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROGRAM_PATH, LocalHost } from '../../agent/host/local-host.js';
import { kubeadmApiserverEtcdOp } from '../../agent/ops/apiserver-etcd-ops.js';
import { kubeadmInitOp, kubeadmJoinOp, kubeadmStateOp } from '../../agent/ops/kubeadm-ops.js';
import type { OpContext } from '../../agent/ops/registry.js';
import { ensureEtcdPki, type EtcdPki } from '../../controller/etcd/pki.js';
import type { KubeadmState } from '../../controller/plan/observe.js';
import type { PlanningContext, TaskRun } from '../../controller/plan/phase.js';
import type { ApiserverEtcdInput } from '../../controller/plan/phases/apiserver-etcd.js';
import { phaseRecord } from '../../controller/plan/phases/index.js';
import { resolveCluster, type ResolvedCluster } from '../../controller/plan/resolved-cluster.js';
import type { Store } from '../../controller/store/store.js';
import { KctlError } from '../../proto/errors.js';
import type { EtcdStatus } from '../../proto/etcd-ops.js';
import { etcdServersOf } from '../../proto/ops-apiserver-etcd.js';
import { Ops, type OpArgs, type OpName, type OpResult } from '../../proto/ops.js';
import type { PhaseId } from '../../proto/phases.js';
import { serveStandinApiServer } from '../standins/apiserver.js';
import {
  CERT_KEY,
  TOKEN,
  standinLab,
  type StandinHost,
  type StandinLab,
} from '../standins/standin-fixture.js';
import { freePort } from './harness.js';

/**
 * Managed etcd grown from 3 to 5 members, then one removed: the API servers follow. Two control
 * planes are made by kctl's own init and join configs through the agent's kubeadm ops and the
 * kubeadm STAND-IN over fake host roots; each serves the stand-in kube-apiserver (/readyz) on its
 * advertise address. The apiserver-etcd-endpoints phase is planned from kubeadm.state as the
 * controller observes it and run through the agent's kubeadm.apiserverEtcd (args and results checked
 * by proto's schemas): every manifest lists the new set, the kubeadm-config ConfigMap agrees, the
 * control planes went one at a time, and a second plan is empty.
 */

const CP = [
  { name: 'cp-1', ip: '127.0.0.11' },
  { name: 'cp-2', ip: '127.0.0.12' },
];
const url = (i: number) => `https://198.18.0.3${i}:2379`;
const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';

describe('API servers follow managed etcd membership (stand-in kubeadm, agent ops)', () => {
  let lab: StandinLab;
  let pki: EtcdPki;
  let port: number;
  const roots = new Map<string, StandinHost>();
  const hosts = new Map<string, LocalHost>();
  const servers: Server[] = [];
  let caCertHash = '';
  const log = pino({ level: 'silent' });
  const ctx = (name: string): OpContext => ({
    host: hosts.get(name)!,
    hostId: `id-${name}`,
    log,
    signal: new AbortController().signal,
    progress: () => undefined,
  });

  function cluster(members: number, joining: Array<{ name: string; ip: string }> = []): ResolvedCluster {
    const etcd = Array.from({ length: members }, (_, i) => ({
      name: `etcd-${i + 1}`,
      ip: `198.18.0.3${i + 1}`,
    }));
    const store = {
      listHosts: () =>
        [...CP, ...joining, ...etcd].map((h) => ({
          id: `id-${h.name}`,
          name: h.name,
          labels: {},
          state: 'active',
          facts: { ips: [h.ip], kernel: '6.1.0', os: { id: 'debian' } },
        })),
    } as unknown as Store;
    return resolveCluster(
      { store },
      {
        apiVersion: 'kctl.dev/v1alpha1',
        kind: 'Cluster',
        name: 'grow',
        kubernetesVersion: 'v1.31.2',
        controlPlaneEndpoint: { host: '127.0.0.10', port },
        ha: { mode: 'kube-vip', interface: 'lo' },
        cni: { plugin: 'none' },
        etcd: { mode: 'managed' },
        hosts: [
          ...[...CP, ...joining].map((h) => ({ name: h.name, role: 'control-plane', address: h.ip })),
          ...etcd.map((h) => ({ name: h.name, role: 'etcd', address: h.ip })),
        ],
      },
      undefined,
    );
  }

  /** kubeadm.state on each control plane, as observeCluster reads it */
  async function observe(c: ResolvedCluster, extra: Partial<PlanningContext> = {}): Promise<PlanningContext> {
    const observed = new Map<string, { state: KubeadmState; prepareVersion: string }>();
    for (const { name } of CP) {
      const state = Ops['kubeadm.state'].result.parse(await kubeadmStateOp.run({}, ctx(name)));
      observed.set(name, { state, prepareVersion: 'v1.31.2' });
    }
    return { cluster: c, observed: { hosts: observed, nodes: undefined, adminHost: 'cp-1' }, ...extra };
  }

  const tasksOf = (id: PhaseId, c: PlanningContext) =>
    phaseRecord(id).tasks(c) as Array<{ host: string; detail: string; input: ApiserverEtcdInput }>;

  const calls: string[] = [];
  const taskRun = (c: ResolvedCluster) =>
    ({
      cluster: c,
      attempt: 1,
      log,
      progress: () => undefined,
      async call<N extends OpName>(target: string, op: N, args: OpArgs<N>): Promise<OpResult<N>> {
        calls.push(`${target} ${op}`);
        if (op !== 'kubeadm.apiserverEtcd') throw new Error(`unexpected op ${op}`);
        const checked = Ops['kubeadm.apiserverEtcd'].args.parse(args);
        const r = await kubeadmApiserverEtcdOp.run(checked, ctx(target));
        return Ops[op].result.parse(r) as OpResult<N>;
      },
    }) as unknown as TaskRun;

  /** runs a phase's tasks in order as the engine runs a serial phase; no kubelet wait in a test */
  async function runAll(id: PhaseId, c: ResolvedCluster, tasks: ReturnType<typeof tasksOf>) {
    const results: unknown[] = [];
    for (const t of tasks)
      results.push(
        await phaseRecord(id).run(
          { ...t.input, restartWaitMs: 0, healthTimeoutMs: 15_000 } as never,
          t.host,
          taskRun(c),
        ),
      );
    return results;
  }

  const manifestServers = async (name: string) => etcdServersOf(await roots.get(name)!.read(MANIFEST));
  const configMapServers = async () => {
    const state = JSON.parse(await readFile(join(lab.clusterDir, 'state.json'), 'utf8')) as {
      cluster: { clusterConfiguration: { etcd?: { external?: { endpoints: string[] } } } };
    };
    return state.cluster.clusterConfiguration.etcd?.external?.endpoints;
  };
  const phaseCalls = async () =>
    (await lab.calls())
      .filter((c) => c.tool === 'kubeadm' && c.argv[1] === 'phase' && c.argv[2] !== 'upload-certs')
      .map((c) => ({
        node: c.node,
        what: c.argv.slice(2, 4).join(' '),
        startedAt: Date.parse(c.startedAt),
        endedAt: Date.parse(c.time),
        exitCode: c.exitCode,
      }));

  beforeAll(async () => {
    lab = await standinLab();
    port = await freePort();
    pki = (
      await ensureEtcdPki(
        undefined,
        [1, 2, 3, 4, 5].map((i) => ({ name: `etcd-${i}`, address: `198.18.0.3${i}` })),
      )
    ).pki;
    for (const { name } of CP) {
      const root = await lab.host(name, { version: 'v1.31.2' });
      await root.write('/etc/kubernetes/pki/etcd/ca.crt', pki.ca.certPem);
      await root.write('/etc/kubernetes/pki/apiserver-etcd-client.crt', pki.apiserverClient.certPem);
      await root.write('/etc/kubernetes/pki/apiserver-etcd-client.key', pki.apiserverClient.keyPem);
      roots.set(name, root);
      hosts.set(name, new LocalHost({ root: root.root, programPath: [lab.bin, ...DEFAULT_PROGRAM_PATH] }));
    }
    const three = cluster(3);
    const init = await kubeadmInitOp.run(
      {
        config: three.renderers.init(three.host('cp-1'), { token: TOKEN, certificateKey: CERT_KEY }),
        manifests: [],
        ignorePreflightErrors: [],
      },
      ctx('cp-1'),
    );
    caCertHash = init.caCertHash;
    await kubeadmJoinOp.run(
      {
        config: three.renderers.join(three.host('cp-2'), {
          token: TOKEN,
          tokenExpiresAt: Date.now() + 3_600_000,
          certificateKey: CERT_KEY,
          caCertHash: init.caCertHash,
          certsUploadedAt: Date.now(),
        }),
        controlPlane: true,
        manifests: [],
        ignorePreflightErrors: [],
      },
      ctx('cp-2'),
    );
    // what the kubelet would run from each manifest: the stand-in API server on the advertise address
    for (const { name, ip } of CP) {
      const root = roots.get(name)!;
      servers.push(
        await serveStandinApiServer({
          cert: await root.read('/etc/kubernetes/pki/apiserver.crt'),
          key: await root.read('/etc/kubernetes/pki/apiserver.key'),
          bindAddress: ip,
          port,
          version: () => 'v1.31.2',
        }),
      );
    }
  }, 180_000);

  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await lab?.cleanup();
  });

  it('kctl init and join wrote the 3 endpoints; kubeadm.state reports them', async () => {
    for (const { name } of CP) expect(await manifestServers(name)).toEqual([1, 2, 3].map(url));
    const c = await observe(cluster(3));
    expect(c.observed.hosts.get('cp-2')?.state.etcdServers).toEqual([1, 2, 3].map(url));
    expect(tasksOf('apiserver-etcd-endpoints', c)).toEqual([]);
  });

  it('grown to 5 members: each control plane in turn gets the 5 endpoints, the ConfigMap too; a second plan is empty; a re-run does not run kubeadm twice', async () => {
    const five = cluster(5);
    const tasks = tasksOf('apiserver-etcd-endpoints', await observe(five));
    expect(tasks.map((t) => [t.host, t.detail])).toEqual([
      [
        'cp-2',
        `--etcd-servers +${url(4)} +${url(5)}: kubeadm init phase control-plane apiserver, then wait for /readyz`,
      ],
      [
        'cp-1',
        `--etcd-servers +${url(4)} +${url(5)}: kubeadm init phase control-plane apiserver, upload-config kubeadm, then wait for /readyz`,
      ],
    ]);
    const results = await runAll('apiserver-etcd-endpoints', five, tasks);
    expect(results).toMatchObject([
      { rewritten: true, etcdServers: 5, uploaded: false },
      { rewritten: true, etcdServers: 5, uploaded: true },
    ]);
    expect(calls).toEqual(['cp-2 kubeadm.apiserverEtcd', 'cp-1 kubeadm.apiserverEtcd']);
    for (const { name } of CP) expect(await manifestServers(name)).toEqual([1, 2, 3, 4, 5].map(url));
    expect(await configMapServers()).toEqual([1, 2, 3, 4, 5].map(url));

    // one control plane at a time, each kubeadm run finished before the next began
    const runs = await phaseCalls();
    expect(runs.map((r) => [r.node, r.what, r.exitCode])).toEqual([
      ['cp-2', 'control-plane apiserver', 0],
      ['cp-1', 'control-plane apiserver', 0],
      ['cp-1', 'upload-config kubeadm', 0],
    ]);
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]!.startedAt).toBeGreaterThanOrEqual(runs[i - 1]!.endedAt);

    expect(tasksOf('apiserver-etcd-endpoints', await observe(five))).toEqual([]);

    // the same task again (a resumed task): the manifest lists the servers, kubeadm does not rewrite it
    const again = await runAll('apiserver-etcd-endpoints', five, tasks.slice(0, 1));
    expect(again).toMatchObject([{ rewritten: false }]);
    expect((await phaseCalls()).length).toBe(runs.length);
  }, 120_000);

  it('a plan whose only change is an edited manifest repairs that control plane alone', async () => {
    const five = cluster(5);
    const root = roots.get('cp-2')!;
    const manifest = await root.read(MANIFEST);
    await root.write(MANIFEST, manifest.replace([1, 2, 3, 4, 5].map(url).join(','), url(1)));
    const tasks = tasksOf('apiserver-etcd-endpoints', await observe(five));
    expect(tasks.map((t) => [t.host, t.detail.split(': kubeadm')[0]])).toEqual([
      ['cp-2', `--etcd-servers +${url(2)} +${url(3)} +${url(4)} +${url(5)}`],
    ]);
    await runAll('apiserver-etcd-endpoints', five, tasks);
    expect(await root.read(MANIFEST)).toBe(manifest);
    expect(tasksOf('apiserver-etcd-endpoints', await observe(five))).toEqual([]);
  }, 60_000);

  it('kctl node remove etcd-5: the control planes drop it, the ConfigMap too; a second plan is empty', async () => {
    const four = cluster(4); // etcd-5 out of cluster.yaml; etcd lists it until the removal phase
    const status = (n: number): EtcdStatus => ({
      clusterId: 'c',
      leader: '1',
      healthy: true,
      members: Array.from({ length: n }, (_, i) => ({
        id: String(i + 1),
        name: `etcd-${i + 1}`,
        peerUrls: [`https://198.18.0.3${i + 1}:2380`],
        clientUrls: [url(i + 1)],
        isLeader: i === 0,
        healthy: true,
      })),
    });
    const planned = async (n: number) => {
      const c = await observe(four, { target: { node: 'etcd-5' } });
      c.observed.etcdMembership = { status: status(n), via: { host: 'etcd-1', endpoint: url(1) } };
      return tasksOf('apiserver-etcd-after-removal', c);
    };
    const tasks = await planned(5);
    expect(tasks.map((t) => [t.host, t.detail.split(': kubeadm')[0]])).toEqual([
      ['cp-2', `--etcd-servers -${url(5)}`],
      ['cp-1', `--etcd-servers -${url(5)}`],
    ]);
    await runAll('apiserver-etcd-after-removal', four, tasks);
    for (const { name } of CP) expect(await manifestServers(name)).toEqual([1, 2, 3, 4].map(url));
    expect(await configMapServers()).toEqual([1, 2, 3, 4].map(url));
    expect(await planned(4)).toEqual([]);
  }, 60_000);

  it('fails retryable, naming the URL, when the API server does not come back ready', async () => {
    const s = servers.pop();
    await new Promise((r) => s?.close(r));
    const [task] = tasksOf('apiserver-etcd-endpoints', await observe(cluster(3))).filter(
      (t) => t.host === 'cp-2',
    );
    const err: unknown = await kubeadmApiserverEtcdOp
      .run({ ...task!.input, restartWaitMs: 0, healthTimeoutMs: 1_000, uploadConfig: false }, ctx('cp-2'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).retryable).toBe(true);
    expect((err as KctlError).message).toContain(`https://127.0.0.12:${port}/readyz is not ready`);
  }, 60_000);

  it('a control plane joining later takes the endpoints from the kubeadm-config ConfigMap the phase uploaded', async () => {
    const cp3 = { name: 'cp-3', ip: '127.0.0.13' };
    const root = await lab.host(cp3.name, { version: 'v1.31.2' });
    await root.write('/etc/kubernetes/pki/etcd/ca.crt', pki.ca.certPem);
    await root.write('/etc/kubernetes/pki/apiserver-etcd-client.crt', pki.apiserverClient.certPem);
    await root.write('/etc/kubernetes/pki/apiserver-etcd-client.key', pki.apiserverClient.keyPem);
    roots.set(cp3.name, root);
    hosts.set(cp3.name, new LocalHost({ root: root.root, programPath: [lab.bin, ...DEFAULT_PROGRAM_PATH] }));
    const four = cluster(4, [cp3]);
    await kubeadmJoinOp.run(
      {
        config: four.renderers.join(four.host(cp3.name), {
          token: TOKEN,
          tokenExpiresAt: Date.now() + 3_600_000,
          certificateKey: CERT_KEY,
          caCertHash,
          certsUploadedAt: Date.now(),
        }),
        controlPlane: true,
        manifests: [],
        ignorePreflightErrors: [],
      },
      ctx(cp3.name),
    );
    // kubeadm join has no etcd section of its own: without the upload it would get the first three
    expect(await manifestServers(cp3.name)).toEqual([1, 2, 3, 4].map(url));
  }, 60_000);
});
