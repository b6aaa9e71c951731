/**
 * `kctl plan` for a 1,000-host cluster.yaml, in one process: the real planning path of kctl and the
 * controller (cluster.yaml parse, spec resolution against 1,000 enrolled hosts in a SQLite file,
 * rendering every host spec, the cluster plan, then `kubeadm.state` and `host.plan` to every host
 * through the real registry and agent endpoint, the PlanView as JSON both ways, kctl's text
 * rendering). The hosts are simulated sockets that hand the endpoint real JSON frames; their
 * `host.plan` answer is what the real agent steps return for a fresh Debian host (computed once per
 * role on a temp host root, test/fixtures/healthy-host.ts), so replies have realistic size and shape.
 * Two agent speeds: instant (the controller's own cost) and the measured time of that real plan on
 * this machine (what the controller's bounded fan-out of 32 makes of it).
 *
 *   npx tsx bench/plan-1000.ts [--hosts 1000] [--runs 3] [--think-ms N]
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { planSteps } from '../agent/steps/converge.js';
import { stepsForHostSpec } from '../agent/steps/index.js';
import { AgentEndpoint } from '../controller/agent-endpoint.js';
import { LastSeenWriter } from '../controller/last-seen.js';
import { loadClusterFile } from '../controller/cli/cluster-file.js';
import { renderPlan } from '../controller/cli/plan-cmd.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { planCluster, type ClusterDeps } from '../controller/plan/cluster-service.js';
import { resolveClusterFromStore } from '../controller/plan/resolved-cluster.js';
import { AgentRegistry } from '../controller/registry.js';
import { SqliteStore } from '../controller/store/sqlite-store.js';
import { sqliteAsAsyncStore } from '../controller/store/sqlite-async-store.js';
import { HostStateCache } from '../controller/store/host-state-cache.js';
import type { HostFacts } from '../proto/facts.js';
import type { HostSpec } from '../proto/host-spec.js';
import type { OpResult } from '../proto/ops.js';
import { PlanView } from '../proto/plan-api.js';
import { planHash } from '../proto/results.js';
import { KCTL_VERSION, PROTOCOL_VERSION } from '../proto/version.js';
import type { AgentFrame } from '../proto/wire.js';
import { healthyFiles, RELEASE } from '../test/fixtures/healthy-host.js';
import { tempHost } from '../test/fixtures/temp-host.js';
import { fmt, markdownTable, summarize } from './scale-stats.js';

const { values: opts } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    'think-ms': { type: 'string' },
  },
});
const HOSTS = Number(opts.hosts);
const RUNS = Number(opts.runs);
const CONTROL_PLANES = 3;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** A production-like cluster.yaml: HA with kube-vip, mirrors with a CA, extra args; workers by label. */
function clusterYaml(): string {
  const ca = healthyCaPem.trim().split('\n');
  return [
    'apiVersion: kctl.dev/v1alpha1',
    'kind: Cluster',
    'name: big',
    'kubernetesVersion: v1.31.2',
    'controlPlaneEndpoint: {host: k8s-api.example.internal, port: 6443, address: 198.18.0.100}',
    'ha: {mode: kube-vip, interface: eth0, vip: 198.18.0.100}',
    'networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.local}',
    'kubeProxy: {mode: ipvs}',
    'cni: {plugin: calico, version: v3.28.2}',
    'runtime:',
    '  containerd:',
    '    version: "1.7"',
    '    registryMirrors: {docker.io: [https://mirror.example.internal]}',
    '    registryCAs:',
    '      mirror.example.internal: |',
    ...ca.map((l) => `        ${l}`),
    'packages: {source: mirror, url: https://pkgs.mirror.example.internal}',
    'certSANs: [k8s-api.example.internal, 198.18.0.100]',
    'extraArgs:',
    '  apiServer: {audit-log-maxage: "30"}',
    '  kubelet: {max-pods: 150}',
    'rollout: {concurrency: 50}',
    'hosts:',
    ...Array.from({ length: CONTROL_PLANES }, (_, i) => `  - {name: cp-${i + 1}, role: control-plane}`),
    '  - selector: {role: worker}',
    '    role: worker',
    '',
  ].join('\n');
}
// any PEM the spec accepts; the controller only copies it into the containerd host config
const healthyCaPem = `-----BEGIN CERTIFICATE-----
MIIBoDCCAUWgAwIBAgIUVyzRWVo1rhqxiXBooHpgLkUa1xgwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwabWlycm9yLmV4YW1wbGUuaW50ZXJuYWwgQ0EwHhcNMjYxMTIy
MjAwNDUzWhcNMzYxMTE5MjAwNDUzWjAlMSMwIQYDVQQDDBptaXJyb3IuZXhhbXBs
ZS5pbnRlcm5hbCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABK39bqiYh/7a
6zc8tVOxz1aORVmmCBmVsgYkXuIowivxraBpVt6OdHtEm0ZRF6cc/vozwZyPVcTL
UPhEcl6CTpujUzBRMB0GA1UdDgQWBBShGVWxBgxrXChnk3EKQKmCKrt61DAfBgNV
HSMEGDAWgBShGVWxBgxrXChnk3EKQKmCKrt61DAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0kAMEYCIQDm7BtMhvU8My+p974xQvr/qgvohQSiBatsQFOfP5aN
bAIhAMcjaX9Y0kunzZz7Z5HWJbymCiIx6abMPHRrAKKVxDWl
-----END CERTIFICATE-----
`;

