import { describe, expect, it } from 'vitest';
import { BASE_PACKAGES, LAB_CLOUD_CFG, baseRootfsKey, mmdebstrapArgs } from './rootfs.js';
import { parse } from 'yaml';

const input = {
  suite: 'bookworm',
  sources: [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
  ],
  packages: [...BASE_PACKAGES],
  arch: 'amd64',
};

describe('base root filesystem', () => {
  it('the cache key ignores the order of packages and sources', () => {
    expect(
      baseRootfsKey({
        ...input,
        packages: [...input.packages].reverse(),
        sources: [...input.sources].reverse(),
      }),
    ).toBe(baseRootfsKey(input));
  });

  it.each([
    ['another package', { ...input, packages: [...input.packages, 'vim'] }],
    ['another mirror', { ...input, sources: ['deb http://mirror.example/debian bookworm main'] }],
    ['another architecture', { ...input, arch: 'arm64' }],
    ['another release', { ...input, suite: 'trixie' }],
  ])('the cache key changes with %s', (_name, other) => {
    expect(baseRootfsKey(other)).not.toBe(baseRootfsKey(input));
  });

  it('the package list has what a host needs to boot, run cloud-init and apt', () => {
    for (const p of [
      'systemd',
      'systemd-sysv',
      'dbus',
      'cloud-init',
      'ca-certificates',
      'iproute2',
      'curl',
    ]) {
      expect(BASE_PACKAGES).toContain(p);
    }
  });

  it('mmdebstrap gets the machine suite, the packages and one source line per suite', () => {
    const args = mmdebstrapArgs(input, '/cache/tmp');
    expect(args.slice(0, 4)).toEqual([
      '--mode=root',
      '--format=directory',
      '--variant=apt',
      '--architectures=amd64',
    ]);
    expect(args[4]).toMatch(/^--include=.*cloud-init.*systemd-sysv/);
    expect(args.slice(5)).toEqual(['bookworm', '/cache/tmp', ...input.sources]);
  });

  it('cloud-init on lab hosts reads only the NoCloud seed', () => {
    expect(parse(LAB_CLOUD_CFG)).toMatchObject({ datasource_list: ['NoCloud', 'None'], locale: 'C.UTF-8' });
  });
});
