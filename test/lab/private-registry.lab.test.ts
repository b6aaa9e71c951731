import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../agent/host/local-host.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { trustStoreStep } from '../../agent/steps/trust-store.js';
import type { ClusterSpec } from '../../proto/cluster-spec.js';
import { parseClusterSpec } from '../../controller/spec/parse.js';
import { registryInputFor } from '../../controller/render/cluster-spec-inputs.js';
import { registryFiles, renderContainerdConfig } from '../../controller/render/containerd.js';
import { registryTrustStore } from '../../controller/render/trust-store.js';
import {
  daemon,
  freePort,
  makeTestImage,
  skopeoCopy,
  stop,
  waitFor,
  type Daemon,
} from './oci-test-images.js';

/**
 * A private registry with its own CA, for real: Debian's docker-registry serving TLS from a test
 * CA, an OCI image built with umoci and pushed with skopeo, and a real containerd 1.6 that pulls
 * registry.k8s.io/pause:3.10 through the mirror kctl renders from cluster.yaml. Root only; every
 * process and directory is removed afterwards.
 */

const PROGRAMS: ReadonlyArray<[program: string, pkg: string]> = [
  ['docker-registry', 'docker-registry'],
  ['skopeo', 'skopeo'],
  ['umoci', 'umoci'],
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
  ['openssl', 'openssl'],
  ['curl', 'curl'],
  ['update-ca-certificates', 'ca-certificates'],
];

const IMAGE = 'registry.k8s.io/pause:3.10';

/** A CA and a serving certificate for 127.0.0.1 signed by it, made with openssl. */
async function makeCertificates(dir: string): Promise<void> {
  const o = (args: string[]) => execa('openssl', args, { cwd: dir });
  await o(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-subj',
      '/CN=kctl private registry test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]),
  );
  await o(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ]),
  );
  await o(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-subj',
      '/CN=some other CA',
      '-keyout',
      'other-ca.key',
      '-out',
      'other-ca.crt',
    ]),
  );
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await o(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ]),
  );
}

function clusterYaml(port: number, ca: string | undefined): string {
  const caLines =
    ca === undefined
      ? []
      : [
          '    registryCAs:',
          `      127.0.0.1:${port}: |`,
          ...ca
            .trimEnd()
            .split('\n')
            .map((l) => `        ${l}`),
        ];
  return [
    'apiVersion: kctl.dev/v1alpha1',
    'kind: Cluster',
    'name: registry-lab',
    'kubernetesVersion: v1.31.2',
    'controlPlaneEndpoint: {host: 198.18.0.100}',
    'ha: {mode: kube-vip, interface: eth0}',
    'runtime:',
    '  containerd:',
    '    version: "1.6"',
    '    registryMirrors:',
    `      registry.k8s.io: ['https://127.0.0.1:${port}']`,
    ...caLines,
    'hosts:',
    '  - {name: cp-1, role: control-plane}',
    '',
  ].join('\n');
}

function specOf(text: string): ClusterSpec {
  const r = parseClusterSpec(text);
  if (!r.ok) throw new Error(`cluster.yaml refused: ${JSON.stringify(r.errors)}`);
  return r.spec;
}

/** kctl's certs.d for this cluster.yaml, written under `dir` (what the agent's file steps write under /etc/containerd/certs.d). */
async function writeCertsD(spec: ClusterSpec, dir: string): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  const files = registryFiles(registryInputFor(spec), dir);
  for (const f of files) {
    await mkdir(join(f.path, '..'), { recursive: true });
    await writeFile(f.path, f.content, { mode: f.mode });
  }
  return files.map((f) => f.path);
}

const missing: string[] = [];
const isRoot = process.getuid?.() === 0;
for (const [program, pkg] of PROGRAMS) {
  const found = await execa('sh', ['-c', `command -v ${program} || test -x /usr/sbin/${program}`], {
    reject: false,
    env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
  });
  if (found.exitCode !== 0) missing.push(`${program} (Debian package ${pkg})`);
}

