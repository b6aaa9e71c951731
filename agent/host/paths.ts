import { posix } from 'node:path';
import { KctlError } from '../../proto/errors.js';

/**
 * Directories (and single files) the agent may write (S16). One list, one check: op names and
 * controller input never become paths without passing through `checkWritablePath`.
 */
export const WRITE_ALLOWLIST: readonly string[] = [
  '/etc/kubernetes',
  '/etc/containerd',
  '/etc/sysctl.d',
  '/etc/modules-load.d',
  '/etc/apt/sources.list.d',
  '/etc/apt/keyrings',
  '/etc/apt/preferences.d',
  '/etc/yum.repos.d',
  '/etc/systemd/system/kubelet.service.d',
  '/etc/systemd/system/containerd.service.d',
  '/etc/cni/net.d',
  '/etc/default/kubelet',
  '/etc/crictl.yaml',
  '/etc/fstab',
  '/etc/hosts',
  '/var/lib/kctl-agent',
  '/var/lib/kubelet/config.yaml',
];

/** Lexical checks: absolute, normalised, no `..`, no NUL, inside the allow-list. */
export function checkWritablePath(path: string): string {
  if (path.includes('\0'))
    throw new KctlError('path_not_allowed', `Path ${JSON.stringify(path)} contains a NUL byte`);
  if (!path.startsWith('/')) throw new KctlError('path_not_allowed', `Path "${path}" is not absolute`);
  if (path.split('/').includes('..')) throw new KctlError('path_not_allowed', `Path "${path}" contains ".."`);
  const normal = posix.normalize(path);
  if (normal !== path || normal.endsWith('/'))
    throw new KctlError('path_not_allowed', `Path "${path}" is not in normal form`);
  if (!isInsideAllowlist(normal)) {
    throw new KctlError(
      'path_not_allowed',
      `Writing "${path}" is not allowed: it is outside the agent's write allow-list`,
    );
  }
  return normal;
}

export function isInsideAllowlist(path: string): boolean {
  return WRITE_ALLOWLIST.some((allowed) => path === allowed || path.startsWith(`${allowed}/`));
}
