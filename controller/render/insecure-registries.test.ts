import { describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import { registryFiles, renderHostsToml } from './containerd.js';
import { registrySecurityProblems } from './insecure-registries.js';

const CA = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';

describe('insecure registries in hosts.toml', () => {
  it('keeps a listed http:// mirror plain http, without skip_verify', () => {
    const toml = renderHostsToml('registry.k8s.io', ['http://registry.lab:5000'], undefined, [
      'registry.lab:5000',
    ]);
    expect(toml).toContain('[host."http://registry.lab:5000"]');
    expect(toml).not.toContain('skip_verify');
    expect(toml).toContain('server = "https://registry.k8s.io"');
  });

  it('skips verification of a listed https:// mirror only', () => {
    const toml = renderHostsToml('docker.io', ['https://unverified.lab', 'https://verified.lab'], undefined, [
      'unverified.lab',
    ]);
    const [unverified, verified] = toml.split('[host.').slice(1);
    expect(unverified).toContain('skip_verify = true');
    expect(verified).not.toContain('skip_verify');
  });

  it('gives a listed registry that is no mirror its own hosts.toml with a plain http server', () => {
    const files = registryFiles({
      registryMirrors: {},
      registryCAs: {},
      insecureRegistries: ['10.0.0.5:5000'],
    });
    expect(files.map((f) => f.path)).toEqual(['/etc/containerd/certs.d/10.0.0.5:5000/hosts.toml']);
    expect(files[0]?.content).toContain('server = "http://10.0.0.5:5000"');
  });

  it('renders nothing insecure without the field (an https mirror stays verified)', () => {
    const files = registryFiles({ registryMirrors: { 'docker.io': ['https://m.lab'] }, registryCAs: {} });
    expect(files.map((f) => f.content).join('')).not.toMatch(/skip_verify|http:\/\//);
  });
});

describe('ambiguous or silently insecure registry setups are refused, naming the field', () => {
  it.each([
    [
      'a plain-http mirror not listed',
      { registryMirrors: { 'registry.k8s.io': ['http://r.lab:5000'] }, registryCAs: {} },
      'runtime.containerd.registryMirrors.registry.k8s.io[0]',
      /list "r.lab:5000" in runtime.containerd.insecureRegistries/,
    ],
    [
      'a host with a CA listed as insecure',
      {
        registryMirrors: { 'docker.io': ['https://r.lab'] },
        registryCAs: { 'r.lab': CA },
        insecureRegistries: ['r.lab'],
      },
      'runtime.containerd.insecureRegistries',
      /has a CA in runtime.containerd.registryCAs/,
    ],
    [
      'one host over http and https',
      {
        registryMirrors: { 'docker.io': ['http://r.lab'], 'quay.io': ['https://r.lab'] },
        registryCAs: {},
        insecureRegistries: ['r.lab'],
      },
      'runtime.containerd.insecureRegistries',
      /both as http:\/\/ and https:\/\//,
    ],
    [
      '_default listed',
      { registryMirrors: {}, registryCAs: {}, insecureRegistries: ['_default'] },
      'runtime.containerd.insecureRegistries',
      /"_default"/,
    ],
  ])('%s', (_name, input, path, message) => {
    const problems = registrySecurityProblems(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe(path);
    expect(problems[0]?.message).toMatch(message);
    let err: unknown;
    try {
      registryFiles(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KctlError);
    expect((err as KctlError).message).toContain(path);
  });

  it('accepts a listed plain-http mirror', () => {
    expect(
      registrySecurityProblems({
        registryMirrors: { 'registry.k8s.io': ['http://r.lab:5000'] },
        registryCAs: {},
        insecureRegistries: ['r.lab:5000'],
      }),
    ).toEqual([]);
  });
});
