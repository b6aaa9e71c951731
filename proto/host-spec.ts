import { z } from 'zod';
import { HostRole, KubeProxyMode } from './checks.js';
import { HttpsUrl, OneLineText, PackageVersion, SysctlKey, SystemdUnitName } from './validators.js';

const SysctlValue = z.string().regex(/^[A-Za-z0-9 ._:,-]{0,256}$/, 'must be a plain sysctl value');
const ModuleName = z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a kernel module name');
const HostPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._/@+:-]{1,4095}$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const PackageName = z.string().regex(/^[a-z0-9][a-z0-9.+-]{0,127}$/, 'must be a package name');
const UnitName = SystemdUnitName;
const DnsName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i, 'must be a DNS name');

const UnixId = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

export const HostFile = z.strictObject({
  path: HostPath,
  content: z.string().max(512 * 1024),
  mode: z.number().int().min(0).max(0o7777).default(0o644),
  /** hide the diff in plans (keys, tokens) */
  sensitive: z.boolean().default(false),
  /** numeric owner; absent: kept as it is (root for a new file written by the agent) */
  owner: z.strictObject({ uid: UnixId, gid: UnixId }).optional(),
  /** units restarted (after every file and package is in place) when this file changes */
  restarts: z.array(UnitName).max(8).optional(),
});
export type HostFile = z.infer<typeof HostFile>;

/**
 * A package repository's signing key: the agent fetches it over HTTPS (trusting the host's CA
 * bundle), checks the optional fingerprint pin and writes it where the repo file points.
 */
export const HostRepoKey = z.strictObject({
  url: HttpsUrl,
  path: HostPath,
  /** binary: a `gpg --dearmor`ed keyring for apt's signed-by; armored: for rpm's gpgkey */
  format: z.enum(['binary', 'armored']),
  /** the primary key's fingerprint (40 or 64 hex digits, spaces allowed); any other key is refused */
  fingerprint: z
    .string()
    .regex(/^(?:[0-9A-Fa-f]\s*){40}(?:(?:[0-9A-Fa-f]\s*){24})?$/, 'must be a key fingerprint')
    .optional(),
  /** where the pin comes from, named in the refusal (e.g. packages.keyFingerprint in cluster.yaml) */
  pinnedBy: OneLineText(128).optional(),
});
export type HostRepoKey = z.infer<typeof HostRepoKey>;

/**
 * A CA certificate for the host's own trust store (curl, the kubelet, anything reading the system
 * bundle): written as kctl-<name>.crt where the distribution keeps local anchors, then the
 * distribution's fixed refresh program runs (agent/steps/trust-store.ts).
 */
export const TrustedCertificate = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'must be a file name stem'),
  /** one PEM certificate */
  pem: z
    .string()
    .max(64 * 1024)
    .regex(
      /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/,
      'must be one PEM certificate',
    ),
});
export type TrustedCertificate = z.infer<typeof TrustedCertificate>;

/**
 * What the controller asks one host to converge to. The agent builds its steps from this alone,
 * so it never needs cluster-wide knowledge.
 */
export const HostSpec = z.strictObject({
  hostName: DnsName,
  role: HostRole,
  kubernetesVersion: z
    .string()
    .max(64)
    .regex(/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/, 'must be a Kubernetes version like v1.31.2'),
  kubeProxyMode: KubeProxyMode,
  swap: z.enum(['off', 'keep']).default('off'),
  sysctls: z
    .record(SysctlKey, SysctlValue)
    .refine((r) => Object.keys(r).length <= 256, 'at most 256 sysctls')
    .default({}),
  /** modules to have loaded and persisted; `requiredFor` names what fails without one */
  modules: z
    .array(z.strictObject({ name: ModuleName, requiredFor: OneLineText(128) }))
    .max(64)
    .default([]),
  /** an /etc/hosts line: the address must be an IP (anything else could smuggle lines into the file) */
  controlPlaneEndpoint: z.strictObject({ name: DnsName, address: z.union([z.ipv4(), z.ipv6()]) }).optional(),
  files: z.array(HostFile).max(256).default([]),
  /** the package repository's signing key, fetched by the agent before packages are installed */
  repoKey: HostRepoKey.optional(),
  /** packages at exact versions, in the host's own version format; held so upgrades are deliberate */
  packages: z
    .array(
      z.strictObject({
        name: PackageName,
        /** exact version in the repo's format; absent: whatever the repo offers, once */
        version: PackageVersion.optional(),
        hold: z.boolean().default(true),
        /** units restarted (after every file and package is in place) when this package changes */
        restarts: z.array(UnitName).max(8).optional(),
      }),
    )
    .max(64)
    .default([]),
  /**
   * 'bundle': the packages come from the controller's offline bundle. The agent syncs it to
   * /var/lib/kctl/bundle (signed manifest, every SHA-256 checked) before the packages step, and
   * apt reads it there as a local source.
   */
  packagesFrom: z.enum(['bundle']).optional(),
  /** CA certificates the host's trust store must hold (a private registry's CA) */
  trustStore: z.strictObject({ certificates: z.array(TrustedCertificate).max(32) }).optional(),
  /** units to enable and start once packages are in */
  services: z
    .array(z.strictObject({ unit: UnitName, start: z.boolean().default(true) }))
    .max(32)
    .default([]),
});
export type HostSpec = z.infer<typeof HostSpec>;
export type HostSpecInput = z.input<typeof HostSpec>;
