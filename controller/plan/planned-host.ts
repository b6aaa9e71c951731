import type { HostAssignment } from '../spec/resolve.js';
import type { PackageFormat } from '../render/packages.js';

/** A host of the cluster as plans address it: its role from cluster.yaml, its identity and facts from the registry. */
export interface PlannedHost extends HostAssignment {
  hostId: string;
  kernelRelease: string;
  /** /etc/os-release ID, which picks deb or rpm */
  osId: string;
  packageFormat: PackageFormat | undefined;
  /** the containerd the host has installed (dpkg status), which the config version must fit */
  containerdVersion: string | undefined;
}
