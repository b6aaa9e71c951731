import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterSpec, type ClusterSpecInput } from '../../proto/cluster-spec.js';
import { HostSpec, type HostRepoKey } from '../../proto/host-spec.js';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { fileStep } from '../../agent/steps/file.js';
import { stepsForHostSpec } from '../../agent/steps/index.js';
import { repoKeyStep } from '../../agent/steps/repo-key.js';
import { prepareHostSpec, prepRepoKey } from '../../controller/plan/host-spec.js';
import {
  KUBERNETES_APT_KEYRING,
  KUBERNETES_RPM_KEY,
  packageRepoFile,
  type PackageFormat,
} from '../../controller/render/packages.js';
import { tempHost, type TempHost } from '../fixtures/temp-host.js';
import { startHttpsMirror, type HttpsMirror } from '../fixtures/rpm/https-mirror.js';
import { makeTestGpgKey, type TestGpgKey } from '../fixtures/rpm/test-gpg.js';
import { tempDir, cleanup } from './harness.js';

/**
 * The repository signing key, fetched by the agent the way the kubeadm guide does it, from a
 * `packages.source: mirror` on 127.0.0.1 (HTTPS with its own test CA; pkgs.k8s.io is never
 * contacted). The key is a throwaway gpg key standing in for the pkgs.k8s.io one.
 */
let dir: string;
let key: TestGpgKey;
let other: TestGpgKey;
let mirror: HttpsMirror;
let t: TempHost | undefined;

const DEB_KEY_PATH = '/core:/stable:/v1.31/deb/Release.key';
const RPM_KEY_PATH = '/core:/stable:/v1.31/rpm/repodata/repomd.xml.key';

beforeAll(async () => {
  dir = await tempDir('repo-key');
  [key, other] = await Promise.all([makeTestGpgKey('ed25519'), makeTestGpgKey('ed25519', 'someone else')]);
  mirror = await startHttpsMirror(dir);
  // like pkgs.k8s.io, the key URL answers with a redirect to a CDN path
  mirror.redirects.set(DEB_KEY_PATH, `${mirror.url}/cdn/deb/Release.key`);
  mirror.files.set('/cdn/deb/Release.key', key.armored);
  mirror.files.set(RPM_KEY_PATH, key.armored);
}, 60_000);
afterAll(async () => {
  await mirror.close();
  await Promise.all([key.cleanup(), other.cleanup(), cleanup([dir])]);
});
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

function cluster(packages: ClusterSpecInput['packages']): ClusterSpec {
  return ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'keys',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.1.100' },
    packages,
    hosts: [{ name: 'w-1', role: 'worker' }],
  });
}

function repoKeyOf(spec: ClusterSpec, format: PackageFormat): HostRepoKey {
  const { repoKey } = prepRepoKey(spec, format);
  if (repoKey === undefined) throw new Error('no repo key planned');
  return repoKey;
}

/** a host whose CA bundle holds only the mirror's test CA: what it trusts, and nothing else */
const trustingHost = (extra: Record<string, string> = {}): Promise<TempHost> =>
  tempHost({ files: { '/etc/ssl/certs/ca-certificates.crt': mirror.pki.caCertPem, ...extra } });

