import type { ClusterSpec, ContainerdVersion } from '../../proto/cluster-spec.js';
import type { HostFile } from '../../proto/host-spec.js';
import { pauseImage } from './kube-version.js';

export const CONTAINERD_CONFIG_PATH = '/etc/containerd/config.toml';
export const CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d';

/** containerd 1.x reads config version 2; 2.x introduced version 3 (and still converts 2). */
export function containerdConfigVersion(version: ContainerdVersion): 2 | 3 {
  return version.startsWith('1.') ? 2 : 3;
}

/** A TOML basic string. Inputs are validated upstream; escaping keeps the file well-formed regardless. */
function str(value: string): string {
  return JSON.stringify(value);
}

export interface ContainerdConfigInput {
  version: ContainerdVersion;
  /** kubeadm's pause image for the cluster's version: see pauseImage() */
  sandboxImage: string;
}

/**
 * /etc/containerd/config.toml. Only what kubeadm needs differs from containerd's defaults: the CRI
 * plugin enabled (Docker's containerd.io ships it disabled), runc with the systemd cgroup driver
 * (the kubelet's cgroupDriver), kubeadm's sandbox image, and registry hosts under certs.d.
 */
export function renderContainerdConfig(input: ContainerdConfigInput): string {
  if (containerdConfigVersion(input.version) === 2) {
    const cri = '[plugins."io.containerd.grpc.v1.cri"';
    return [
      `# Written by kctl for containerd ${input.version}: config version 2.`,
      'version = 2',
      'disabled_plugins = []',
      '',
      `${cri}]`,
      `  sandbox_image = ${str(input.sandboxImage)}`,
      '',
      `${cri}.containerd]`,
      '  default_runtime_name = "runc"',
      '',
      `${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      '',
      `${cri}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = true',
      '',
      `${cri}.registry]`,
      `  config_path = ${str(CONTAINERD_CERTS_DIR)}`,
      '',
    ].join('\n');
  }
  const images = '[plugins."io.containerd.cri.v1.images"';
  const runtime = '[plugins."io.containerd.cri.v1.runtime"';
  return [
    `# Written by kctl for containerd ${input.version}: config version 3.`,
    'version = 3',
    'disabled_plugins = []',
    '',
    `${images}.pinned_images]`,
    `  sandbox = ${str(input.sandboxImage)}`,
    '',
    `${images}.registry]`,
    `  config_path = ${str(CONTAINERD_CERTS_DIR)}`,
    '',
    `${runtime}.containerd]`,
    '  default_runtime_name = "runc"',
    '',
    `${runtime}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
    `${runtime}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = true',
    '',
  ].join('\n');
}

/** Where a registry's pulls go when no mirror answers; `_default` applies to every registry and has none. */
function upstreamServer(registry: string): string | undefined {
  if (registry === '_default') return undefined;
  return registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
}

export function registryCaPath(registry: string): string {
  return `${CONTAINERD_CERTS_DIR}/${registry}/ca.crt`;
}

export function hostsTomlPath(registry: string): string {
  return `${CONTAINERD_CERTS_DIR}/${registry}/hosts.toml`;
}

/**
 * /etc/containerd/certs.d/<registry>/hosts.toml: mirrors tried in order, then the registry itself.
 * `caFor` names the CA file for a registry host (host[:port]) that has one.
 */
export function renderHostsToml(
  registry: string,
  mirrors: readonly string[],
  caFor: (host: string) => string | undefined = () => undefined,
): string {
  const lines = [
    `# Written by kctl: pulls from ${registry}${mirrors.length > 0 ? ' try the mirrors first' : ''}.`,
  ];
  const server = upstreamServer(registry);
  if (server !== undefined) lines.push(`server = ${str(server)}`);
  const ownCa = caFor(registry);
  if (ownCa !== undefined) lines.push(`ca = ${str(ownCa)}`);
  for (const mirror of mirrors) {
    lines.push('', `[host.${str(mirror)}]`, '  capabilities = ["pull", "resolve"]');
    const ca = caFor(new URL(mirror).host);
    if (ca !== undefined) lines.push(`  ca = ${str(ca)}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Every registry file a host needs: hosts.toml per mirrored or CA-carrying registry, and the CA files. */
export function registryFiles(containerd: ClusterSpec['runtime']['containerd']): HostFile[] {
  const { registryMirrors, registryCAs } = containerd;
  const caFor = (host: string): string | undefined =>
    registryCAs[host] !== undefined ? registryCaPath(host) : undefined;
  const registries = [...new Set([...Object.keys(registryMirrors), ...Object.keys(registryCAs)])].sort();
  const files: HostFile[] = [];
  for (const registry of registries) {
    files.push({
      path: hostsTomlPath(registry),
      content: renderHostsToml(registry, registryMirrors[registry] ?? [], caFor),
      mode: 0o644,
      sensitive: false,
    });
    const pem = registryCAs[registry];
    if (pem !== undefined) {
      files.push({
        path: registryCaPath(registry),
        content: pem.endsWith('\n') ? pem : `${pem}\n`,
        mode: 0o644,
        sensitive: false,
      });
    }
  }
  return files;
}

/** config.toml plus the registry files, for the cluster's containerd line and Kubernetes version. */
export function containerdFiles(spec: ClusterSpec): HostFile[] {
  const config = renderContainerdConfig({
    version: spec.runtime.containerd.version,
    sandboxImage: pauseImage(spec.kubernetesVersion, spec.imageRepository),
  });
  return [
    { path: CONTAINERD_CONFIG_PATH, content: config, mode: 0o644, sensitive: false },
    ...registryFiles(spec.runtime.containerd),
  ];
}
