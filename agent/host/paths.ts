import { posix } from 'node:path';
import { KctlError } from '../../proto/errors.js';

export interface AllowedPath {
  path: string;
  /** a directory allows everything below it; a file allows exactly itself */
  kind: 'dir' | 'file';
}

/**
 * What the agent may write (S16). One list, one check: op names and controller input never become
 * paths without passing through `checkWritablePath`.
 */
export const WRITE_ALLOWLIST: readonly AllowedPath[] = [
  { path: '/etc/kubernetes', kind: 'dir' },
  { path: '/etc/containerd', kind: 'dir' },
  { path: '/etc/sysctl.d', kind: 'dir' },
  { path: '/etc/modules-load.d', kind: 'dir' },
  { path: '/etc/apt/sources.list.d', kind: 'dir' },
  { path: '/etc/apt/keyrings', kind: 'dir' },
  { path: '/etc/apt/preferences.d', kind: 'dir' },
  { path: '/etc/yum.repos.d', kind: 'dir' },
  // the Kubernetes rpm repo's key, fetched by the repo-key step; gpgkey=file:// points here
  { path: '/etc/pki/rpm-gpg/RPM-GPG-KEY-kubernetes', kind: 'file' },
  { path: '/etc/systemd/system/kubelet.service.d', kind: 'dir' },
  { path: '/etc/systemd/system/containerd.service.d', kind: 'dir' },
  { path: '/etc/cni/net.d', kind: 'dir' },
  // local CA anchors (a private registry's CA), Debian's and EL's (agent/steps/trust-store.ts)
  { path: '/usr/local/share/ca-certificates', kind: 'dir' },
  { path: '/etc/pki/ca-trust/source/anchors', kind: 'dir' },
  { path: '/var/lib/kctl-agent', kind: 'dir' },
  // the offline bundle's synced copy (agent/steps/bundle-sync.ts); apt reads it as a file: source
  { path: '/var/lib/kctl/bundle', kind: 'dir' },
  // a removed managed etcd member's data (etcd.memberStop empties it; etcd itself writes it)
  { path: '/var/lib/etcd/kctl', kind: 'dir' },
  // etcd.mode managed: the member's settings and the unit's drop-in kctl renders, no more
  { path: '/etc/default/etcd', kind: 'file' },
  { path: '/etc/systemd/system/etcd.service.d/10-kctl.conf', kind: 'file' },
  // ha.mode haproxy-keepalived: the three files kctl renders for HAProxy and keepalived, no more
  { path: '/etc/haproxy/haproxy.cfg', kind: 'file' },
  { path: '/etc/keepalived/keepalived.conf', kind: 'file' },
  { path: '/etc/keepalived/check-haproxy.sh', kind: 'file' },
  { path: '/etc/default/kubelet', kind: 'file' },
  { path: '/etc/crictl.yaml', kind: 'file' },
  { path: '/etc/fstab', kind: 'file' },
  { path: '/etc/hosts', kind: 'file' },
  { path: '/var/lib/kubelet/config.yaml', kind: 'file' },
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

/** True for an allowed file, or an allowed directory or anything below one. */
export function isInsideAllowlist(path: string): boolean {
  return WRITE_ALLOWLIST.some((a) => path === a.path || (a.kind === 'dir' && path.startsWith(`${a.path}/`)));
}
