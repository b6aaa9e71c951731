import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../controller/bundle/manifest.js';
import { runKctl } from '../../controller/cli/program.js';
import { labExec } from '../../lab/exec.js';
import type { ProcessRef } from '../../lab/state.js';
import { labDown } from '../../lab/teardown.js';
import { parseCtrImages, type BundleImage } from '../../proto/bundle-images.js';
import { labSkipReason } from '../lab/lab-env.js';
import { IMAGE_PROGRAMS, makeTestImage, missingPrograms, skopeoCopy } from '../lab/oci-test-images.js';
import { readState } from '../standins/cluster-state.js';
import { kctl, startFleetLab, stopController, type FleetLab } from './fleet-lab.js';

/**
 * Issue 14, "Done when" item 1: an air-gapped site on the five booted lab hosts (3 control planes, 2
 * workers). The hosts have no route off this machine: each one's only route is the lab bridge
 * (no default route, no DNS: the lab's isolation check refuses to boot otherwise), so the private
 * registry `registry.lab.internal:5000/k8s` named by cluster.yaml's imageRepository is never
 * contacted, and nothing could be pulled from anywhere. Every image `kctl images list -f
 * cluster.yaml` names is made here as a tiny OCI archive (umoci, skopeo: one file each, so each has
 * its own digest), `kctl bundle build --images -f cluster.yaml --image-archive ...` puts them in the
 * signed bundle, and plan/apply loads each role's images into the host's own containerd (real
 * containerd installed by real apt from the bundle). Checked inside every host with `ctr -n k8s.io
 * images ls`; the kubeadm stand-in got the private imageRepository; kube-vip's manifest names it.
 * Root only; run by scripts/e2e.sh (`npx vitest run --config test/e2e/vitest.e2e.config.ts
 * test/e2e/air-gapped.e2e.test.ts`).
 */
const reason = await labSkipReason();
if (reason !== undefined) console.warn(`e2e skipped: ${reason}`);
const missing =
  reason === undefined
    ? await missingPrograms(IMAGE_PROGRAMS.filter(([p]) => p === 'skopeo' || p === 'umoci'))
    : [];

const WORK = '/var/tmp/kctl-e2e-air-gapped';
const LAB_DIR = '/var/tmp/kctl-e2e-air-gapped-lab';
const PORT = 17444;
const PRIVATE_REPO = 'registry.lab.internal:5000/k8s';

/**
 * A second layer on a test image, as real images have: containerd then applies a layer on top of a
 * parent snapshot, not only into an empty one.
 */
