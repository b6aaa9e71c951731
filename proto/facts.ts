import { z } from 'zod';

const shortString = z.string().max(256);
const smallMap = z
  .record(shortString, shortString)
  .refine((m) => Object.keys(m).length <= 16, { message: 'at most 16 entries' });

/** What an agent tells the controller about its host in hello. Self-reported: informative, never identity. */
export const HostFacts = z.strictObject({
  hostname: shortString,
  machineId: shortString,
  productUuid: shortString,
  macs: z.array(shortString).max(256),
  ips: z.array(shortString).max(512),
  os: z.strictObject({ id: shortString, versionId: shortString, prettyName: shortString }),
  kernel: shortString,
  arch: shortString,
  cpus: z.number().int().nonnegative(),
  memoryBytes: z.number().int().nonnegative(),
  cgroupVersion: z.union([z.literal(1), z.literal(2), z.literal(0)]),
  /** kubelet version if a kubelet is installed, for fleet skew checks. */
  kubeletVersion: shortString.optional(),
  /** the installed containerd package's version (dpkg), which decides its config.toml version */
  containerdVersion: shortString.optional(),
  /** installed kube packages (kubeadm, kubelet, kubectl, cri-tools, kubernetes-cni) by name, as the package database has them */
  kubePackages: smallMap.optional(),
  /** `systemctl is-active` of the node's units by unit name; absent where systemd is not init */
  services: smallMap.optional(),
});
export type HostFacts = z.infer<typeof HostFacts>;
