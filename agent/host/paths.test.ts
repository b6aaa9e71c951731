import { describe, expect, it } from 'vitest';
import { checkWritablePath, isInsideAllowlist, WRITE_ALLOWLIST } from './paths.js';

describe('checkWritablePath (S16 lexical checks)', () => {
  it.each([
    '/etc/kubernetes/admin.conf',
    '/etc/kubernetes/manifests/kube-vip.yaml',
    '/etc/sysctl.d/99-kctl.conf',
    '/etc/modules-load.d/kctl.conf',
    '/etc/fstab',
    '/etc/hosts',
    '/etc/crictl.yaml',
    '/etc/containerd/certs.d/registry.example:5000/hosts.toml',
    '/var/lib/kctl-agent/backups/abc',
  ])('allows %s', (path) => {
    expect(checkWritablePath(path)).toBe(path);
  });

  it.each([
    ['a relative path', 'etc/kubernetes/x', /not absolute/],
    ['a ".." segment', '/etc/kubernetes/../passwd', /contains "\.\."/],
    ['a ".." that stays inside', '/etc/kubernetes/pki/../admin.conf', /contains "\.\."/],
    ['a NUL byte', '/etc/kubernetes/a\0b', /NUL/],
    ['a "." segment', '/etc/kubernetes/./admin.conf', /normal form/],
    ['a double slash', '/etc//kubernetes/admin.conf', /normal form/],
    ['a trailing slash', '/etc/kubernetes/', /normal form/],
    ['a file outside the list', '/etc/passwd', /allow-list/],
    ['a sibling sharing a prefix', '/etc/kubernetes-evil/x', /allow-list/],
    ['a file below an allowed single file', '/etc/hosts/x', /allow-list/],
    ['a file next to an allowed single file', '/etc/hosts.allow', /allow-list/],
  ])('refuses %s', (_what, path, message) => {
    expect(() => checkWritablePath(path)).toThrow(message);
    try {
      checkWritablePath(path);
    } catch (err) {
      expect(err).toMatchObject({ code: 'path_not_allowed' });
    }
  });

  it('keeps the allow-list absolute and normalised', () => {
    for (const { path } of WRITE_ALLOWLIST) {
      expect(checkWritablePath(path)).toBe(path);
      expect(isInsideAllowlist(path)).toBe(true);
    }
  });
});