describe('repository key from a mirror (deb)', () => {
  it('is fetched over HTTPS, written as the binary keyring the apt line names, and gpgv trusts it', async () => {
    t = await trustingHost();
    const spec = cluster({ source: 'mirror', url: mirror.url, keyFingerprint: key.fingerprint });
    const repoKey = repoKeyOf(spec, 'deb');
    const repoFile = packageRepoFile(
      { kubernetesVersion: spec.kubernetesVersion, source: { kind: 'mirror', baseUrl: mirror.url } },
      'deb',
    );
    expect(repoKey).toEqual({
      url: `${mirror.url}${DEB_KEY_PATH}`,
      path: KUBERNETES_APT_KEYRING,
      format: 'binary',
      fingerprint: key.fingerprint,
      pinnedBy: 'packages.keyFingerprint',
    });
    expect(repoFile.content).toBe(
      `deb [signed-by=${repoKey.path}] ${mirror.url}/core:/stable:/v1.31/deb/ /\n`,
    );
    const before = mirror.requests.length;
    const reports = await applySteps(t.host, [fileStep(repoFile), repoKeyStep(repoKey)]);
    expect(reports.map((r) => [r.stepId, r.status, r.error?.message])).toEqual([
      [`file:${repoFile.path}`, 'applied', undefined],
      [`repo-key:${KUBERNETES_APT_KEYRING}`, 'applied', undefined],
    ]);
    expect(reports[1]?.changes[0]).toMatchObject({
      kind: 'file',
      path: KUBERNETES_APT_KEYRING,
      previousSha256: null,
      diff: `OpenPGP key ${key.fingerprint} from ${repoKey.url}`,
    });
    // one planned fetch through the redirect; apply wrote the bytes the plan fetched, no second fetch
    expect(mirror.requests.slice(before)).toEqual([DEB_KEY_PATH, '/cdn/deb/Release.key']);
    const keyring = join(t.root, KUBERNETES_APT_KEYRING);
    expect((await readFile(keyring)).equals(key.dearmored), 'same bytes as gpg --dearmor').toBe(true);
    expect((await stat(keyring)).mode & 0o777).toBe(0o644);
    // apt hands signed-by keyrings to gpgv: a release file signed by the repo key verifies with it
    const release = join(dir, 'Release');
    await writeFile(release, 'Origin: test\n');
    await key.gpg(['--yes', '--detach-sign', '--output', `${release}.gpg`, release]);
    const gpgv = await execa('gpgv', ['--keyring', keyring, `${release}.gpg`, release], { reject: false });
    expect(gpgv.exitCode, gpgv.stderr).toBe(0);
  });

  it('a second apply fetches nothing and changes nothing', async () => {
    t = await trustingHost();
    const repoKey = repoKeyOf(cluster({ source: 'mirror', url: mirror.url }), 'deb');
    await applySteps(t.host, [repoKeyStep(repoKey)]);
    const before = mirror.requests.length;
    const [again] = await applySteps(t.host, [repoKeyStep(repoKey)]);
    expect(again?.status).toBe('unchanged');
    // pinning the key that is there later needs no fetch either
    const pinned = repoKeyOf(
      cluster({ source: 'mirror', url: mirror.url, keyFingerprint: key.fingerprint }),
      'deb',
    );
    expect(await planSteps(t.host, [repoKeyStep(pinned)])).toEqual([
      {
        stepId: `repo-key:${KUBERNETES_APT_KEYRING}`,
        title: `repository key ${KUBERNETES_APT_KEYRING}`,
        changes: [],
      },
    ]);
    expect(mirror.requests.length).toBe(before);
  });

  it('refuses a key that does not match packages.keyFingerprint, in plan and apply, and writes nothing', async () => {
    t = await trustingHost();
    const repoKey = repoKeyOf(
      cluster({ source: 'mirror', url: mirror.url, keyFingerprint: other.fingerprint }),
      'deb',
    );
    await expect(planSteps(t.host, [repoKeyStep(repoKey)])).rejects.toThrow(
      `The repository key at ${repoKey.url} has fingerprint ${key.fingerprint}, not ${other.fingerprint} as packages.keyFingerprint pins; refusing to trust it`,
    );
    const [report] = await applySteps(t.host, [repoKeyStep(repoKey)]);
    expect(report?.status).toBe('failed');
    expect(report?.error?.details).toMatchObject({ field: 'packages.keyFingerprint' });
    expect(await t.host.exists(KUBERNETES_APT_KEYRING)).toBe(false);
  });

  it('re-checks a keyring already in place against a new pin, and keeps it when the mirror offers another key', async () => {
    t = await trustingHost();
    await applySteps(t.host, [repoKeyStep(repoKeyOf(cluster({ source: 'mirror', url: mirror.url }), 'deb'))]);
    const before = await readFile(join(t.root, KUBERNETES_APT_KEYRING));
    const [report] = await applySteps(t.host, [
      repoKeyStep(
        repoKeyOf(cluster({ source: 'mirror', url: mirror.url, keyFingerprint: other.fingerprint }), 'deb'),
      ),
    ]);
    expect(report?.error?.message).toMatch(/as packages\.keyFingerprint pins/);
    expect((await readFile(join(t.root, KUBERNETES_APT_KEYRING))).equals(before)).toBe(true);
  });

  it('trusts only the host CA bundle: a host that does not trust the mirror CA refuses the connection', async () => {
    t = await tempHost({
      files: {
        '/etc/ssl/certs/ca-certificates.crt': other.armored.replace(/PGP PUBLIC KEY BLOCK/g, 'CERTIFICATE'),
      },
    });
    const repoKey = repoKeyOf(cluster({ source: 'mirror', url: mirror.url }), 'deb');
    await expect(planSteps(t.host, [repoKeyStep(repoKey)])).rejects.toThrow(
      /Cannot fetch https:\/\/127\.0\.0\.1/,
    );
    await t.cleanup();
    t = await tempHost();
    await expect(planSteps(t.host, [repoKeyStep(repoKey)])).rejects.toThrow(/this host has no CA bundle/);
  });

  it('the agent runs the key step before the packages step', () => {
    const spec = cluster({ source: 'mirror', url: mirror.url });
    const hostSpec = HostSpec.parse(
      prepareHostSpec(spec, { name: 'w-1', role: 'worker' } as Parameters<typeof prepareHostSpec>[1], {
        packageFormat: 'deb',
      }),
    );
    expect(hostSpec.repoKey?.path).toBe(KUBERNETES_APT_KEYRING);
    const steps = stepsForHostSpec(hostSpec);
    expect(steps.find((s) => s.id === 'packages')?.dependsOn).toContain(`repo-key:${KUBERNETES_APT_KEYRING}`);
  });
});

