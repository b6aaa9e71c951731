import type { ClusterSpec } from '../../proto/cluster-spec.js';
import type { HostFile } from '../../proto/host-spec.js';
import { containerdFiles } from './containerd.js';
import { CRICTL_CONFIG_PATH, renderCrictlConfig } from './crictl.js';
import { packageRepoFile, type PackageFormat } from './packages.js';

export interface PrepareFilesOptions {
  packageFormat: PackageFormat;
  /** https://host:port of the controller, for the `bundle` package source */
  controllerUrl?: string | undefined;
}

/**
 * Every configuration file the prepare phase writes on a host, the same for every role: containerd's
 * config.toml, registry hosts.toml and CA files, /etc/crictl.yaml and the Kubernetes package repo.
 */
export function renderPrepareFiles(spec: ClusterSpec, options: PrepareFilesOptions): HostFile[] {
  return [
    ...containerdFiles(spec),
    { path: CRICTL_CONFIG_PATH, content: renderCrictlConfig(), mode: 0o644, sensitive: false },
    packageRepoFile(
      {
        packages: spec.packages,
        kubernetesVersion: spec.kubernetesVersion,
        controllerUrl: options.controllerUrl,
      },
      options.packageFormat,
    ),
  ];
}
