import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostList } from '../../proto/admin-api.js';
import {
  cleanup,
  kctl,
  makeHostRoot,
  startAgentProcess,
  startControllerProcess,
  tempDir,
  waitFor,
  type AgentHandle,
  type ControllerHandle,
} from './harness.js';
import { startHttpsMirror, type HttpsMirror } from '../fixtures/rpm/https-mirror.js';
import { makeTestGpgKey, type TestGpgKey } from '../fixtures/rpm/test-gpg.js';

/**
 * packages.keyFingerprint end to end: cluster.yaml -> controller -> host spec -> the agent's key
 * step fetching from a `packages.source: mirror` on 127.0.0.1 (its test CA in the host root's CA
 * bundle) -> `kctl plan`. apt and systemctl in the host root are stubs: plan only reads them.
 */
describe('kctl plan with a repository key pin', () => {
  let dir: string;
  let key: TestGpgKey;
  let other: TestGpgKey;
  let mirror: HttpsMirror;
  let controller: ControllerHandle;
  let agent: AgentHandle;
  let clusterFile: string;
  const env = (): NodeJS.ProcessEnv => ({ KCTL_CONFIG: controller.clientConfig });

  beforeAll(async () => {
    dir = await tempDir('repo-key-plan');
    [key, other] = await Promise.all([makeTestGpgKey(), makeTestGpgKey('ed25519', 'not the repo key')]);
    mirror = await startHttpsMirror(dir);
    mirror.redirects.set('/core:/stable:/v1.31/deb/Release.key', `${mirror.url}/cdn/Release.key`);
    mirror.files.set('/cdn/Release.key', key.armored);
    // the repository's index: kube packages at v1.31.2 only (read by the host at plan time)
    mirror.files.set(
      '/core:/stable:/v1.31/deb/Packages',
      ['kubeadm', 'kubelet', 'kubectl']
        .map((p) => `Package: ${p}\nVersion: 1.31.2-1.1\nArchitecture: amd64\n`)
        .join('\n'),
    );
    controller = await startControllerProcess({ heartbeatIntervalMs: 500 });
    // the host trusts the mirror's test CA, and nothing else
    const hostRoot = await makeHostRoot('key-h1', {
      '/etc/ssl/certs/ca-certificates.crt': mirror.pki.caCertPem,
    });
    const bin = join(hostRoot, 'usr/bin');
    await mkdir(bin, { recursive: true });
    for (const [name, body] of Object.entries({
      'dpkg-query': 'exit 1',
      'apt-get': 'exit 0',
      'apt-mark': 'exit 0',
      systemctl: 'echo disabled; exit 1',
    })) {
      await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(bin, name), 0o755);
    }
    const token = (await kctl(['token', 'create'], { env: env() })).stdout.trim();
    agent = await startAgentProcess({
      name: 'key-h1',
      controller,
      token,
      hostRoot,
      extra: { programPath: [bin] },
    });
    await waitFor(
      'agent online',
      async () => (await controller.api.get('/v1/admin/hosts', HostList)).hosts.some((h) => h.online),
      30_000,
    );
    clusterFile = join(dir, 'cluster.yaml');
  }, 120_000);
  afterAll(async () => {
    await agent?.proc.stop();
    await controller?.proc.stop();
    await mirror?.close();
    await Promise.all([key?.cleanup(), other?.cleanup()]);
    await cleanup([
      dir,
      ...(controller ? [controller.dataDir] : []),
      ...(agent ? [agent.stateDir, agent.hostRoot] : []),
    ]);
  });

  const plan = async (fingerprint: string, version = 'v1.31.2') => {
    await writeFile(
      clusterFile,
      [
        'apiVersion: kctl.dev/v1alpha1',
        'kind: Cluster',
        'name: keys',
        `kubernetesVersion: ${version}`,
        'controlPlaneEndpoint: {host: 10.9.9.9}',
        'ha: {mode: external-lb}',
        'cni: {plugin: none}',
        `packages: {source: mirror, url: "${mirror.url}", keyFingerprint: "${fingerprint}"}`,
        'hosts:',
        '  - {name: key-h1, role: control-plane}',
        '',
      ].join('\n'),
    );
    return kctl(['plan', '-f', clusterFile, '--phases', 'prepare'], { env: env() });
  };

  it('refuses a key that is not the pinned one, naming the field', { timeout: 120_000 }, async () => {
    const refused = await plan(other.fingerprint);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `has fingerprint ${key.fingerprint}, not ${other.fingerprint} as packages.keyFingerprint pins`,
    );
  });

  it(
    'refuses, at plan time, a version the repository does not offer, naming kubernetesVersion',
    { timeout: 120_000 },
    async () => {
      const refused = await plan(key.fingerprint, 'v1.31.3');
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        `kubernetesVersion: the package repository ${mirror.url}/core:/stable:/v1.31/deb/ does not offer kubeadm 1.31.3-1.1 (it has 1.31.2-1.1)`,
      );
      // read from the host, through its CA bundle: Packages.gz is absent, Packages is read
      expect(mirror.requests).toContain('/core:/stable:/v1.31/deb/Packages');
    },
  );

  it(
    'plans the keyring the apt line names, with the pinned key, and writes nothing',
    { timeout: 120_000 },
    async () => {
      // gpg's spaced, lower-case form is accepted too
      const spaced = key.fingerprint
        .toLowerCase()
        .replace(/(.{4})/g, '$1 ')
        .trim();
      const ok = await plan(spaced);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toContain('+ file /etc/apt/keyrings/kubernetes-apt-keyring.gpg (mode 644)');
      expect(ok.stdout).toContain(
        `OpenPGP key ${key.fingerprint} from ${mirror.url}/core:/stable:/v1.31/deb/Release.key`,
      );
      expect(ok.stdout).toContain(
        `+deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] ${mirror.url}/core:/stable:/v1.31/deb/ /`,
      );
      expect(ok.stdout).toContain('~ package kubeadm: (absent) -> 1.31.2-1.1');
      expect(agent.proc.output()).not.toContain('BEGIN PGP');
      await expect(
        access(join(agent.hostRoot, 'etc/apt/keyrings/kubernetes-apt-keyring.gpg')),
      ).rejects.toThrow(/ENOENT/);
    },
  );
});
