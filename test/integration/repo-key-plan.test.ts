import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kctl, tempDir, cleanup } from './harness.js';
import { labHosts, startLab, type Lab } from './ha-lab.js';
import { startHttpsMirror, type HttpsMirror } from '../fixtures/rpm/https-mirror.js';
import { makeTestGpgKey, type TestGpgKey } from '../fixtures/rpm/test-gpg.js';

/**
 * packages.keyFingerprint end to end: cluster.yaml -> controller -> host spec -> the agent's key step
 * fetching from a mirror on 127.0.0.1 (its test CA in the host root's CA bundle) -> `kctl plan`.
 * One agent on the loopback lab (kube binaries are STAND-INS; no package is installed here).
 */
describe('kctl plan with a repository key pin', () => {
  let lab: Lab;
  let dir: string;
  let key: TestGpgKey;
  let other: TestGpgKey;
  let mirror: HttpsMirror;
  let base: string;
  beforeAll(async () => {
    dir = await tempDir('repo-key-plan');
    [key, other] = await Promise.all([makeTestGpgKey(), makeTestGpgKey('ed25519', 'not the repo key')]);
    mirror = await startHttpsMirror(dir);
    mirror.files.set('/core:/stable:/v1.31/deb/Release.key', key.armored);
    lab = await startLab({ hosts: labHosts(1, 0) });
    // each host trusts the mirror's test CA, and nothing else
    for (const a of lab.agents) {
      await mkdir(join(a.hostRoot, 'etc/ssl/certs'), { recursive: true });
      await writeFile(join(a.hostRoot, 'etc/ssl/certs/ca-certificates.crt'), mirror.pki.caCertPem);
    }
    base = await readFile(lab.clusterFile, 'utf8');
  }, 120_000);
  afterAll(async () => {
    await lab?.close();
    await mirror?.close();
    await Promise.all([key?.cleanup(), other?.cleanup(), cleanup([dir])]);
  });

  const withPackages = (packages: string): Promise<void> =>
    writeFile(lab.clusterFile, base.replace('packages: {source: preinstalled}', `packages: ${packages}`));

  it('refuses a key that is not the pinned one, naming the field', { timeout: 120_000 }, async () => {
    await withPackages(`{source: mirror, url: "${mirror.url}", keyFingerprint: "${other.fingerprint}"}`);
    const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain(
      `has fingerprint ${key.fingerprint}, not ${other.fingerprint} as packages.keyFingerprint pins`,
    );
  });

  it(
    'accepts the pinned key and goes on to the packages step; the plan writes nothing',
    { timeout: 120_000 },
    async () => {
      await withPackages(
        `{source: mirror, url: "${mirror.url}", keyFingerprint: "${key.fingerprint.toLowerCase()}"}`,
      );
      const before = mirror.requests.length;
      const plan = await kctl(['plan', '-f', lab.clusterFile], { env: lab.env });
      // the lab's hosts have no apt of their own (only this machine's, which the agent refuses to
      // run for a test root): that refusal comes from the packages step, after the key step passed
      expect(plan.stderr).toContain('Refusing to run /usr/bin/apt-get for host root');
      expect(plan.stderr).not.toContain('packages.keyFingerprint');
      expect(mirror.requests.slice(before)).toContain('/core:/stable:/v1.31/deb/Release.key');
      await expect(
        readFile(join(lab.agents[0]!.hostRoot, 'etc/apt/keyrings/kubernetes-apt-keyring.gpg')),
      ).rejects.toThrow(/ENOENT/);
    },
  );
});
