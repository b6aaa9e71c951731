import type { HostFile } from '../../proto/host-spec.js';
import { renderContainerdFiles } from './containerd.js';
import { CRICTL_CONFIG_PATH, renderCrictlConfig } from './crictl.js';
import { packageRepoFile } from './packages.js';
import type { ContainerdConfigInput, PackageFormat, PackageRepoInput, RegistryInput } from './types.js';

export interface PrepareFilesInput {
  containerd: ContainerdConfigInput;
  registries: RegistryInput;
  /** absent when kctl installs no packages (preinstalled images, unknown package format) */
  packageRepo?: { format: PackageFormat; repo: PackageRepoInput } | undefined;
}

/**
 * Every configuration file the prepare phase writes on a host, the same for every role: containerd's
 * config.toml, registry hosts.toml and CA files, /etc/crictl.yaml and the Kubernetes package repo.
 */
export function renderPrepareFiles(input: PrepareFilesInput): HostFile[] {
  return [
    ...renderContainerdFiles(input.containerd, input.registries),
    { path: CRICTL_CONFIG_PATH, content: renderCrictlConfig(), mode: 0o644, sensitive: false },
    ...(input.packageRepo !== undefined
      ? [packageRepoFile(input.packageRepo.repo, input.packageRepo.format)]
      : []),
  ];
}