const name = (i: number): string =>
  i < CONTROL_PLANES ? `cp-${i + 1}` : `w-${String(i - CONTROL_PLANES + 1).padStart(4, '0')}`;

function factsOf(i: number): HostFacts {
  return {
    hostname: name(i),
    machineId: i.toString(16).padStart(32, '0'),
    productUuid: `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
    macs: [
      `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    ],
    ips: [`198.18.${1 + ((i >> 8) & 127)}.${i & 255}`],
    os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    kernel: RELEASE,
    arch: 'amd64',
    cpus: 4,
    memoryBytes: 8 * 2 ** 30,
    cgroupVersion: 2,
  };
}

/** What the real agent answers to host.plan for this spec on a fresh Debian host, and how long it took. */
async function realAgentPlan(spec: HostSpec): Promise<{ reply: OpResult<'host.plan'>; ms: number }> {
  const t = await tempHost({
    files: healthyFiles(),
    // nothing installed, nothing held, no units: a fresh host
    programs: {
      'dpkg-query': { exitCode: 1 },
      'apt-mark': {},
      systemctl: { exitCode: 1 },
      rpm: { exitCode: 1 },
    },
  });
  try {
    // the median of 5: the first includes module warm-up, and this machine is shared
    const times: number[] = [];
    let steps: Awaited<ReturnType<typeof planSteps>> = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      steps = await planSteps(t.host, stepsForHostSpec(spec));
      times.push(performance.now() - started);
    }
    return { reply: { steps, planHash: planHash(steps) }, ms: summarize(times).p50 };
  } finally {
    await t.cleanup();
  }
}

/**
 * An agent connection as the endpoint sees it: frames in as JSON text, frames out as JSON text.
 * The simulated agent does as little as it can (it stands for work done on other machines): it
 * reads the command's id and op without parsing the whole frame and answers with a reply
 * serialised once.
 */
class SimulatedAgentSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  constructor(private readonly answer: (op: string) => { json: string; delayMs: number } | undefined) {
    super();
  }
  deliver(text: string): void {
    this.emit('message', Buffer.from(text), false);
  }
  send(text: string): void {
    // CommandFrame's keys come in schema order: type, id, hostId, op
    const m = /^\{"type":"command","id":"([^"]+)","hostId":"[^"]+","op":"([^"]+)"/.exec(text);
    const out = m ? this.answer(m[2]!) : undefined;
    if (!m || !out) return;
    const frame = `{"type":"result","id":"${m[1]!}","replayed":false,"outcome":{"ok":true,"value":${out.json}}}`;
    setTimeout(() => this.deliver(frame), out.delayMs);
  }
  close(): void {
    this.readyState = 3;
    this.emit('close', 1000);
  }
  terminate(): void {
    this.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kctl-bench-plan-'));
const log = pino({ level: 'silent' });
try {
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, clusterYaml());
  const sqlite = new SqliteStore(join(dir, 'state.db'));
  sqlite.transaction(() => {
    for (let i = 0; i < HOSTS; i++) {
      const id = `host-${i}`;
      sqlite.createHost({
        id,
        name: name(i),
        labels: i < CONTROL_PLANES ? {} : { role: 'worker' },
        state: 'active',
        certSerial: i.toString(16),
        certNotAfter: Date.now() + 86_400_000,
        enrolledAt: Date.now(),
      });
    }
  });
  // the controller's view of the database (controller/main.ts)
  const store = sqliteAsAsyncStore(sqlite);
  const hostStates = await HostStateCache.load(store);
  const metrics = new ControllerMetrics();
  const registry = new AgentRegistry({ store, hostStates, log, metrics, heartbeatIntervalMs: 60_000 });
  const lastSeen = new LastSeenWriter({ store, log, flushEveryMs: 1000 });
  const endpoint = new AgentEndpoint({
    store,
    registry,
    metrics,
    log,
    heartbeatIntervalMs: 60_000,
    lastSeen,
  });
  const deps: ClusterDeps = {
    store,
    applyStore: store.applies,
    registry,
    log,
    controllerUrl: 'https://198.18.0.1:9443',
  };

  // the agents' answers, from the real agent steps on a fresh host: one per role
  const warm = await resolveClusterFromStore(deps, (await loadClusterFile(file)).spec, undefined);
  const sample = (role: string) => [...warm.hosts.values()].find((h) => h.role === role)!;
  const cpPlan = await realAgentPlan(warm.hostSpecFor(sample('control-plane')));
  const workerPlan = await realAgentPlan(warm.hostSpecFor(sample('worker')));
  const replyBytes = (r: OpResult<'host.plan'>): number => Buffer.byteLength(JSON.stringify(r));
  say(
    `host.plan of a fresh Debian host (real agent steps on a temp root): control plane ${cpPlan.reply.steps.length} steps, ` +
      `${fmt(replyBytes(cpPlan.reply) / 1024)} KiB in ${fmt(cpPlan.ms, 0)} ms; worker ${fmt(replyBytes(workerPlan.reply) / 1024)} KiB in ${fmt(workerPlan.ms, 0)} ms`,
  );
  const measuredThink = Number(opts['think-ms'] ?? Math.round(Math.max(cpPlan.ms, workerPlan.ms)));

  let thinkMs = 0;
  const cpJson = JSON.stringify(cpPlan.reply);
  const workerJson = JSON.stringify(workerPlan.reply);
  const stateJson = JSON.stringify({ initialized: false, joined: false, kubeletVersion: null });
  const hosts = sqlite.listHosts();
  for (const host of hosts) {
    const i = Number(host.id.slice('host-'.length));
    const planJson = i < CONTROL_PLANES ? cpJson : workerJson;
    const ws = new SimulatedAgentSocket((op) =>
      op === 'kubeadm.state'
        ? { json: stateJson, delayMs: 0 }
        : op === 'host.plan'
          ? { json: planJson, delayMs: thinkMs }
          : undefined,
    );
    endpoint.onConnection(ws as unknown as WebSocket, host, `198.18.0.${i & 255}`);
    ws.deliver(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: KCTL_VERSION,
        facts: factsOf(i),
      } satisfies AgentFrame),
    );
  }
  if (registry.onlineCount() !== HOSTS)
    throw new Error(`only ${registry.onlineCount()} of ${HOSTS} hosts online`);

  interface Timing {
    parse: number;
    resolve: number;
    review: number;
    response: number;
    render: number;
    total: number;
    responseBytes: number;
    textLines: number;
    changes: number;
  }
  const once = async (): Promise<Timing> => {
    const t0 = performance.now();
    const loaded = await loadClusterFile(file); // kctl: read, YAML, schema, cross-field rules
    const body = JSON.stringify({ spec: loaded.spec });
    const t1 = performance.now();
    const cluster = await resolveClusterFromStore(
      deps,
      (JSON.parse(body) as { spec: unknown }).spec,
      undefined,
    );
    const t2 = performance.now();
    const { view } = await planCluster(deps, cluster, { kind: 'apply' });
    const t3 = performance.now();
    const json = JSON.stringify(view); // controller's response body, then kctl's parse and check
    const parsed = PlanView.parse(JSON.parse(json));
    const t4 = performance.now();
    const text = renderPlan(parsed);
    const t5 = performance.now();
    return {
      parse: t1 - t0,
      resolve: t2 - t1,
      review: t3 - t2,
      response: t4 - t3,
      render: t5 - t4,
      total: t5 - t0,
      responseBytes: Buffer.byteLength(json),
      textLines: text.split('\n').length,
      changes: parsed.phases.reduce((n, p) => n + p.tasks.reduce((m, t) => m + t.changes.length, 0), 0),
    };
  };

  const rows: string[][] = [];
  for (const think of [0, measuredThink]) {
    thinkMs = think;
    await once(); // warm-up: first compilation of every code path
    const runs: Timing[] = [];
    for (let r = 0; r < RUNS; r++) runs.push(await once());
    const med = (k: keyof Timing): number => summarize(runs.map((x) => x[k])).p50;
    const label = think === 0 ? 'instant agents' : `agents take ${think} ms`;
    say(
      `${label}: total ${runs.map((x) => fmt(x.total, 0)).join(', ')} ms; PlanView ${fmt(runs[0]!.responseBytes / 2 ** 20)} MiB, ${runs[0]!.changes} changes, ${runs[0]!.textLines} lines of kctl output`,
    );
    rows.push([
      label,
      fmt(med('parse'), 0),
      fmt(med('resolve'), 0),
      fmt(med('review'), 0),
      fmt(med('response'), 0),
      fmt(med('render'), 0),
      fmt(med('total'), 0),
    ]);
  }
  say('');
  say(`kctl plan, ${HOSTS} hosts (${CONTROL_PLANES} control planes), median of ${RUNS} runs, ms:`);
  say(
    markdownTable(
      ['agents', 'parse', 'resolve+render', 'ask hosts', 'PlanView JSON', 'kctl text', 'total'],
      rows,
    ),
  );
  registry.closeAll(1001, 'benchmark done');
  await lastSeen.flush();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
