import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDIN_TOOLS, buildStandins } from './build.js';
import { INIT_CONFIG, initConfigV1beta4, standinLab, type StandinLab } from './standin-fixture.js';

/** Building the stand-ins, and the version each binary claims (build, environment, host files). */

const run = (bin: string, tool: string, args: string[], env: Record<string, string> = {}) =>
  execa(join(bin, tool), args, {
    extendEnv: false,
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, ...env },
    reject: false,
    stdin: 'ignore',
  });

describe('buildStandins', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kctl-standin-build-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes kubeadm, kubelet and kubectl as executable bundles that say they are stand-ins', async () => {
    const bin = join(dir, 'default');
    await buildStandins(bin);
    for (const tool of STANDIN_TOOLS) {
      expect((await stat(join(bin, tool))).mode & 0o777).toBe(0o755);
      const [shebang, banner] = (await readFile(join(bin, tool), 'utf8')).split('\n');
      expect(shebang).toMatch(/^#!(\/usr\/bin\/env node|\/\S+)$/);
      expect(banner).toContain('kctl STAND-IN');
      const help = await run(bin, tool, ['--help']);
      expect(help.stdout).toContain(`${tool} (kctl stand-in)`);
    }
    expect((await run(bin, 'kubeadm', ['version', '-o', 'short'])).stdout).toBe('v1.31.2');
    expect((await run(bin, 'kubectl', ['version', '--client', '-o', 'json'])).stdout).toContain(
      'kctl stand-in',
    );
  });

  it.each([
    ['env', '#!/usr/bin/env node'],
    ['absolute', `#!${process.execPath}`],
  ] as const)('writes the %s shebang when asked', async (shebang, line) => {
    const bin = join(dir, `shebang-${shebang}`);
    await buildStandins(bin, { shebang });
    expect((await readFile(join(bin, 'kubelet'), 'utf8')).split('\n')[0]).toBe(line);
    expect((await run(bin, 'kubelet', ['--version'])).stdout).toBe('Kubernetes v1.31.2');
  });

  it('bakes in the version it is given; KCTL_STANDIN_VERSION overrides it', async () => {
    const bin = join(dir, 'v1.33.4');
    await buildStandins(bin, { version: 'v1.33.4' });
    expect((await run(bin, 'kubelet', ['--version'])).stdout).toBe('Kubernetes v1.33.4');
    expect((await run(bin, 'kubeadm', ['version', '-o', 'short'])).stdout).toBe('v1.33.4');
    expect(
      (await run(bin, 'kubeadm', ['version', '-o', 'short'], { KCTL_STANDIN_VERSION: 'v1.32.0' })).stdout,
    ).toBe('v1.32.0');
  });

  it('refuses a version that is not one', async () => {
    await expect(buildStandins(join(dir, 'bad'), { version: '1.31' })).rejects.toThrow(
      'stand-in version "1.31" is not a version like v1.31.2',
    );
  });

  it('is also a command: npx tsx test/standins/build.ts OUT_DIR --version V', async () => {
    const bin = join(dir, 'cli');
    const r = await execa(
      'npx',
      ['tsx', join(import.meta.dirname, 'build.ts'), bin, '--version', 'v1.30.9'],
      {
        reject: false,
      },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(STANDIN_TOOLS.map((t) => join(bin, t)));
    expect((await run(bin, 'kubelet', ['--version'])).stdout).toBe('Kubernetes v1.30.9');
  });
});

describe('versions on a host root', () => {
  let lab: StandinLab;
  beforeAll(async () => {
    lab = await standinLab();
  }, 60_000);
  afterAll(() => lab.cleanup());

  it('a per-tool version file wins over the shared one, for that tool only', async () => {
    const h = await lab.host('mixed', {
      version: 'v1.31.2',
      files: { '/etc/kctl-standin/kubelet-version': 'v1.30.7\n' },
    });
    expect((await h.run('kubelet', ['--version'])).stdout).toBe('Kubernetes v1.30.7');
    expect((await h.run('kubeadm', ['version', '-o', 'short'])).stdout).toBe('v1.31.2');
  });

  it('init asks the kubelet on PATH for its version: one newer than the control plane fails KubeletVersion', async () => {
    const h = await lab.host('newer-kubelet', {
      version: 'v1.31.2',
      files: { '/etc/kctl-standin/kubelet-version': 'v1.32.0\n' },
    });
    await h.write(
      INIT_CONFIG,
      initConfigV1beta4({
        name: 'newer-kubelet',
        ip: '10.0.6.1',
        version: 'v1.31.2',
        algorithm: 'ECDSA-P256',
      }),
    );
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      '[ERROR KubeletVersion]: the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: "1.32.0" Control plane version: "1.31.2"',
    );
    const asked = (await lab.calls()).filter((c) => c.tool === 'kubelet' && c.hostRoot === h.root);
    expect(asked.map((c) => c.argv)).toEqual([['--version']]);
  });

  it('init without a kubelet on PATH fails KubeletVersion as kubeadm does', async () => {
    const h = await lab.host('no-kubelet', { version: 'v1.31.2' });
    await h.write(
      INIT_CONFIG,
      initConfigV1beta4({ name: 'no-kubelet', ip: '10.0.6.2', version: 'v1.31.2', algorithm: 'ECDSA-P256' }),
    );
    const r = await h.run('kubeadm', ['init', '--config', INIT_CONFIG], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      `[ERROR KubeletVersion]: couldn't get kubelet version: cannot execute 'kubelet --version': exec: "kubelet": executable file not found in $PATH`,
    );
  });
});
