import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { buildStandins, type StandinTool } from './build.js';
import type { CallRecord } from './call-log.js';

/**
 * Test fixture for the stand-ins: builds them once into a temp bin directory, makes fake host roots
 * that point at one shared cluster directory, and runs the binaries the way kctl's agent does
 * (absolute path, fixed environment, KCTL_HOST_ROOT, stdin ignored).
 */

export interface StandinLab {
  bin: string;
  clusterDir: string;
  host(
    name: string,
    options?: { version?: string; ipForward?: string; files?: Record<string, string> },
  ): Promise<StandinHost>;
  /** sets the shared stand-in clock (<cluster>/now): ISO time, epoch ms or "+2h1m" */
  setClock(value: string | undefined): Promise<void>;
  calls(): Promise<CallRecord[]>;
  cleanup(): Promise<void>;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface StandinHost {
  name: string;
  root: string;
  run(
    tool: StandinTool,
    args: string[],
    options?: { env?: Record<string, string>; cwd?: string },
  ): Promise<RunResult>;
  write(path: string, content: string): Promise<void>;
  read(path: string): Promise<string>;
}

export async function standinLab(): Promise<StandinLab> {
  const base = await mkdtemp(join(tmpdir(), 'kctl-standins-'));
  const bin = join(base, 'bin');
  const clusterDir = join(base, 'cluster');
  await buildStandins(bin);
  await mkdir(clusterDir, { recursive: true });
  return {
    bin,
    clusterDir,
    async host(name, options = {}) {
      const root = join(base, `root-${name}`);
      const files: Record<string, string> = {
        '/etc/kctl-standin/cluster-dir': `${clusterDir}\n`,
        ...(options.version ? { '/etc/kctl-standin/version': `${options.version}\n` } : {}),
        '/proc/sys/kernel/hostname': `${name}\n`,
        '/proc/sys/net/ipv4/ip_forward': `${options.ipForward ?? '1'}\n`,
        '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n',
        ...options.files,
      };
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), content);
      }
      return {
        name,
        root,
        async run(tool, args, runOptions = {}) {
          const r = await execa(join(bin, tool), args, {
            extendEnv: false,
            env: {
              // as the agent does: the stand-ins' directory first (kubeadm runs `kubelet --version` from PATH)
              PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
              LC_ALL: 'C.UTF-8',
              DEBIAN_FRONTEND: 'noninteractive',
              KCTL_HOST_ROOT: root,
              ...runOptions.env,
            },
            stdin: 'ignore',
            ...(runOptions.cwd ? { cwd: runOptions.cwd } : {}),
            reject: false,
            timeout: 60_000,
          });
          return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
        },
        async write(path, content) {
          await mkdir(dirname(join(root, path)), { recursive: true });
          await writeFile(join(root, path), content);
        },
        read: (path) => readFile(join(root, path), 'utf8'),
      };
    },
    async setClock(value) {
      if (value === undefined) await rm(join(clusterDir, 'now'), { force: true });
      else await writeFile(join(clusterDir, 'now'), `${value}\n`);
    },
    async calls() {
      const text = await readFile(join(clusterDir, 'calls.jsonl'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as CallRecord);
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

export const INIT_CONFIG = '/var/lib/kctl-agent/run/kubeadm-init.yaml';
export const JOIN_CONFIG = '/var/lib/kctl-agent/run/kubeadm-join.yaml';
export const CERT_KEY = '8f0e2a5c1d9b4e7f6a3c2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f';
export const TOKEN = 'abcdef.0123456789abcdef';

/** An init configuration as kctl renders it for >= 1.31. */
export function initConfigV1beta4(options: {
  name: string;
  ip: string;
  version: string;
  endpoint?: string;
  algorithm?: string;
  extra?: string;
}): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: ${TOKEN}
  ttl: 30m
nodeRegistration:
  name: ${options.name}
  criSocket: unix:///var/run/containerd/containerd.sock
  kubeletExtraArgs:
  - name: node-ip
    value: ${options.ip}
localAPIEndpoint:
  advertiseAddress: ${options.ip}
  bindPort: 6443
certificateKey: ${CERT_KEY}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${options.version}
controlPlaneEndpoint: ${options.endpoint ?? '10.0.0.100:6443'}
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
apiServer:
  certSANs: [10.0.0.100]
  extraArgs:
  - name: audit-log-maxage
    value: "30"
${options.algorithm ? `encryptionAlgorithm: ${options.algorithm}\n` : ''}${options.extra ?? ''}---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
ipvs:
  strictARP: true
`;
}

export function joinConfigV1beta4(options: {
  name: string;
  caCertHash: string;
  token?: string;
  endpoint?: string;
  controlPlane?: { ip: string; certificateKey: string };
}): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: ${options.name}
discovery:
  bootstrapToken:
    token: ${options.token ?? TOKEN}
    apiServerEndpoint: ${options.endpoint ?? '10.0.0.100:6443'}
    caCertHashes: ["${options.caCertHash}"]
${
  options.controlPlane
    ? `controlPlane:
  localAPIEndpoint:
    advertiseAddress: ${options.controlPlane.ip}
    bindPort: 6443
  certificateKey: ${options.controlPlane.certificateKey}
`
    : ''
}`;
}

export const CNI_MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: kube-flannel
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
spec:
  selector:
    matchLabels: {app: flannel}
  template:
    metadata:
      labels: {app: flannel}
    spec:
      containers:
      - name: kube-flannel
        image: ghcr.io/flannel-io/flannel:v0.25.1
      volumes:
      - name: cni
        hostPath: {path: /etc/cni/net.d}
`;
