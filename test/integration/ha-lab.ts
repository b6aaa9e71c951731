import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HostList } from '../../proto/admin-api.js';
import { buildStandins } from '../standins/build.js';
import { healthyFiles } from '../fixtures/healthy-host.js';
import { CALICO_NODE_MANIFEST } from '../standins/cni.js';
import {
  cleanup,
  kctl,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';

const execFileAsync = promisify(execFile);

export interface LabHost {
  name: string;
  ip: string;
}

/** cp-1..cp-N on 198.18.1.11.., w-1..w-M on 198.18.1.21.. (at most 9 control planes and 200 workers). */
export function labHosts(controlPlanes: number, workers: number): LabHost[] {
  return [
    ...Array.from({ length: controlPlanes }, (_, i) => ({ name: `cp-${i + 1}`, ip: `198.18.1.${11 + i}` })),
    ...Array.from({ length: workers }, (_, i) => ({ name: `w-${i + 1}`, ip: `198.18.1.${21 + i}` })),
  ];
}

/** Five agents on loopback over fixture roots of healthy Debian hosts, with the kubeadm/kubelet/kubectl STAND-INS. */
export const HOSTS = labHosts(3, 2);

export interface Call {
  tool: string;
  argv: string[];
  node?: string;
  exitCode: number;
}

export interface Lab {
  controller: ControllerHandle;
  agents: AgentHandle[];
  dir: string;
  clusterFile: string;
  env: NodeJS.ProcessEnv;
  hosts: readonly LabHost[];
  /** the stand-ins' shared cluster directory (state.json, calls.jsonl) */
  clusterDir: string;
  calls(): Promise<Call[]>;
  /** how many agents the controller has online now */
  onlineCount(): Promise<number>;
  /** starts each node's stand-in kubelet as its unit would at boot (these hosts run no systemd) */
  startKubelets(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Agents (five unless `hosts` says otherwise) on fixture roots of healthy Debian hosts;
 * `failJoinOnceOn` puts a one-shot failing kubeadm wrapper first on that host's PATH.
 * `agentController` may give a host another controller URL (a proxy between it and the controller),
 * `agentExtra` more agent.yaml settings.
 */
export async function startLab(
  options: {
    failJoinOnceOn?: string;
    slowJoinOn?: string;
    /** how long the slow join sleeps before the stand-in join runs (default 4) */
    slowJoinSeconds?: number;
    hosts?: readonly LabHost[];
    agentController?: (host: string, controller: ControllerHandle) => Promise<string | undefined>;
    agentExtra?: (host: string) => Record<string, unknown>;
    /** more controller.json settings (e.g. healthIntervalMs) */
    controllerSettings?: Record<string, unknown>;
    /** how many agents are online, when they are spread over controller replicas (default: this controller's) */
    countOnline?: (controller: ControllerHandle) => Promise<number>;
  } = {},
): Promise<Lab> {
  const hosts = options.hosts ?? HOSTS;
  const dir = await tempDir('ha');
  const clusterDir = join(dir, 'standin-cluster');
  await mkdir(clusterDir, { recursive: true });
  const bin = join(dir, 'bin');
  await buildStandins(bin);
  const controller = await startControllerProcess({
    heartbeatIntervalMs: 500,
    ...(options.controllerSettings ? { settings: options.controllerSettings } : {}),
  });
  const env = { KCTL_CONFIG: controller.clientConfig };
  const token = (await kctl(['token', 'create', '--uses', String(hosts.length)], { env })).stdout.trim();
  const agents: AgentHandle[] = [];
  for (const h of hosts) {
    const healthy = healthyFiles();
    delete healthy['/etc/machine-id'];
    delete healthy['/sys/class/dmi/id/product_uuid'];
    delete healthy['/proc/sys/kernel/hostname'];
    const hostRoot = await makeHostRoot(h.name, {
      ...healthy,
      '/etc/hosts': `127.0.0.1 localhost\n${h.ip} ${h.name}\n`,
      '/proc/net/fib_trie': `Local:\n  +-- 198.18.0.0/15 2 0 2\n     |-- ${h.ip}\n        /32 host LOCAL\n`,
      '/etc/kctl-standin/cluster-dir': clusterDir,
      '/etc/kctl-standin/version': 'v1.31.2',
    });
    const programPath = [bin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
    // a recording systemctl STAND-IN: these hosts run no systemd (the fleet lab's hosts do); it logs
    // the call to the stand-ins' call log, so tests see which services kctl restarted, and succeeds
    const shims = join(dir, `systemctl-${h.name}`);
    await mkdir(shims, { recursive: true });
    await writeFile(
      join(shims, 'systemctl'),
      [
        '#!/bin/sh',
        'args=""; for a in "$@"; do args="$args,\\"$a\\""; done',
        `printf '{"time":"%s","tool":"systemctl","argv":[%s],"cwd":"/","hostRoot":"","node":"${h.name}","exitCode":0,"startedAt":"","durationMs":0}\n' "$(/bin/date -u +%FT%TZ)" "\${args#,}" >> "${clusterDir}/calls.jsonl"`,
        // a (re)start of the kubelet unit runs its ExecStart, as systemd would: the stand-in kubelet records its version
        `case "$1" in restart|start|try-restart) for a in "$@"; do [ "$a" = kubelet.service ] && exec "${bin}/kubelet" --standin-start >/dev/null; done ;; esac`,
        'exit 0',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    programPath.unshift(shims);
    if (options.failJoinOnceOn === h.name) {
      // fault injection for this test only: the first `kubeadm join` on this host fails, later ones run the stand-in
      const faults = join(dir, `faults-${h.name}`);
      await mkdir(faults, { recursive: true });
      await writeFile(join(faults, 'armed'), '');
      await writeFile(
        join(faults, 'kubeadm'),
        `#!/bin/sh\nif [ "$1" = join ] && [ -e "${faults}/armed" ]; then /bin/rm -f "${faults}/armed"; echo "injected failure: connection reset" >&2; exit 1; fi\nexec "${bin}/kubeadm" "$@"\n`,
        { mode: 0o755 },
      );
      programPath.unshift(faults);
    }
    if (options.slowJoinOn === h.name) {
      // a slow join (4 s), so a test can kill the agent while the step runs; it appends a line to
      // join-started each time it starts, and "start|end <pid> <ns>" lines to join-runs
      const slow = join(dir, `slow-${h.name}`);
      await mkdir(slow, { recursive: true });
      const runs = `${slow}/join-runs`;
      await writeFile(
        join(slow, 'kubeadm'),
        [
          '#!/bin/sh',
          'if [ "$1" = join ]; then',
          `  echo "$$" >> "${slow}/join-started"; echo "start $$ $(/bin/date +%s%N)" >> "${runs}"`,
          `  /bin/sleep ${options.slowJoinSeconds ?? 4}; "${bin}/kubeadm" "$@"; rc=$?`,
          `  echo "end $$ $(/bin/date +%s%N)" >> "${runs}"; exit $rc`,
          'fi',
          `exec "${bin}/kubeadm" "$@"`,
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      programPath.unshift(slow);
    }
    const url = await options.agentController?.(h.name, controller);
    agents.push(
      await startAgentProcess({
        name: h.name,
        controller: url ? { ...controller, url } : controller,
        token,
        hostRoot,
        extra: { programPath, ...options.agentExtra?.(h.name) },
      }),
    );
  }
  const onlineCount = async (): Promise<number> =>
    options.countOnline
      ? options.countOnline(controller)
      : (await controller.api.get('/v1/admin/hosts', HostList)).hosts.filter((x) => x.online).length;
  await waitFor(
    `${hosts.length} agents online`,
    async () => (await onlineCount()) === hosts.length,
    // generous: only a failure waits this long, and two cores shared with other test runs are slow
    60_000 + hosts.length * 6000,
  ).catch(async (err: unknown) => {
    // say why: the agents' last words, then do not leave the processes of a lab that never came up running
    for (const a of agents) console.error(`[${a.name}] ${a.proc.output().slice(-1500)}`);
    await Promise.all(agents.map((a) => a.proc.stop('SIGKILL')));
    await controller.proc.stop('SIGKILL');
    throw err;
  });
  await writeFile(join(dir, 'cni.yaml'), CALICO_NODE_MANIFEST);
  const clusterFile = join(dir, 'cluster.yaml');
  await writeFile(
    clusterFile,
    [
      'apiVersion: kctl.dev/v1alpha1',
      'kind: Cluster',
      'name: ha',
      'kubernetesVersion: v1.31.2',
      'controlPlaneEndpoint: {host: 198.18.1.100, port: 6443}',
      'ha: {mode: kube-vip, interface: eth0}',
      'cni: {plugin: calico, manifest: cni.yaml}',
      'packages: {source: preinstalled}',
      'hosts:',
      ...hosts.map(
        (h) => `  - {name: ${h.name}, role: ${h.name.startsWith('cp') ? 'control-plane' : 'worker'}}`,
      ),
      '',
    ].join('\n'),
  );
  return {
    controller,
    agents,
    dir,
    clusterFile,
    env,
    hosts,
    clusterDir,
    onlineCount,
    async startKubelets() {
      for (const a of agents) {
        await execFileAsync(join(bin, 'kubelet'), ['--standin-start'], {
          env: { ...process.env, KCTL_HOST_ROOT: a.hostRoot },
        });
      }
    },
    async calls() {
      return (await readFile(join(clusterDir, 'calls.jsonl'), 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Call);
    },
    async close() {
      await Promise.all(agents.map((a) => a.proc.stop()));
      await controller.proc.stop();
      await cleanup([controller.dataDir, dir, ...agents.flatMap((a) => [a.stateDir, a.hostRoot])]);
    },
  };
}