describe('repository key with the real apt', () => {
  it('apt-get update accepts the flat repo signed by the key through the fetched keyring, and refuses another signer', async () => {
    t = await trustingHost();
    const repoKey = repoKeyOf(
      cluster({ source: 'mirror', url: mirror.url, keyFingerprint: key.fingerprint }),
      'deb',
    );
    await applySteps(t.host, [repoKeyStep(repoKey)]);
    // a flat repository (suite "/") like pkgs.k8s.io's: empty Packages, Release, InRelease signed by the key
    const publish = async (signer: TestGpgKey, prefix: string): Promise<void> => {
      const packages = '';
      const sha = createHash('sha256').update(packages).digest('hex');
      const release = [
        'Origin: kctl-test',
        'Label: kctl-test',
        `Date: ${new Date().toUTCString()}`,
        'SHA256:',
        ` ${sha} 0 Packages`,
        '',
      ].join('\n');
      const signed = await signer.gpg(['--clearsign', '--output', '-'], release);
      mirror.files.set(`${prefix}/Packages`, packages);
      mirror.files.set(`${prefix}/Release`, release);
      mirror.files.set(`${prefix}/InRelease`, signed.stdout + '\n');
    };
    const apt = async (line: string) => {
      const root = t!.root;
      await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
      await mkdir(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
      await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
      await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
      await writeFile(join(root, 'var/lib/dpkg/status'), '');
      await writeFile(join(root, 'etc/apt/sources.list.d/kubernetes.list'), line);
      // apt confined to the temp root; signed-by is an absolute path apt does not re-root, so the
      // line the controller renders gets the root prefixed here (and only here)
      return execa(
        'apt-get',
        [
          '-o',
          `Dir=${root}`,
          '-o',
          'Dir::Bin::Methods=/usr/lib/apt/methods',
          '-o',
          `Dir::State::status=${root}/var/lib/dpkg/status`,
          '-o',
          'Dir::Etc::trusted=/dev/null',
          '-o',
          `Dir::Etc::trustedparts=${root}/etc/apt/trusted.gpg.d`,
          '-o',
          `Acquire::https::CaInfo=${mirror.pki.caCertPath}`,
          '-o',
          'APT::Sandbox::User=root',
          '-o',
          'Debug::NoLocking=1',
          'update',
        ],
        { reject: false, env: { LC_ALL: 'C' } },
      );
    };
    const rendered = packageRepoFile(
      { kubernetesVersion: 'v1.31.2', source: { kind: 'mirror', baseUrl: mirror.url } },
      'deb',
    ).content;
    const reRooted = rendered.replace(
      `signed-by=${KUBERNETES_APT_KEYRING}`,
      `signed-by=${t.root}${KUBERNETES_APT_KEYRING}`,
    );
    expect(reRooted).not.toBe(rendered);

    await publish(key, '/core:/stable:/v1.31/deb');
    const ok = await apt(reRooted);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).not.toMatch(/^(W|E):/m);
    expect(ok.stdout).toMatch(/Get:1 https:\/\/127\.0\.0\.1:\d+\/core:\/stable:\/v1\.31\/deb {2}InRelease/);

    await publish(other, '/core:/stable:/v1.31/deb');
    const refused = await apt(reRooted);
    expect(refused.stdout + refused.stderr).toMatch(/NO_PUBKEY|not signed|signatures couldn't be verified/);
  });
});

describe('repository key from a mirror (rpm)', () => {
  it('is written armored where the .repo file gpgkey points, and rpm reads it', async () => {
    t = await trustingHost();
    const spec = cluster({ source: 'mirror', url: mirror.url, keyFingerprint: key.fingerprint });
    const repoKey = repoKeyOf(spec, 'rpm');
    expect(repoKey).toMatchObject({
      url: `${mirror.url}${RPM_KEY_PATH}`,
      path: KUBERNETES_RPM_KEY,
      format: 'armored',
    });
    const repoFile = packageRepoFile(
      { kubernetesVersion: spec.kubernetesVersion, source: { kind: 'mirror', baseUrl: mirror.url } },
      'rpm',
    );
    expect(repoFile.content).toContain(`gpgkey=file://${KUBERNETES_RPM_KEY}\n`);
    const reports = await applySteps(t.host, [fileStep(repoFile), repoKeyStep(repoKey)]);
    expect(reports.map((r) => r.status)).toEqual(['applied', 'applied']);
    const written = await readFile(join(t.root, KUBERNETES_RPM_KEY), 'utf8');
    expect(written).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
    // rpm itself imports it (into a throwaway rpm database under the temp root)
    const dbpath = join(t.root, 'var/lib/rpm-test');
    const imported = await execa('rpm', ['--dbpath', dbpath, '--import', join(t.root, KUBERNETES_RPM_KEY)], {
      reject: false,
    });
    expect(imported.exitCode, imported.stderr).toBe(0);
    const keys = await execa('rpm', ['--dbpath', dbpath, '-q', 'gpg-pubkey', '--qf', '%{VERSION}\\n']);
    // rpm names an imported key by the low 32 bits of its key id
    expect(keys.stdout.trim().toUpperCase()).toBe(key.fingerprint.slice(-8));
    expect((await applySteps(t.host, [repoKeyStep(repoKey)]))[0]?.status).toBe('unchanged');
  });
});
