import type { HostSpec, TrustedCertificate } from '../../proto/host-spec.js';

/** "registry.example:5000" -> "registry.example_5000": a file name stem every distribution accepts. */
export function trustName(registry: string): string {
  return registry.toLowerCase().replace(/[^a-z0-9._-]/g, '_');
}

/** Each certificate of a PEM bundle, re-wrapped at 64 columns with one trailing newline. */
export function splitPemCertificates(pem: string): string[] {
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g;
  return [...pem.matchAll(re)].map((m) => {
    const body = (m[1] ?? '').replace(/\s+/g, '');
    const lines = body.match(/.{1,64}/g) ?? [];
    return ['-----BEGIN CERTIFICATE-----', ...lines, '-----END CERTIFICATE-----', ''].join('\n');
  });
}

/**
 * The registry CAs of cluster.yaml (runtime.containerd.registryCAs) for the host's trust store too,
 * not only containerd's certs.d: the kubelet, curl and anything else reading the system bundle
 * trust the registry. A bundle of several certificates becomes kctl-<registry>-<n>.crt files.
 */
export function registryTrustStore(
  registryCAs: Readonly<Record<string, string>>,
): Pick<HostSpec, 'trustStore'> {
  const certificates: TrustedCertificate[] = [];
  for (const registry of Object.keys(registryCAs).sort()) {
    const pems = splitPemCertificates(registryCAs[registry] ?? '');
    pems.forEach((pem, i) =>
      certificates.push({
        name: pems.length === 1 ? trustName(registry) : `${trustName(registry)}-${i + 1}`,
        pem,
      }),
    );
  }
  return certificates.length > 0 ? { trustStore: { certificates } } : {};
}
