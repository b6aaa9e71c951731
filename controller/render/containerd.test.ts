import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KctlError } from '../../proto/errors.js';
import {
  CONTAINERD_CERTS_DIR,
  checkContainerdConfigFits,
  containerdConfigVersion,
  containerdMajor,
  PAUSE_VERSIONS,
  pauseImageFor,
  registryFiles,
  renderContainerdConfig,
  renderContainerdFiles,
  renderHostsToml,
} from './containerd.js';
import { CRICTL_CONFIG_PATH, renderCrictlConfig } from './crictl.js';

type Table = { [key: string]: Table | string | number | boolean | string[] };

/** Just the TOML kctl writes: [dotted."quoted".headers], key = string | int | bool | [strings]. */
function parseTomlSubset(text: string): Table {
  const root: Table = {};
  let table = root;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      table = root;
      for (const m of header[1]!.matchAll(/"([^"]*)"|([A-Za-z0-9_-]+)/g)) {
        const key = m[1] ?? m[2]!;
        table = (table[key] ??= {}) as Table;
      }
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+) = (.+)$/.exec(line);
    if (!kv) throw new Error(`not in the TOML subset: ${line}`);
    table[kv[1]!] = JSON.parse(kv[2]!) as Table[string];
  }
  return root;
}
const at = (t: Table, ...path: string[]): unknown => path.reduce<unknown>((x, k) => (x as Table)[k], t);

describe('containerd config.toml', () => {
  it.each([1, 2] as const)(
    'for containerd %s.x has the right header, SystemdCgroup, sandbox image and config_path',
    (major) => {
      const toml = parseTomlSubset(
        renderContainerdConfig({
          containerdMajor: major,
          pauseImage: 'registry.k8s.io/pause:3.10',
          registryConfigPath: CONTAINERD_CERTS_DIR,
        }),
      );
      const v = containerdConfigVersion(major);
      expect(v).toBe(major === 1 ? 2 : 3);
      expect(toml.version).toBe(v);
      expect(toml.disabled_plugins).toEqual([]);
      if (v === 2) {
        const cri = ['plugins', 'io.containerd.grpc.v1.cri'];
        expect(at(toml, ...cri, 'containerd', 'runtimes', 'runc', 'options', 'SystemdCgroup')).toBe(true);
        expect(at(toml, ...cri, 'containerd', 'runtimes', 'runc', 'runtime_type')).toBe(
          'io.containerd.runc.v2',
        );
        expect(at(toml, ...cri, 'sandbox_image')).toBe('registry.k8s.io/pause:3.10');
        expect(at(toml, ...cri, 'registry', 'config_path')).toBe('/etc/containerd/certs.d');
      } else {
        const runtime = ['plugins', 'io.containerd.cri.v1.runtime'];
        const images = ['plugins', 'io.containerd.cri.v1.images'];
        expect(at(toml, ...runtime, 'containerd', 'runtimes', 'runc', 'options', 'SystemdCgroup')).toBe(true);
        expect(at(toml, ...runtime, 'containerd', 'runtimes', 'runc', 'runtime_type')).toBe(
          'io.containerd.runc.v2',
        );
        expect(at(toml, ...images, 'pinned_images', 'sandbox')).toBe('registry.k8s.io/pause:3.10');
        expect(at(toml, ...images, 'registry', 'config_path')).toBe('/etc/containerd/certs.d');
        expect(toml.plugins).not.toHaveProperty('io.containerd.grpc.v1.cri');
      }
    },
  );

  it.each([
    ['1.6', 1],
    ['1.7', 1],
    ['1.7.27', 1],
    ['2.0', 2],
    ['2.2', 2],
  ] as const)('treats containerd %s as major %d', (version, major) => {
    expect(containerdMajor(version)).toBe(major);
  });

  it.each(['3.0', 'latest', '2'])('refuses containerd %j', (version) => {
    expect(() => containerdMajor(version)).toThrow(KctlError);
  });

  it.each([
    ['v1.29.15', 'registry.k8s.io/pause:3.9'],
    ['v1.30.14', 'registry.k8s.io/pause:3.9'],
    ['v1.31.2', 'registry.k8s.io/pause:3.10'],
    ['v1.33.4', 'registry.k8s.io/pause:3.10'],
    ['v1.34.1', 'registry.k8s.io/pause:3.10.1'],
    ['v1.35.0', 'registry.k8s.io/pause:3.10.1'],
  ])('uses kubeadm pause image for %s: %s', (version, image) => {
    expect(pauseImageFor(version)).toBe(image);
  });

  it('knows a pause image for every supported minor, from the cluster image repository', () => {
    for (let minor = 29; minor <= 35; minor++) expect(PAUSE_VERSIONS[minor], `1.${minor}`).toBeDefined();
    expect(pauseImageFor('v1.31.2', 'registry.example:5000/k8s')).toBe(
      'registry.example:5000/k8s/pause:3.10',
    );
    expect(() => pauseImageFor('v1.99.0')).toThrow(/No pause image/);
  });
});

