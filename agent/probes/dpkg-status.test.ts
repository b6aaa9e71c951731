import { describe, expect, it } from 'vitest';
import { parseDpkgStatus } from './dpkg-status.js';

const STATUS = `Package: containerd
Status: install ok installed
Priority: optional
Version: 1.6.20~ds1-1+deb12u3
Description: daemon to control runC

Package: containerd.io
Status: deinstall ok config-files
Version: 1.7.22-1

Package: runc
Status: hold ok installed
Version: 1.1.5+ds1-1+deb12u1
`;

describe('dpkg status', () => {
  it.each([
    ['an installed package', 'containerd', '1.6.20~ds1-1+deb12u3'],
    ['a held one', 'runc', '1.1.5+ds1-1+deb12u1'],
    ['not one with config files only', 'containerd.io', undefined],
    ['not one that is absent', 'kubelet', undefined],
  ])('reads %s', (_what, name, want) => {
    expect(parseDpkgStatus(STATUS, new Set([name])).get(name)).toBe(want);
  });
});
