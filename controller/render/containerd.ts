import type { HostFile } from '../../proto/host-spec.js';
import { KctlError } from '../../proto/errors.js';
import { kubeVersion } from '../../proto/kube-version.js';
import type { ContainerdConfigInput, RegistryInput } from './types.js';
import { registrySecurityProblems } from './insecure-registries.js';

export const CONTAINERD_CONFIG_PATH = '/etc/containerd/config.toml';
export const CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d';
export const DEFAULT_IMAGE_REPOSITORY = 'registry.k8s.io';

/**
 * The pause image tag kubeadm pulls per minor (`kubeadm config images list`). Sources: kubeadm's
 * constants as listed per release in kubernetes/minikube pkg/minikube/constants/constants_kubeadm_images.go
 * (1.22-1.32), and kubespray's pod_infra_supported_versions (1.33 3.10, 1.34 and 1.35 3.10.1).
 */
export const PAUSE_VERSIONS: Readonly<Record<number, string>> = {
  22: '3.5',
  23: '3.6',
  24: '3.7',
  25: '3.8',
  26: '3.9',
  27: '3.9',
  28: '3.9',
  29: '3.9',
  30: '3.9',
  31: '3.10',
  32: '3.10',
  33: '3.10',
  34: '3.10.1',
  35: '3.10.1',
};

/** kubeadm's sandbox image for this version, from the cluster's image repository. */
export function pauseImageFor(kubernetesVersion: string, imageRepository = DEFAULT_IMAGE_REPOSITORY): string {
  const { minor } = kubeVersion(kubernetesVersion);
  const tag = PAUSE_VERSIONS[minor];
  if (tag === undefined)
    throw new KctlError('invalid_spec', `No pause image is known for Kubernetes ${kubernetesVersion}`);
  return `${imageRepository}/pause:${tag}`;
}

/** "1.7" or "2.1.4" -> the major that decides the config version. */
export function containerdMajor(version: string): 1 | 2 {
  const major = /^(\d+)\./.exec(version)?.[1];
  if (major === '1' || major === '2') return major === '1' ? 1 : 2;
  throw new KctlError('invalid_spec', `containerd "${version}" is neither a 1.x nor a 2.x release`);
}

/** containerd 1.x reads config version 2; 2.x introduced version 3 (and still converts 2). */
export function containerdConfigVersion(major: 1 | 2): 2 | 3 {
  return major === 1 ? 2 : 3;
}

/**
 * The containerd that runs a config must read its version: containerd 1.x takes a `version = 3`
 * file without a word and ignores every CRI setting in it (SystemdCgroup, the sandbox image, the
 * registry config path), so the pods get cgroupfs and the wrong pause image. `installed` is the
 * host's package version (facts, from dpkg's status), e.g. `1.6.20~ds1-1+deb12u3` or `1:1.7.24-1`.
 */
export function checkContainerdConfigFits(
  declared: string,
  installed: string | undefined,
  host: string,
): void {
  if (installed === undefined) return;
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(installed);
  const want = containerdMajor(declared);
  if (m?.[1] === String(want)) return;
  const line = m ? `${m[1]}.${m[2]}` : installed;
  const why =
    m?.[1] === '1'
      ? 'containerd 1.x ignores a version 3 config, and every CRI setting in it'
      : `the config must be written for the containerd that reads it`;
  throw new KctlError(
    'invalid_spec',
    `runtime.containerd.version is "${declared}" (config version ${containerdConfigVersion(want)}), but host "${host}" has containerd ${installed} installed: ${why}`,
    {
      details: {
        field: 'runtime.containerd.version',
        host,
        installed,
        remedy: `set runtime.containerd.version to "${line}" in cluster.yaml, or install a containerd ${declared} on "${host}"`,
      },
    },
  );
}

/** A TOML basic string. Inputs are validated upstream; escaping keeps the file well-formed regardless. */
function str(value: string): string {
  return JSON.stringify(value);
}

/**
 * /etc/containerd/config.toml. Only what kubeadm needs differs from containerd's defaults: the CRI
 * plugin enabled (Docker's containerd.io ships it disabled), runc with the systemd cgroup driver
 * (the kubelet's cgroupDriver), kubeadm's sandbox image, and registry hosts under certs.d.
 */