describe('registry hosts.toml', () => {
  it('lists mirrors in order with pull and resolve, then the registry itself', () => {
    const toml = parseTomlSubset(
      renderHostsToml('docker.io', ['https://m1.example', 'https://m2.example:8443']),
    );
    expect(toml.server).toBe('https://registry-1.docker.io');
    expect(Object.keys(toml.host as Table)).toEqual(['https://m1.example', 'https://m2.example:8443']);
    expect(at(toml, 'host', 'https://m1.example', 'capabilities')).toEqual(['pull', 'resolve']);
  });

  it('writes CA files and points the registry and its mirrors at them', () => {
    const files = registryFiles({
      registryMirrors: { 'docker.io': ['https://mirror.example:5000'] },
      registryCAs: {
        'mirror.example:5000': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----',
        'registry.example': '-----BEGIN CERTIFICATE-----\ny\n-----END CERTIFICATE-----\n',
      },
    });
    expect(files.map((f) => f.path)).toEqual([
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/mirror.example:5000/hosts.toml',
      '/etc/containerd/certs.d/mirror.example:5000/ca.crt',
      '/etc/containerd/certs.d/registry.example/hosts.toml',
      '/etc/containerd/certs.d/registry.example/ca.crt',
    ]);
    const dockerIo = parseTomlSubset(files[0]!.content);
    expect(at(dockerIo, 'host', 'https://mirror.example:5000', 'ca')).toBe(
      '/etc/containerd/certs.d/mirror.example:5000/ca.crt',
    );
    expect(parseTomlSubset(files[3]!.content)).toEqual({
      server: 'https://registry.example',
      ca: '/etc/containerd/certs.d/registry.example/ca.crt',
    });
    expect(
      files
        .filter((f) => f.path.endsWith('ca.crt'))
        .every((f) => f.content.endsWith('-----END CERTIFICATE-----\n')),
    ).toBe(true);
  });

  it('has no server line for _default', () => {
    expect(parseTomlSubset(renderHostsToml('_default', ['https://m.example']))).not.toHaveProperty('server');
  });

  it('points the registry and every mirror at one CA file when given a path', () => {
    const toml = parseTomlSubset(
      renderHostsToml('quay.io', ['https://m1.example', 'https://m2.example'], '/etc/ca/quay.crt'),
    );
    expect(toml).toEqual({
      server: 'https://quay.io',
      ca: '/etc/ca/quay.crt',
      host: {
        'https://m1.example': { capabilities: ['pull', 'resolve'], ca: '/etc/ca/quay.crt' },
        'https://m2.example': { capabilities: ['pull', 'resolve'], ca: '/etc/ca/quay.crt' },
      },
    });
  });

  it('has no ca line without a CA', () => {
    expect(renderHostsToml('docker.io', ['https://m.example'])).not.toMatch(/\bca = /);
  });

  it('puts the registry files under the config_path the config names', () => {
    const files = renderContainerdFiles(
      {
        containerdMajor: 2,
        pauseImage: 'registry.k8s.io/pause:3.10',
        registryConfigPath: '/etc/kctl/certs.d',
      },
      { registryMirrors: { 'docker.io': ['https://m.example'] }, registryCAs: {} },
    );
    expect(files.map((f) => f.path)).toEqual([
      '/etc/containerd/config.toml',
      '/etc/kctl/certs.d/docker.io/hosts.toml',
    ]);
    expect(files[0]!.content).toContain('config_path = "/etc/kctl/certs.d"');
  });
});

describe('crictl.yaml', () => {
  it('points both endpoints at containerd, at /etc/crictl.yaml', () => {
    expect(CRICTL_CONFIG_PATH).toBe('/etc/crictl.yaml');
    expect(parse(renderCrictlConfig())).toEqual({
      'runtime-endpoint': 'unix:///run/containerd/containerd.sock',
      'image-endpoint': 'unix:///run/containerd/containerd.sock',
      timeout: 10,
      debug: false,
    });
  });
});

describe('containerd config version against the installed containerd', () => {
  it.each([
    ['1.7', '1.6.20~ds1-1+deb12u3'],
    ['1.6', '1.7.24~ds1-1'],
    ['2.1', '2.1.4-0ubuntu1'],
    ['2.0', '1:2.0.2-1'],
    ['1.7', undefined],
  ])('accepts runtime.containerd.version %s with containerd %s installed', (declared, installed) => {
    expect(() => checkContainerdConfigFits(declared, installed, 'w-1')).not.toThrow();
  });

  it.each([
    ['2.1', '1.6.20~ds1-1+deb12u3', /containerd 1\.x ignores a version 3 config/, '1.6'],
    ['1.7', '2.0.2-1', /must be written for the containerd that reads it/, '2.0'],
  ])(
    'refuses %s with containerd %s installed, naming the field and the host',
    (declared, installed, why, line) => {
      let err: unknown;
      try {
        checkContainerdConfigFits(declared, installed, 'w-1');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KctlError);
      const k = err as KctlError;
      expect(k.code).toBe('invalid_spec');
      expect(k.message).toMatch(
        /^runtime\.containerd\.version is ".*" \(config version \d\), but host "w-1" has containerd/,
      );
      expect(k.message).toMatch(why);
      expect(k.details).toMatchObject({ field: 'runtime.containerd.version', host: 'w-1' });
      expect(String(k.details?.remedy)).toContain(`"${line}"`);
    },
  );

  it('config.toml asks for a containerd restart when it changes; the certs.d files do not', () => {
    const files = renderContainerdFiles(
      {
        containerdMajor: 1,
        pauseImage: 'registry.k8s.io/pause:3.10',
        registryConfigPath: CONTAINERD_CERTS_DIR,
      },
      { registryMirrors: { 'docker.io': ['https://mirror.example'] }, registryCAs: {} },
    );
    expect(files.map((f) => [f.path, f.restarts])).toEqual([
      ['/etc/containerd/config.toml', ['containerd.service']],
      ['/etc/containerd/certs.d/docker.io/hosts.toml', undefined],
    ]);
  });
});