describe('a private registry with its own CA, pulled through kctl’s mirror config by real containerd', () => {
  let work = '';
  let port = 0;
  let registry: Daemon | undefined;
  let containerd: Daemon | undefined;
  let sock = '';
  let ca = '';
  let pushedDigest = '';

  beforeAll(async () => {
    if (!isRoot) throw new Error('the private registry lab test needs root (containerd snapshots, mounts)');
    if (missing.length > 0)
      throw new Error(`the private registry lab test needs: ${missing.join(', ')} (apt-get install them)`);
    work = await mkdtemp('/var/tmp/kctl-registry-lab-');
    await makeCertificates(work);
    ca = await readFile(join(work, 'ca.crt'), 'utf8');
    port = await freePort();

    // the registry: TLS from the test CA, storage in the temp dir, loopback only
    await writeFile(
      join(work, 'registry.yml'),
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${join(work, 'registry-data')}}}`,
        'http:',
        `  addr: 127.0.0.1:${port}`,
        `  tls: {certificate: ${join(work, 'server.crt')}, key: ${join(work, 'server.key')}}`,
        '',
      ].join('\n'),
    );
    registry = daemon('docker-registry', ['serve', join(work, 'registry.yml')]);
    await waitFor('docker-registry', async () => {
      const r = await execa(
        'curl',
        ['-sf', '--cacert', join(work, 'ca.crt'), `https://127.0.0.1:${port}/v2/`],
        {
          reject: false,
        },
      );
      return r.exitCode === 0;
    });

    // a small OCI image made here, tagged with the real name, pushed over TLS trusting only the test CA
    const source = await makeTestImage(join(work, 'oci'), 'pause', {
      name: 'pause',
      content: 'kctl test image: stands in for pause\n',
    });
    const certDir = join(work, 'skopeo-certs');
    await mkdir(certDir);
    await writeFile(join(certDir, 'ca.crt'), ca);
    pushedDigest = await skopeoCopy(work, source, `docker://127.0.0.1:${port}/pause:3.10`, [
      '--dest-cert-dir',
      certDir,
    ]);

    // a real containerd of its own, on the config kctl renders, with kctl's certs.d as config_path
    sock = join(work, 'containerd.sock');
    const certsD = join(work, 'certs.d');
    await mkdir(certsD);
    await writeFile(
      join(work, 'config.toml'),
      renderContainerdConfig({
        containerdMajor: 1,
        pauseImage: 'registry.k8s.io/pause:3.10',
        registryConfigPath: certsD,
      }),
    );
    containerd = daemon(
      'containerd',
      [
        '--config',
        join(work, 'config.toml'),
        '--root',
        join(work, 'root'),
        '--state',
        join(work, 'state'),
      ].concat(['--address', sock, '--log-level', 'warn']),
    );
    await waitFor('containerd', async () => {
      const r = await execa('ctr', ['-a', sock, '--timeout', '2s', 'version'], { reject: false });
      return r.exitCode === 0;
    });
  }, 80_000);

  afterAll(async () => {
    await stop(containerd);
    await stop(registry);
    if (work !== '') {
      // containerd's snapshots may hold mounts under its root; unmount before removing
      await execa(
        'sh',
        ['-c', `grep -o " ${work}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`],
        {
          reject: false,
        },
      );
      await rm(work, { recursive: true, force: true });
    }
  }, 30_000);

  const pull = () =>
    execa(
      'ctr',
      ['-a', sock, '-n', 'k8s.io', 'images', 'pull', '--hosts-dir', join(work, 'certs.d'), IMAGE],
      { reject: false, all: true, timeout: 30_000 },
    );

  it('fails without kctl’s certs.d, fails with the mirror but no CA, and succeeds with both', async () => {
    // 1. no certs.d: registry.k8s.io itself, unreachable here
    const before = await pull();
    expect(before.exitCode).not.toBe(0);

    // 2. the mirror without the registry's CA: TLS refused, so the CA in certs.d is what makes 3 work
    const noCa = await writeCertsD(specOf(clusterYaml(port, undefined)), join(work, 'certs.d'));
    expect(noCa.map((p) => p.slice(work.length))).toEqual(['/certs.d/registry.k8s.io/hosts.toml']);
    const untrusted = await pull();
    expect(untrusted.exitCode).not.toBe(0);
    expect(untrusted.all).toMatch(/certificate|x509/i);

    // 3. cluster.yaml with registryMirrors and registryCAs: the pull goes through the mirror
    const files = await writeCertsD(specOf(clusterYaml(port, ca)), join(work, 'certs.d'));
    expect(files.map((p) => p.slice(work.length))).toEqual([
      `/certs.d/127.0.0.1:${port}/hosts.toml`,
      `/certs.d/127.0.0.1:${port}/ca.crt`,
      '/certs.d/registry.k8s.io/hosts.toml',
    ]);
    const after = await pull();
    expect(after.all).toContain(IMAGE);
    expect(after.exitCode).toBe(0);
    const ls = await execa('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'ls']);
    const line = ls.stdout.split('\n').find((l) => l.startsWith(`${IMAGE} `));
    expect(line).toContain(pushedDigest);
  }, 60_000);

  it('an http-only registry: refused unless insecureRegistries lists it, then pulled from over plain http', async () => {
    // the same storage served without TLS on another port
    const httpPort = await freePort();
    await writeFile(
      join(work, 'registry-http.yml'),
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${join(work, 'registry-data')}}}`,
        `http: {addr: 127.0.0.1:${httpPort}}`,
        '',
      ].join('\n'),
    );
    const plain = daemon('docker-registry', ['serve', join(work, 'registry-http.yml')]);
    try {
      await waitFor('plain-http docker-registry', async () => {
        const r = await execa('curl', ['-sf', `http://127.0.0.1:${httpPort}/v2/`], { reject: false });
        return r.exitCode === 0;
      });
      const mirror = (extra: string): string =>
        clusterYaml(port, undefined).replace(
          `'https://127.0.0.1:${port}'`,
          `'http://127.0.0.1:${httpPort}'`,
        ) + extra;
      const refused = parseClusterSpec(mirror(''));
      expect(refused.ok).toBe(false);
      expect(!refused.ok && refused.errors.map((e) => e.path)).toContain(
        'runtime.containerd.registryMirrors.registry.k8s.io[0]',
      );

      await execa('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'rm', IMAGE], { reject: false });
      const spec = specOf(
        mirror('').replace(
          `    registryMirrors:`,
          `    insecureRegistries: ['127.0.0.1:${httpPort}']\n    registryMirrors:`,
        ),
      );
      await writeCertsD(spec, join(work, 'certs.d'));
      const toml = await readFile(join(work, 'certs.d/registry.k8s.io/hosts.toml'), 'utf8');
      expect(toml).toContain(`[host."http://127.0.0.1:${httpPort}"]`);
      const r = await pull();
      expect(r.exitCode, r.all).toBe(0);
      const ls = await execa('ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'ls']);
      expect(ls.stdout.split('\n').find((l) => l.startsWith(`${IMAGE} `))).toContain(pushedDigest);
    } finally {
      await stop(plain);
    }
  }, 30_000);

  it('the trust-store step makes curl trust the registry with the host’s own CA bundle', async () => {
    const spec = specOf(clusterYaml(port, ca));
    const certificates =
      registryTrustStore(spec.runtime.containerd.registryCAs).trustStore?.certificates ?? [];
    expect(certificates.map((c) => c.name)).toEqual([`127.0.0.1_${port}`]);

    // a host root with an empty Debian trust store; the real update-ca-certificates, told that root's paths
    const root = join(work, 'host');
    for (const d of ['etc/ssl/certs', 'usr/share/ca-certificates', 'usr/local/share/ca-certificates'])
      await mkdir(join(root, d), { recursive: true });
    await mkdir(join(root, 'etc/ca-certificates/update.d'), { recursive: true });
    await writeFile(join(root, 'etc/ca-certificates.conf'), '');
    // the bundle holds another CA only, as a host's public roots would: not the registry's
    await writeFile(
      join(root, 'etc/ssl/certs/ca-certificates.crt'),
      await readFile(join(work, 'other-ca.crt')),
    );
    const bin = join(work, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'update-ca-certificates'),
      [
        '#!/bin/sh',
        `r=${root}`,
        'exec /usr/sbin/update-ca-certificates --certsconf "$r/etc/ca-certificates.conf" --certsdir "$r/usr/share/ca-certificates" \\',
        '  --localcertsdir "$r/usr/local/share/ca-certificates" --etccertsdir "$r/etc/ssl/certs" --hooksdir "$r/etc/ca-certificates/update.d"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const host = new LocalHost({ root, programPath: [bin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'] });
    const bundle = join(root, 'etc/ssl/certs/ca-certificates.crt');
    const curl = () =>
      execa(
        'curl',
        ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', bundle, `https://127.0.0.1:${port}/v2/`],
        {
          reject: false,
        },
      );

    const untrusted = await curl();
    expect(untrusted.exitCode).toBe(60); // peer certificate cannot be authenticated with known CA certificates

    const step = trustStoreStep(certificates);
    const [plan] = await planSteps(host, [step]);
    expect(plan?.changes.map((c) => c.kind)).toEqual(['file', 'trust-store']);
    const [report] = await applySteps(host, [step]);
    expect(report?.status, JSON.stringify(report?.error)).toBe('applied');
    expect(
      await readFile(join(root, `usr/local/share/ca-certificates/kctl-127.0.0.1_${port}.crt`), 'utf8'),
    ).toBe(certificates[0]?.pem);

    const trusted = await curl();
    expect(trusted.stdout).toBe('200');
    const verify = await execa('openssl', ['verify', '-CAfile', bundle, join(work, 'server.crt')], {
      reject: false,
    });
    expect(verify.stdout).toContain(': OK');
    // converged: nothing left to do, nothing run again
    expect(await step.diff(host)).toEqual([]);
  }, 30_000);
});
