import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Host } from '../host/host.js';

const gunzipAsync = promisify(gunzip);

export interface KernelConfig {
  /** where it was read from */
  source: string;
  /** symbol without the CONFIG_ prefix -> value ("y", "m", a number or a quoted string) */
  values: ReadonlyMap<string, string>;
}

/** Candidate locations in system-validators' order (kubeadm-facts §1.7); first match wins. */
export function kernelConfigPaths(release: string): string[] {
  return [
    '/proc/config.gz',
    `/boot/config-${release}`,
    `/usr/src/linux-${release}/.config`,
    '/usr/src/linux/.config',
    `/usr/lib/modules/${release}/config`,
    `/usr/lib/ostree-boot/config-${release}`,
    `/usr/lib/kernel/config-${release}`,
    `/usr/src/linux-headers-${release}/.config`,
    `/lib/modules/${release}/build/.config`,
  ];
}

/** `CONFIG_X=value` lines; `# CONFIG_X is not set` lines and comments are left out. */
export function parseKernelConfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2]);
  }
  return values;
}

/** The running kernel's config, or undefined when no readable copy exists on the host. */
export async function readKernelConfig(host: Host, release: string): Promise<KernelConfig | undefined> {
  for (const path of kernelConfigPaths(release)) {
    const bytes = await host.readFileBytes(path).catch(() => undefined);
    if (bytes === undefined) continue;
    const text = path.endsWith('.gz')
      ? await gunzipAsync(bytes).then(String, () => undefined)
      : bytes.toString();
    if (text === undefined) continue;
    return { source: path, values: parseKernelConfig(text) };
  }
  return undefined;
}

/** "y" or "m": present, as system-validators accepts both. */
export function configEnabled(config: KernelConfig, symbol: string): boolean {
  const value = config.values.get(symbol);
  return value === 'y' || value === 'm';
}
