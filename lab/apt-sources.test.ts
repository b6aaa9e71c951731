import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseDeb822Sources,
  parseOneLineSources,
  parseOsCodename,
  readMachineDistroSources,
  renderOneLineSource,
  selectDistroSources,
  type AptSource,
} from './apt-sources.js';

const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

describe('apt sources', () => {
  it('deb822 paragraphs give one source per URI and suite', () => {
    expect(parseDeb822Sources(DEBIAN_SOURCES)).toEqual([
      {
        type: 'deb',
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm',
        components: ['main'],
        signedBy: KEYRING,
      },
      {
        type: 'deb',
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm-updates',
        components: ['main'],
        signedBy: KEYRING,
      },
      {
        type: 'deb',
        uri: 'http://deb.debian.org/debian-security',
        suite: 'bookworm-security',
        components: ['main'],
        signedBy: KEYRING,
      },
    ]);
  });

  it.each([
    [
      'a paragraph with Enabled: no',
      'Types: deb\nURIs: http://x/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n',
      [],
    ],
    [
      'an inline key block in Signed-By (not carried over)',
      'Types: deb\nURIs: http://x/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n',
      [{ type: 'deb', uri: 'http://x/debian', suite: 'bookworm', components: ['main'] }],
    ],
    [
      'deb and deb-src types',
      'Types: deb deb-src\nURIs: http://x/debian\nSuites: trixie\nComponents: main contrib\n',
      [
        { type: 'deb', uri: 'http://x/debian', suite: 'trixie', components: ['main', 'contrib'] },
        { type: 'deb-src', uri: 'http://x/debian', suite: 'trixie', components: ['main', 'contrib'] },
      ],
    ],
  ] as [string, string, AptSource[]][])('deb822 parsing handles %s', (_name, text, want) => {
    expect(parseDeb822Sources(text)).toEqual(want);
  });

  it.each([
    [
      'a plain line',
      'deb http://x/debian bookworm main',
      [{ type: 'deb', uri: 'http://x/debian', suite: 'bookworm', components: ['main'] }],
    ],
    [
      'options in brackets',
      'deb [arch=amd64 signed-by=/k.gpg] http://x/debian bookworm main non-free',
      [
        {
          type: 'deb',
          uri: 'http://x/debian',
          suite: 'bookworm',
          components: ['main', 'non-free'],
          signedBy: '/k.gpg',
        },
      ],
    ],
    ['comments and blank lines', '# deb http://x/debian bookworm main\n\n  # nothing\n', []],
    [
      'a trailing comment',
      'deb http://x/d bookworm main # mirror',
      [{ type: 'deb', uri: 'http://x/d', suite: 'bookworm', components: ['main'] }],
    ],
  ] as [string, string, AptSource[]][])('one-line parsing handles %s', (_name, text, want) => {
    expect(parseOneLineSources(text)).toEqual(want);
  });

  it('only the machine release and its -updates/-security suites are selected, once each', () => {
    const all = [
      ...parseDeb822Sources(DEBIAN_SOURCES),
      ...parseOneLineSources(
        'deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n' +
          'deb http://deb.debian.org/debian bookworm main\n' +
          'deb-src http://deb.debian.org/debian bookworm main\n' +
          'deb https://deb.nodesource.com/node_20.x nodistro main\n',
      ),
    ];
    expect(selectDistroSources(all, 'bookworm').map((s) => `${s.uri} ${s.suite}`)).toEqual([
      'http://deb.debian.org/debian bookworm',
      'http://deb.debian.org/debian bookworm-updates',
      'http://deb.debian.org/debian-security bookworm-security',
    ]);
  });

  it('renders one line per suite, so apt never reads a second suite as a component', () => {
    expect(
      renderOneLineSource({
        type: 'deb',
        uri: 'http://x/debian',
        suite: 'bookworm-updates',
        components: ['main'],
        signedBy: '/k.gpg',
      }),
    ).toBe('deb [signed-by=/k.gpg] http://x/debian bookworm-updates main');
  });

  it.each([
    ['VERSION_CODENAME=bookworm\n', 'bookworm'],
    ['NAME="Debian"\nVERSION_CODENAME="trixie"\n', 'trixie'],
    ['NAME="Other"\n', undefined],
  ])('the codename of os-release %j is %s', (text, want) => {
    expect(parseOsCodename(text)).toBe(want);
  });

  it('reads .list and .sources files but not disabled ones', async () => {
    const etc = await mkdtemp(join(tmpdir(), 'kctl-apt-'));
    try {
      await mkdir(join(etc, 'apt/sources.list.d'), { recursive: true });
      await writeFile(join(etc, 'os-release'), 'VERSION_CODENAME=bookworm\n');
      await writeFile(join(etc, 'apt/sources.list.d/debian.sources'), DEBIAN_SOURCES);
      await writeFile(
        join(etc, 'apt/sources.list.d/extra.list'),
        'deb http://mirror.example/debian bookworm-backports main\n',
      );
      await writeFile(
        join(etc, 'apt/sources.list.d/old.list.disabled-by-farm'),
        'deb http://elsewhere/debian bookworm main\n',
      );
      const { codename, sources } = await readMachineDistroSources(etc);
      expect(codename).toBe('bookworm');
      expect(sources.map((s) => s.uri)).not.toContain('http://elsewhere/debian');
      expect(sources.map((s) => s.suite)).toEqual([
        'bookworm',
        'bookworm-updates',
        'bookworm-security',
        'bookworm-backports',
      ]);
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });

  it('a machine without a source for its release is refused with a remedy', async () => {
    const etc = await mkdtemp(join(tmpdir(), 'kctl-apt-'));
    try {
      await writeFile(join(etc, 'os-release'), 'VERSION_CODENAME=bookworm\n');
      await expect(readMachineDistroSources(etc)).rejects.toMatchObject({
        code: 'invalid_config',
        details: { remedy: expect.stringContaining('bookworm') as unknown },
      });
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });
});
