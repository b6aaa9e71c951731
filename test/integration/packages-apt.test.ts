import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applySteps, planSteps } from '../../agent/steps/converge.js';
import { packagesStep } from '../../agent/steps/packages.js';
import type { HostSpec } from '../../proto/host-spec.js';
import { BASE_TOOL_PACKAGES, buildStandinDebs, standinDebVersion } from '../standins/deb.js';
import { aptHost, dpkgStatus, makeFlatAptRepo } from '../fixtures/apt-host.js';
import type { TempHost } from '../fixtures/temp-host.js';
import { cleanup, tempDir } from './harness.js';

/**
 * The apt path of the packages step against the real apt-get, apt-mark and dpkg, confined to a temp
 * host root (test/fixtures/apt-host.ts), with the kubeadm/kubelet/kubectl STAND-IN .debs
 * (test/standins/deb.ts) at two versions in one flat repository: a held upgrade, as `kctl upgrade`
 * does it, must keep the holds and leave an empty diff.
 */
let dir: string;
let t: TempHost | undefined;
const V1 = standinDebVersion('v1.31.2');
const V2 = standinDebVersion('v1.31.3');
const KUBE = ['kubeadm', 'kubectl', 'kubelet'];

beforeAll(async () => {
  dir = await tempDir('apt');
  await buildStandinDebs(join(dir, 'repo'), { version: 'v1.31.2' });
  await buildStandinDebs(join(dir, 'repo'), { version: 'v1.31.3' });
  await makeFlatAptRepo(join(dir, 'repo'));
}, 120_000);
afterAll(async () => {
  await cleanup([dir]);
});
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const packages = (version: string): HostSpec['packages'] => [
  ...KUBE.map((name) => ({
    name,
    version,
    hold: true,
    ...(name === 'kubelet' ? { restarts: ['kubelet.service'] } : {}),
  })),
];

const host = (): Promise<TempHost> =>
  aptHost({
    flatRepos: [join(dir, 'repo')],
    // the stand-ins depend on Debian's nodejs, which this test does not install into the root
    preinstalled: [{ name: 'nodejs', version: '18.19.0+dfsg-6~deb12u2' }, ...BASE_TOOL_PACKAGES],
  });

describe('packages step with the real apt and dpkg (temp root)', () => {
  it(
    'upgrades held packages to the new pin, holds them again, and leaves no diff',
    { timeout: 180_000 },
    async () => {
      t = await host();
      const first = await applySteps(t.host, [packagesStep(packages(V1), [])]);
      expect(first.map((r) => [r.stepId, r.status, r.error?.message])).toEqual([
        ['packages', 'applied', undefined],
        // try-restart: a kubelet that does not run yet is left to start on its own
        ['service-restarts', 'applied', undefined],
      ]);
      const v1 = await dpkgStatus(t.root);
      for (const n of KUBE) expect(v1[n]).toEqual([V1, 'hi']);

      const step = packagesStep(packages(V2), []);
      const [plan] = await planSteps(t.host, [step]);
      expect(plan?.changes).toEqual([
        { kind: 'package-index', reason: '3 package(s) to install' },
        ...KUBE.map((name) => ({ kind: 'package', name, from: V1, to: V2 })),
        { kind: 'service-restart', unit: 'kubelet.service', reason: 'package kubelet changed' },
      ]);
      const before = (await t.calls()).length;
      const [upgrade, restarts] = await applySteps(t.host, [step]);
      expect([upgrade?.status, upgrade?.error?.message]).toEqual(['applied', undefined]);
      // the running kubelet keeps the old binary until restarted: once the packages are in
      expect(restarts).toMatchObject({
        stepId: 'service-restarts',
        status: 'applied',
        changes: [{ kind: 'service-restart', unit: 'kubelet.service', reason: 'package kubelet changed' }],
      });
      const calls = (await t.calls()).slice(before).map((c) => [c.program, ...c.args].join(' '));
      const afterHold = calls.slice(calls.findLastIndex((c) => c.startsWith('apt-mark hold ')) + 1);
      expect(afterHold.filter((c) => c.startsWith('systemctl '))).toEqual([
        'systemctl daemon-reload',
        'systemctl try-restart -- kubelet.service',
      ]);
      const v2 = await dpkgStatus(t.root);
      for (const n of KUBE) expect(v2[n]).toEqual([V2, 'hi']);
      expect(await step.diff(t.host)).toEqual([]);
    },
  );

  it(
    'holds again what was held when dpkg fails half-way through the upgrade',
    { timeout: 180_000 },
    async () => {
      // dpkg unpacks, then fails to configure: apt has already dropped the holds by then
      t = await aptHost({
        flatRepos: [join(dir, 'repo')],
        preinstalled: [{ name: 'nodejs', version: '18.19.0+dfsg-6~deb12u2' }, ...BASE_TOOL_PACKAGES],
        programs: {
          dpkg: {
            script: `for a in "$@"; do [ "$a" = --configure ] && [ -e "$KCTL_HOST_ROOT/var/lib/kctl-test/fail-configure" ] && { echo 'dpkg: simulated configure failure' >&2; exit 1; }; done; exec /usr/bin/dpkg --root="$KCTL_HOST_ROOT" "$@"`,
          },
        },
      });
      await applySteps(t.host, [packagesStep(packages(V1), [])]);
      await writeFile(join(t.root, 'var/lib/kctl-test/fail-configure'), '');
      const [failed] = await applySteps(t.host, [packagesStep(packages(V2), [])]);
      expect(failed?.status).toBe('failed');
      expect(failed?.error?.message).toMatch(/apt-get install .* exited with 100/);
      const after = await dpkgStatus(t.root);
      // unpacked at the new version, not configured, and still held (dpkg's `h` want state)
      for (const n of KUBE) expect(after[n]?.[1]?.[0], `${n}: ${after[n]?.join(' ')}`).toBe('h');
    },
  );
});
