import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterSpec } from '../../proto/cluster-spec.js';
import { KctlError } from '../../proto/errors.js';
import { gatherFacts } from '../../agent/facts.js';
import { renderContainerdConfig } from '../../controller/render/containerd.js';
import { containerdConfigInputFor } from '../../controller/render/cluster-spec-inputs.js';
import { prepareHostSpec } from '../../controller/plan/host-spec.js';
import { tempHost } from '../fixtures/temp-host.js';
import { cleanup, tempDir } from './harness.js';

/**
 * The containerd config kctl renders, read by Debian's real containerd 1.6 (`containerd config dump`
 * prints the configuration containerd would run with). .ci/run installs the package; the suite says
 * so and skips where it cannot be had.
 */
const version = await execa('containerd', ['--version'], { reject: false }).catch(() => undefined);
const installed = version?.exitCode === 0 ? /\b(\d+\.\d+\.\d+\S*)/.exec(version.stdout)?.[1] : undefined;
const is16 = installed?.startsWith('1.6.') === true;

const spec = (containerd: '1.6' | '2.1'): ClusterSpec =>
  ClusterSpec.parse({
    apiVersion: 'kctl.dev/v1alpha1',
    kind: 'Cluster',
    name: 'c',
    kubernetesVersion: 'v1.31.2',
    controlPlaneEndpoint: { host: '198.18.1.100' },
    runtime: { containerd: { version: containerd } },
    hosts: [{ name: 'w-1', role: 'worker' }],
  });

async function dump(config: string): Promise<string> {
  const dir = await tempDir('containerd');
  try {
    await writeFile(join(dir, 'config.toml'), config);
    const r = await execa('containerd', ['--config', join(dir, 'config.toml'), 'config', 'dump']);
    return r.stdout;
  } finally {
    await cleanup([dir]);
  }
}

describe.skipIf(!is16)(
  `kctl's containerd config with the real containerd ${installed ?? '(not installed)'}`,
  () => {
    it('containerd 1.6 runs with every CRI setting of the version 2 render', async () => {
      const out = await dump(renderContainerdConfig(containerdConfigInputFor(spec('1.6'))));
      expect(out).toMatch(/^\s*SystemdCgroup = true$/m);
      expect(out).toMatch(/^\s*sandbox_image = "registry\.k8s\.io\/pause:3\.10"$/m);
      expect(out).toMatch(/^\s*config_path = "\/etc\/containerd\/certs\.d"$/m);
    });

    it('containerd 1.6 silently ignores the version 3 render: the reason kctl refuses it', async () => {
      const out = await dump(renderContainerdConfig(containerdConfigInputFor(spec('2.1'))));
      expect(out).toMatch(/^\s*SystemdCgroup = false$/m);
      expect(out).not.toMatch(/pause:3\.10/);
      expect(out).toMatch(/^\s*config_path = ""$/m);
    });

    it('the plan refuses runtime.containerd.version 2.1 for a host whose facts report this containerd', async () => {
      // the agent's facts over a root holding this machine's dpkg status
      const status = await execa('cat', ['/var/lib/dpkg/status']);
      const t = await tempHost({ files: { '/var/lib/dpkg/status': status.stdout } });
      try {
        const facts = await gatherFacts(t.host, { networkInterfaces: () => ({}) });
        expect(facts.containerdVersion).toMatch(/^1\.6\./);
        const host = { name: 'w-1', role: 'worker' as const, first: false, address: undefined };
        const args = { packageFormat: 'deb' as const, containerdVersion: facts.containerdVersion };
        expect(() => prepareHostSpec(spec('2.1'), host, args)).toThrow(KctlError);
        expect(() => prepareHostSpec(spec('2.1'), host, args)).toThrow(
          /runtime\.containerd\.version is "2\.1"/,
        );
        expect(prepareHostSpec(spec('1.6'), host, args).hostName).toBe('w-1');
      } finally {
        await t.cleanup();
      }
    });
  },
);