export function renderContainerdConfig(input: ContainerdConfigInput): string {
  if (containerdConfigVersion(input.containerdMajor) === 2) {
    const cri = '[plugins."io.containerd.grpc.v1.cri"';
    return [
      '# Written by kctl for containerd 1.x: config version 2.',
      'version = 2',
      'disabled_plugins = []',
      '',
      `${cri}]`,
      `  sandbox_image = ${str(input.pauseImage)}`,
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
      `  config_path = ${str(input.registryConfigPath)}`,
      '',
    ].join('\n');
  }
  const images = '[plugins."io.containerd.cri.v1.images"';
  const runtime = '[plugins."io.containerd.cri.v1.runtime"';
  return [
    '# Written by kctl for containerd 2.x: config version 3.',
    'version = 3',
    'disabled_plugins = []',
    '',
    `${images}.pinned_images]`,
    `  sandbox = ${str(input.pauseImage)}`,
    '',
    `${images}.registry]`,
    `  config_path = ${str(input.registryConfigPath)}`,
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

/**
 * Where a registry's pulls go when no mirror answers; `_default` applies to every registry and has
 * none. A registry listed in insecureRegistries speaks plain http (its own server, no TLS).
 */
function upstreamServer(registry: string, insecure: ReadonlySet<string> = new Set()): string | undefined {
  if (registry === '_default') return undefined;
  if (insecure.has(registry)) return `http://${registry}`;
  return registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
}

export function registryCaPath(registry: string, certsDir = CONTAINERD_CERTS_DIR): string {
  return `${certsDir}/${registry}/ca.crt`;
}

export function hostsTomlPath(registry: string, certsDir = CONTAINERD_CERTS_DIR): string {
  return `${certsDir}/${registry}/hosts.toml`;
}

/**
 * /etc/containerd/certs.d/<registry>/hosts.toml: mirrors tried in order, then the registry itself.
 * `caPath` is either one CA file for every host in the file, or the CA file of a host (host[:port])
 * that has one. containerd adds it to the system roots, so a CA never breaks the public fallback.
 */
export function renderHostsToml(
  registry: string,
  mirrors: readonly string[],
  caPath?: string | ((host: string) => string | undefined),
  insecureRegistries: readonly string[] = [],
): string {
  const caFor = typeof caPath === 'function' ? caPath : (): string | undefined => caPath;
  const insecure = new Set(insecureRegistries);
  const server = upstreamServer(registry, insecure);
  const who = registry === '_default' ? 'any registry' : registry;
  const order = [...(mirrors.length > 0 ? ['the mirrors below, in order'] : []), ...(server ? [server] : [])];
  const lines = [`# Written by kctl. Pulls from ${who} try ${order.join(', then ')}.`];
  if (server !== undefined) lines.push(`server = ${str(server)}`);
  const ownCa = caFor(registry);
  if (ownCa !== undefined) lines.push(`ca = ${str(ownCa)}`);
  for (const mirror of mirrors) {
    lines.push('', `[host.${str(mirror)}]`, '  capabilities = ["pull", "resolve"]');
    const url = new URL(mirror);
    const ca = caFor(url.host);
    if (ca !== undefined) lines.push(`  ca = ${str(ca)}`);
    // an http:// host is plain http already; an https:// one listed as insecure is not verified
    if (url.protocol === 'https:' && insecure.has(url.host)) lines.push('  skip_verify = true');
  }
  lines.push('');
  return lines.join('\n');
}

/** Every registry file a host needs: hosts.toml per mirrored or CA-carrying registry, and the CA files. */
export function registryFiles(input: RegistryInput, certsDir = CONTAINERD_CERTS_DIR): HostFile[] {
  const { registryMirrors, registryCAs } = input;
  const insecure = input.insecureRegistries ?? [];
  const problem = registrySecurityProblems(input)[0];
  if (problem !== undefined)
    throw new KctlError('invalid_spec', `${problem.path} ${problem.message}`, {
      details: { field: problem.path },
    });
  const caFor = (host: string): string | undefined =>
    registryCAs[host] !== undefined ? registryCaPath(host, certsDir) : undefined;
  const mirrorHosts = new Set(Object.values(registryMirrors).flatMap((ms) => ms.map((m) => new URL(m).host)));
  // an insecure host that is no mirror is a registry pulled from directly, over plain http
  const plainRegistries = insecure.filter((h) => !mirrorHosts.has(h));
  const registries = [
    ...new Set([...Object.keys(registryMirrors), ...Object.keys(registryCAs), ...plainRegistries]),
  ].sort();
  const files: HostFile[] = [];
  for (const registry of registries) {
    files.push({
      path: hostsTomlPath(registry, certsDir),
      content: renderHostsToml(registry, registryMirrors[registry] ?? [], caFor, insecure),
      mode: 0o644,
      sensitive: false,
    });
    const pem = registryCAs[registry];
    if (pem !== undefined) {
      files.push({
        path: registryCaPath(registry, certsDir),
        content: pem.endsWith('\n') ? pem : `${pem}\n`,
        mode: 0o644,
        sensitive: false,
      });
    }
  }
  return files;
}

/** config.toml plus the registry files it points at. */
export function renderContainerdFiles(config: ContainerdConfigInput, registries: RegistryInput): HostFile[] {
  return [
    // containerd reads config.toml only when it starts; certs.d is read on every pull (config_path)
    {
      path: CONTAINERD_CONFIG_PATH,
      content: renderContainerdConfig(config),
      mode: 0o644,
      sensitive: false,
      restarts: ['containerd.service'],
    },
    ...registryFiles(registries, config.registryConfigPath),
  ];
}
