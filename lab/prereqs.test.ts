import { describe, expect, it } from 'vitest';
import { describeMissing, findProgram } from './prereqs.js';

const nspawn = { program: 'systemd-nspawn', pkg: 'systemd-container' };
const mmdebstrap = { program: 'mmdebstrap', pkg: 'mmdebstrap' };

describe('lab prerequisites', () => {
  it.each([
    ['root with everything', { isRoot: true, missing: [] }, undefined],
    [
      'root without systemd-nspawn and mmdebstrap',
      { isRoot: true, missing: [nspawn, mmdebstrap] },
      {
        message: 'The fleet lab cannot run here: missing programs: systemd-nspawn, mmdebstrap',
        remedy: 'apt-get install systemd-container mmdebstrap',
      },
    ],
    [
      'not root, with everything',
      { isRoot: false, missing: [] },
      {
        message:
          'The fleet lab cannot run here: it must run as root (it creates network namespaces, mounts and containers)',
        remedy: 'run as root (sudo)',
      },
    ],
    [
      'not root and without systemd-nspawn',
      { isRoot: false, missing: [nspawn] },
      {
        message:
          'The fleet lab cannot run here: it must run as root (it creates network namespaces, mounts and containers); missing programs: systemd-nspawn',
        remedy: 'run as root (sudo) after: sudo apt-get install systemd-container',
      },
    ],
  ])('%s', (_name, report, want) => {
    expect(describeMissing(report)).toEqual(want);
  });

  it('a program is found on the given PATH and a missing one is not', async () => {
    expect(await findProgram('sh', '/usr/bin:/bin')).toMatch(/\/sh$/);
    expect(await findProgram('kctl-no-such-program', '/usr/bin:/bin')).toBeUndefined();
  });
});
