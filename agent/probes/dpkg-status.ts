import type { Host } from '../host/host.js';

const DPKG_STATUS = '/var/lib/dpkg/status';

/**
 * Installed versions by package name from dpkg's status file (one stanza per package, blank-line
 * separated): a file read, no dpkg-query process, so facts can carry it. Only packages whose state
 * is `installed` count (not config-files, half-installed or unpacked).
 */
export function parseDpkgStatus(text: string, names: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string): string | undefined =>
      new RegExp(`^${name}: *(.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const pkg = field('Package');
    if (pkg === undefined || !names.has(pkg)) continue;
    const version = field('Version');
    if (field('Status')?.split(/\s+/)[2] === 'installed' && version !== undefined) out.set(pkg, version);
  }
  return out;
}

/** containerd's version as dpkg knows it (Debian/Ubuntu `containerd`, Docker's `containerd.io`), if installed. */
export async function readContainerdPackageVersion(host: Host): Promise<string | undefined> {
  const text = await host.readFile(DPKG_STATUS).catch(() => undefined);
  if (text === undefined) return undefined;
  const found = parseDpkgStatus(text, new Set(['containerd', 'containerd.io']));
  return found.get('containerd') ?? found.get('containerd.io');
}
