/**
 * A kctl fleet on the lab: the real controller listening on the lab bridge, N booted Debian hosts
 * (systemd-nspawn) whose NoCloud seeds are the output of `kctl cloud-init --role ...`, so each
 * host downloads the single-file agent from the controller's /artifacts/ (checksum verified),
 * writes agent.yaml, enables the unit and enrolls. The offline bundle (`kctl bundle build`) holds
 * real containerd/runc/nodejs .debs and the kubeadm/kubelet/kubectl STAND-IN .debs, served by the
 * controller to enrolled agents. Shared by the end-to-end suite and `npm run demo` (as root).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ApiClient } from '../../controller/cli/api-client.js';
import { loadClientConfig } from '../../controller/cli/client-config.js';
import { clientConfigPath } from '../../controller/data-dir.js';
import { labExec } from '../../lab/exec.js';
import { labUp } from '../../lab/hosts.js';
import { LAB_BRIDGE_ADDRESS } from '../../lab/network.js';
import { isSameProcess, processStartTime } from '../../lab/processes.js';
import { ensureBaseRootfs } from '../../lab/rootfs.js';
import { defaultLabSeed, type LabHostPlan } from '../../lab/seed.js';
import type { ProcessRef } from '../../lab/state.js';
import { HostList, type HostView } from '../../proto/admin-api.js';
import { buildArtifacts } from '../../packaging/artifacts.js';
import { STANDIN_CLUSTER_DIR, buildStandinDebs } from '../standins/deb.js';
import { CALICO_NODE_MANIFEST } from '../standins/cni.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const KUBERNETES_VERSION = 'v1.31.2';
/** the control-plane VIP kube-vip would hold (nothing answers on it: the stand-ins run no API server) */
export const CONTROL_PLANE_VIP = '198.18.0.100';
/**
 * Debian packages the bundle carries beside the stand-in .debs (nodejs runs the stand-ins; etcd-server
 * and etcd-client for etcd.mode managed)
 */
export const BUNDLE_PACKAGES = ['containerd', 'runc', 'nodejs', 'etcd-server', 'etcd-client'];

export interface FleetHost {
  name: string;
  role: 'control-plane' | 'worker' | 'etcd';
  address: string;
}

export interface FleetLabOptions {
  /** controller data dir, bundle, .debs, stand-in cluster dir and cluster.yaml go here (emptied first) */
  work: string;
  labDir: string;
  controlPlanes: number;
  workers: number;
  /** hosts with role etcd (for etcd.mode managed), after the workers; default 0 */
  etcdHosts?: number;
  /** the controller's port on the lab bridge */
  port: number;
  cacheDir?: string;
  installMissing?: boolean;
  log?: (msg: string) => void;
  /** the version cluster.yaml names; default KUBERNETES_VERSION */
  kubernetesVersion?: string;
  /**
   * stand-in .debs at these versions go into the bundle (apt can install any of them pinned);
   * default [kubernetesVersion]
   */
  standinVersions?: string[];
  /**
   * PEM CA certificates every host trusts (a test package mirror's CA): written to
   * /usr/local/share/ca-certificates/ and added with update-ca-certificates once the hosts are up,
   * before any apply
   */
  trustedCAs?: Array<{ name: string; pem: string }>;
  /** the controller's scheduled health interval (controller.json healthIntervalMs); default 0, off */
  healthIntervalMs?: number;
  /** cluster.yaml's imageRepository (a private registry); default none */
  imageRepository?: string;
  /**
   * Called once cluster.yaml is written, beside the artifact and stand-in .deb builds and before
   * `kctl bundle build`; returns extra arguments for it
   * (e.g. `--images -f <cluster.yaml> --image-archive ...`, with the archives made here)
   */
  beforeBundle?: (ctx: { work: string; clusterFile: string }) => Promise<string[]>;
}

export interface FleetLab {
  work: string;
  labDir: string;
  dataDir: string;
  clientConfig: string;
  controllerUrl: string;
  bundleDir: string;
  /** this machine's directory bind-mounted at STANDIN_CLUSTER_DIR in every host */
  clusterDir: string;
  clusterFile: string;
  hosts: FleetHost[];
  /** every stand-in .deb built, with the Kubernetes version it claims */
  standinDebs: Array<{ kubernetesVersion: string; name: string; path: string }>;
  controller: ProcessRef;
  controllerLog: string;
  api: ApiClient;
  /** seconds per stage */
  timings: Record<string, number>;
}

export interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `kctl ...` as an operator runs it, in a new process. */
export async function kctl(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 900_000,
): Promise<Run> {
  const r = await execa(
    join(REPO, 'node_modules/.bin/tsx'),
    [join(REPO, 'controller/cli/kctl.ts'), ...args],
    {
      cwd: REPO,
      env,
      reject: false,
      timeout: timeoutMs,
    },
  );
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

async function mustKctl(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await kctl(args, env);
  if (r.exitCode !== 0)
    throw new Error(`kctl ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export function fleetHosts(controlPlanes: number, workers: number, etcdHosts = 0): FleetHost[] {
  const roleOf = (i: number): FleetHost['role'] =>
    i < controlPlanes ? 'control-plane' : i < controlPlanes + workers ? 'worker' : 'etcd';
  return Array.from({ length: controlPlanes + workers + etcdHosts }, (_, i) => ({
    name: `lab-${i + 1}`,
    role: roleOf(i),
    address: `198.18.0.${11 + i}`,
  }));
}

export interface ClusterYamlOptions {
  /** default KUBERNETES_VERSION */
  kubernetesVersion?: string;
  /** the `packages:` value as a YAML flow mapping; default `{source: bundle}` */
  packages?: string;
  /** default none */
  imageRepository?: string;
  /** the `etcd:` value as a YAML flow mapping, e.g. `{mode: managed}`; default none (stacked) */
  etcd?: string;
}

export function clusterYaml(hosts: FleetHost[], opts: ClusterYamlOptions = {}): string {
  return [
    'apiVersion: kctl.dev/v1alpha1',
    'kind: Cluster',
    'name: lab',
    `kubernetesVersion: ${opts.kubernetesVersion ?? KUBERNETES_VERSION}`,
    `controlPlaneEndpoint: {host: ${CONTROL_PLANE_VIP}, port: 6443}`,
    'ha: {mode: kube-vip, interface: eth0}',
    'cni: {plugin: calico, manifest: cni.yaml}',
    `packages: ${opts.packages ?? '{source: bundle}'}`,
    ...(opts.imageRepository !== undefined ? [`imageRepository: ${opts.imageRepository}`] : []),
    ...(opts.etcd !== undefined ? [`etcd: ${opts.etcd}`] : []),
    'hosts:',
    ...hosts.map((h) => `  - {name: ${h.name}, role: ${h.role}}`),
    '',
  ].join('\n');
}

/** The controller as its own long-lived process (it outlives the demo command), logging to a file. */
async function startControllerDetached(
  dataDir: string,
  bundleDir: string,
  logFile: string,
): Promise<ProcessRef> {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(
      join(REPO, 'node_modules/.bin/tsx'),
      [
        join(REPO, 'controller/cli/kctl.ts'),
        'controller',
        'run',
        '--data-dir',
        dataDir,
        '--bundle',
        bundleDir,
      ],
      { cwd: REPO, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env } },
    );
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error('cannot start the controller');
    const startTime = await processStartTime(pid);
    if (startTime === undefined) throw new Error(`the controller exited at once; see ${logFile}`);
    return { pid, startTime };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM (then SIGKILL after 20 s) to the controller we started, if it is still that process. */
export async function stopController(ref: ProcessRef | undefined): Promise<void> {
  if (ref === undefined || !(await isSameProcess(ref))) return;
  process.kill(ref.pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && (await isSameProcess(ref))) await sleep(100);
  if (await isSameProcess(ref)) process.kill(ref.pid, 'SIGKILL');
}

/** An orderly restart of the lab's controller (it re-reads controller.json); resolves once every agent is back. */
export async function restartController(lab: FleetLab, ref: ProcessRef | undefined): Promise<ProcessRef> {
  await stopController(ref);
  await sleep(200); // the listening socket closes with the child
  const next = await startControllerDetached(lab.dataDir, lab.bundleDir, lab.controllerLog);
  await waitFor('every agent back after the controller restart', 120_000, async () =>
    (await onlineHosts(lab.api)).length === lab.hosts.length ? true : undefined,
  );
  return next;
}

/**
 * `kill -9` of the lab's controller, then the same controller (data dir, bundle, log) started again;
 * resolves once every host's agent is back online.
 */
export async function killAndRestartController(lab: FleetLab, ref: ProcessRef): Promise<ProcessRef> {
  // the whole process group (spawned detached): tsx's child is the controller, and a SIGKILL to
  // tsx alone would leave that child serving
  if (await isSameProcess(ref)) process.kill(-ref.pid, 'SIGKILL');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && (await isSameProcess(ref))) await sleep(50);
  await sleep(200); // the listening socket closes with the child
  const next = await startControllerDetached(lab.dataDir, lab.bundleDir, lab.controllerLog);
  await waitFor('every agent back after the controller restart', 120_000, async () =>
    (await onlineHosts(lab.api)).length === lab.hosts.length ? true : undefined,
  );
  if (!(await isSameProcess(next)))
    throw new Error(`the restarted controller exited; see ${lab.controllerLog}`);
  return next;
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

export async function onlineHosts(api: ApiClient): Promise<HostView[]> {
  return (await api.get('/v1/admin/hosts', HostList, 5000)).hosts.filter((h) => h.online);
}

/**
 * Builds everything, starts the controller on the bridge and boots the hosts; returns once every
 * agent is enrolled and online. On failure the caller tears down (labDown, stopController).
 */
export async function startFleetLab(
  opts: FleetLabOptions,
  onController?: (ref: ProcessRef) => void,
): Promise<FleetLab> {
  const log = opts.log ?? (() => undefined);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const v = await fn();
    timings[name] = Math.round((Date.now() - t) / 100) / 10;
    log(`${name}: ${timings[name]}s`);
    return v;
  };
  const work = resolve(opts.work);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
  const dataDir = join(work, 'controller');
  const bundleDir = join(work, 'bundle');
  const clusterDir = join(work, 'standin-cluster');
  await mkdir(clusterDir, { recursive: true });
  const hosts = fleetHosts(opts.controlPlanes, opts.workers, opts.etcdHosts ?? 0);
  const kubernetesVersion = opts.kubernetesVersion ?? KUBERNETES_VERSION;
  const standinVersions = opts.standinVersions ?? [kubernetesVersion];

  // the real CLI, the advertised URL on the bridge (the bridge itself comes with lab up)
  await timed('controller init', () =>
    mustKctl(['controller', 'init', '--data-dir', dataDir, '--listen', `${LAB_BRIDGE_ADDRESS}:${opts.port}`]),
  );
  const clientConfig = clientConfigPath(dataDir);
  const env = { KCTL_CONFIG: clientConfig };
  await setHealthInterval(dataDir, opts.healthIntervalMs ?? 0);

  const clusterFile = join(work, 'cluster.yaml');
  await writeFile(join(work, 'cni.yaml'), CALICO_NODE_MANIFEST);
  await writeFile(
    clusterFile,
    clusterYaml(hosts, {
      kubernetesVersion,
      ...(opts.imageRepository !== undefined ? { imageRepository: opts.imageRepository } : {}),
    }),
  );
  const beforeBundle = opts.beforeBundle;

  const [base, , debs, bundleArgs] = await Promise.all([
    timed('base root filesystem', () =>
      ensureBaseRootfs({
        ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
        installMissing: opts.installMissing ?? true,
        log,
      }),
    ),
    timed('agent artifacts (single executable)', () => buildArtifacts(join(dataDir, 'artifacts'))),
    timed('stand-in .debs', async () => {
      const all: FleetLab['standinDebs'] = [];
      // one after another: each build bundles the stand-ins with esbuild (two cores)
      for (const v of standinVersions)
        for (const d of await buildStandinDebs(join(work, 'debs'), { version: v }))
          all.push({ kubernetesVersion: v, name: d.name, path: d.path });
      return all;
    }),
    // beside the builds above: what it makes (e.g. image archives) goes into the bundle
    beforeBundle ? timed('before the bundle', () => beforeBundle({ work, clusterFile })) : [],
  ]);
  await timed('bundle', () =>
    mustKctl([
      'bundle',
      'build',
      '--out',
      bundleDir,
      ...BUNDLE_PACKAGES.flatMap((p) => ['--package', p]),
      // the common package is one file for every version
      ...[...new Set(debs.map((d) => d.path))].flatMap((p) => ['--deb', p]),
      '--base-rootfs',
      base.path,
      ...(opts.installMissing === true ? ['--install-missing'] : []),
      ...bundleArgs,
    ]),
  );

  const api = new ApiClient(await loadClientConfig(clientConfig));
  const controllerLog = join(work, 'controller.log');
  let controller: ProcessRef | undefined;
  const seeds = new Map<string, string>();
  const instance = randomBytes(4).toString('hex');
  await timed('lab up', () =>
    labUp({
      n: hosts.length,
      dir: opts.labDir,
      names: hosts.map((h) => h.name),
      ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
      installMissing: opts.installMissing ?? true,
      binds: [{ source: clusterDir, target: STANDIN_CLUSTER_DIR }],
      log,
      afterNetwork: async () => {
        controller = await startControllerDetached(dataDir, bundleDir, controllerLog);
        onController?.(controller);
        await waitFor('the controller on the lab bridge', 120_000, async () => {
          if (controller && !(await isSameProcess(controller)))
            throw new Error(
              `the controller exited:\n${(await readFile(controllerLog, 'utf8')).slice(-2000)}`,
            );
          return (await api.get('/v1/admin/hosts', HostList, 2000)).hosts;
        });
        // one fresh one-use token per host, in the user-data an operator would paste into their cloud
        for (const h of hosts) seeds.set(h.name, await mustKctl(['cloud-init', '--role', h.role], env));
      },
      seedFor: (plan: LabHostPlan) => ({
        ...defaultLabSeed(plan, instance),
        userData: seeds.get(plan.name) ?? '',
      }),
    }),
  );
  if (controller === undefined) throw new Error('the controller was not started');
  await timed('agents enrolled', () =>
    waitFor(`${hosts.length} agents online`, 300_000, async () => {
      const online = await onlineHosts(api);
      return online.length === hosts.length ? online : undefined;
    }),
  );
  for (const ca of opts.trustedCAs ?? []) {
    if (!/^[a-z0-9-]+$/.test(ca.name)) throw new Error(`CA name "${ca.name}" must be [a-z0-9-]+`);
    await timed(`hosts trust the ${ca.name} CA`, () =>
      Promise.all(hosts.map((h) => trustCa(opts.labDir, h.name, ca.name, ca.pem))),
    );
  }
  return {
    work,
    labDir: opts.labDir,
    dataDir,
    clientConfig,
    controllerUrl: `https://${LAB_BRIDGE_ADDRESS}:${opts.port}`,
    bundleDir,
    clusterDir,
    clusterFile,
    hosts,
    standinDebs: debs,
    controller,
    controllerLog,
    api,
    timings,
  };
}

/**
 * Sets controller.json's healthIntervalMs, read at the controller's next start: scheduled health
 * runs plans on every host, load the lab tests that do not look at it need not carry.
 */
export async function setHealthInterval(dataDir: string, ms: number): Promise<void> {
  const file = join(dataDir, 'controller.json');
  const settings = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({ ...settings, healthIntervalMs: ms }, null, 2) + '\n', {
    mode: 0o644,
  });
}

/** As an operator adds a private CA on Debian: the file under /usr/local/share/ca-certificates, then update-ca-certificates. */
async function trustCa(labDir: string, host: string, name: string, pem: string): Promise<void> {
  const path = `/usr/local/share/ca-certificates/${name}.crt`;
  for (const argv of [['tee', path], ['update-ca-certificates']]) {
    const r = await labExec(host, argv, { dir: labDir, input: pem });
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} on ${host} failed: ${r.stderr}`);
  }
}

export interface StandinCall {
  tool: string;
  argv: string[];
  node?: string;
  exitCode: number;
  startedAt: string;
  time: string;
}

/** The stand-ins' call log, shared by every host. */
export async function standinCalls(clusterDir: string): Promise<StandinCall[]> {
  return (await readFile(join(clusterDir, 'calls.jsonl'), 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as StandinCall);
}