async function addLayer(layout: string, tag: string): Promise<void> {
  const bundle = `${layout}.layer-${tag}`;
  await execa('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  await writeFile(join(bundle, 'rootfs', 'second-layer'), `${tag}\n`);
  await execa('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  await rm(bundle, { recursive: true, force: true });
}

interface ImageLine {
  ref: string;
  digest: string;
  reason: string;
}

/** `kctl plan`'s text -> host -> the `+ image REF (DIGEST; REASON)` lines under that host's tasks. */
function planImageLines(stdout: string): Map<string, ImageLine[]> {
  const out = new Map<string, ImageLine[]>();
  let host = '';
  for (const line of stdout.split('\n')) {
    const task = /^ {2}(\S+): /.exec(line);
    if (task) host = task[1] ?? '';
    const image = /^ {4}\+ image (\S+) \((sha256:[0-9a-f]{64}); ([^)]+)\) from bundle /.exec(line);
    if (image)
      out.set(host, [...(out.get(host) ?? []), { ref: image[1]!, digest: image[2]!, reason: image[3]! }]);
  }
  return out;
}

describe.skipIf(reason !== undefined)(
  `an air-gapped 5-host lab: images from the bundle only${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let lab: FleetLab;
    let controller: ProcessRef | undefined;
    /** ref -> the manifest digest skopeo wrote into the archive */
    const made = new Map<string, string>();
    const started = Date.now();
    const env = () => ({ KCTL_CONFIG: lab.clientConfig });
    const inHost = (host: string, argv: string[]) => labExec(host, argv, { dir: LAB_DIR });

    /** The named images of the host's k8s.io namespace (CRI's `sha256:` config-ID aliases must point at them). */
    const containerdImages = async (host: string): Promise<Map<string, string>> => {
      const r = await inHost(host, ['ctr', '-n', 'k8s.io', 'images', 'ls']);
      expect(r.exitCode, `ctr images ls on ${host}: ${r.stderr}`).toBe(0);
      const all = parseCtrImages(r.stdout);
      const named = new Map([...all].filter(([ref]) => !ref.startsWith('sha256:')));
      const aliases = [...all].filter(([ref]) => ref.startsWith('sha256:')).map(([, d]) => d);
      for (const d of aliases) expect([...named.values()], `${host}: alias of an unnamed image`).toContain(d);
      return named;
    };

    beforeAll(async () => {
      if (missing.length > 0)
        throw new Error(
          `the air-gapped e2e test makes its images with: ${missing.join(', ')} (apt-get install them)`,
        );
      await labDown({ dir: LAB_DIR });
      lab = await startFleetLab(
        {
          work: WORK,
          labDir: LAB_DIR,
          controlPlanes: 3,
          workers: 2,
          port: PORT,
          imageRepository: PRIVATE_REPO,
          // the images of cluster.yaml, made once, before the bundle that carries them is built
          beforeBundle: async ({ work, clusterFile }) => {
            // in this process: a `kctl` child would spend its start-up compiling the CLI again
            const list = { stdout: '', stderr: '' };
            const code = await runKctl(['images', 'list', '-f', clusterFile, '-o', 'json'], {
              exitCode: 0,
              out: (t) => void (list.stdout += t),
              err: (t) => void (list.stderr += t),
              client: () => Promise.reject(new Error('kctl images list needs no controller')),
            });
            if (code !== 0) throw new Error(`kctl images list: ${list.stderr}`);
            const roles = (JSON.parse(list.stdout) as { roles: Array<{ images: Array<{ image: string }> }> })
              .roles;
            const refs = [...new Set(roles.flatMap((r) => r.images.map((i) => i.image)))].sort();
            const dir = join(work, 'images');
            const args = ['--images', '-f', clusterFile];
            for (const [n, ref] of refs.entries()) {
              const source = await makeTestImage(join(dir, 'oci'), `img${n}`, {
                name: 'stand-in',
                content: `kctl test image: stands in for ${ref}\n`,
              });
              await addLayer(join(dir, 'oci'), `img${n}`);
              const archive = join(dir, `image-${n}.tar`);
              made.set(ref, await skopeoCopy(dir, source, `oci-archive:${archive}:${ref}`));
              args.push('--image-archive', archive);
            }
            return args;
          },
          log: (m) => console.log(`[air-gapped ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`),
        },
        (ref) => (controller = ref),
      );
    });

    afterAll(async () => {
      if (process.env.KCTL_E2E_KEEP === '1') {
        console.log(`[air-gapped] kept: lab ${LAB_DIR}, controller pid ${controller?.pid}, work ${WORK}`);
        return;
      }
      await stopController(controller);
      await labDown({ dir: LAB_DIR });
      await rm(WORK, { recursive: true, force: true });
      console.log(`[air-gapped] wall time ${((Date.now() - started) / 1000).toFixed(1)}s`, lab?.timings);
    });

    it('no host has a route off the machine', async () => {
      for (const h of lab.hosts) {
        const routes = await inHost(h.name, ['ip', '-4', 'route', 'show']);
        expect(routes.exitCode, routes.stderr).toBe(0);
        expect(routes.stdout, h.name).not.toMatch(/^default /m);
      }
    });

    it('the signed manifest lists every image of cluster.yaml with the digest its archive holds', async () => {
      const { manifest } = await readManifest(lab.bundleDir);
      expect(made.size).toBeGreaterThan(0);
      expect(new Map((manifest.images ?? []).map((i) => [i.ref, i.digest]))).toEqual(made);
      for (const ref of made.keys()) expect(ref.startsWith(`${PRIVATE_REPO}/`), ref).toBe(true);
    });

    it('plan shows each host its role’s images; apply loads exactly those into each host’s containerd', async () => {
      const { manifest } = await readManifest(lab.bundleDir);
      const images: BundleImage[] = manifest.images ?? [];
      const want = (role: string) =>
        new Map(
          images
            .filter((i) => i.roles.includes(role as BundleImage['roles'][number]))
            .map((i) => [i.ref, i.digest]),
        );

      const plan = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(plan.exitCode, plan.stderr + plan.stdout).toBe(0);
      const planned = planImageLines(plan.stdout);
      for (const h of lab.hosts) {
        const lines = planned.get(h.name) ?? [];
        expect(new Map(lines.map((l) => [l.ref, l.digest])), `plan for ${h.name}`).toEqual(want(h.role));
        // containerd comes with the packages step of the same apply: until then nothing can hold an image
        const hasCtr = (await inHost(h.name, ['sh', '-c', 'command -v ctr'])).exitCode === 0;
        for (const l of lines) expect(l.reason).toBe(hasCtr ? 'missing' : 'containerd not running');
      }

      const apply = await kctl(['apply', '-f', lab.clusterFile], env());
      expect(apply.exitCode, apply.stdout + apply.stderr).toBe(0);
      expect(apply.stdout).toMatch(/apply succeeded/);

      for (const h of lab.hosts) {
        const held = await containerdImages(h.name);
        expect(held, `containerd on ${h.name} (${h.role})`).toEqual(want(h.role));
        for (const [ref, digest] of held) expect(digest, ref).toBe(made.get(ref));
      }
      // the roles themselves, not only the manifest's word for them: control-plane images stay off workers
      const cpOnly = /\/(kube-apiserver|kube-controller-manager|kube-scheduler|etcd|kube-vip\/kube-vip):/;
      for (const h of lab.hosts) {
        const refs = [...(await containerdImages(h.name)).keys()];
        expect(refs.filter((r) => cpOnly.test(r)).length, h.name).toBe(h.role === 'control-plane' ? 5 : 0);
        expect(
          refs.some((r) => r.includes('/pause:')),
          h.name,
        ).toBe(true);
      }
    });

    it('kubeadm’s stand-in was given the private imageRepository; kube-vip’s manifest names it', async () => {
      const state = readState(lab.clusterDir);
      expect(state.cluster?.clusterConfiguration.imageRepository).toBe(PRIVATE_REPO);
      const first = lab.hosts.find((h) => h.role === 'control-plane')!;
      const vip = await inHost(first.name, ['cat', '/etc/kubernetes/manifests/kube-vip.yaml']);
      expect(vip.exitCode, vip.stderr).toBe(0);
      const image = /^\s*image: (\S+)$/m.exec(vip.stdout)?.[1];
      expect(image).toMatch(new RegExp(`^${PRIVATE_REPO.replace(/[.]/g, '\\.')}/kube-vip/kube-vip:`));
      expect(made.has(image ?? '')).toBe(true);
    });

    it('a second kctl plan is empty', async () => {
      const again = await kctl(['plan', '-f', lab.clusterFile], env());
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stdout).toContain('cluster lab: no changes.');
    });
  },
);
